"""Run every `console` example in README.md and compare its output with what the README shows."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MNIST_DIR, ROOT

README = ROOT / "README.md"


def examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for each `$ ` line of each console block."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), re.S):
        for line in block.splitlines():
            if line.startswith("$ "):
                out.append((line[2:], []))
            else:
                out[-1][1].append(line.rstrip())
    return out


def test_readme_has_examples_for_every_command():
    commands = " ".join(cmd for cmd, _ in examples())
    for name in ("nnmnist init", "nnmnist evaluate", "nnmnist predict"):
        assert name in commands


def _uses_mnist(command: str) -> bool:
    return "../shared/data/mnist" in command


def test_readme_examples(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
        "COLUMNS": "80",
        "NNMNIST_CACHE": str(tmp_path / "cache"),
    }
    env.pop("NNMNIST_WEIGHTS", None)
    env.pop("NNMNIST_DATA", None)
    ran = 0
    for command, expected in examples():
        if _uses_mnist(command):
            if not MNIST_DIR.is_dir():
                continue  # reported by the test below
            command = command.replace("../shared/data/mnist", str(MNIST_DIR))
        result = subprocess.run(
            command, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        failing = any(line.startswith(("error:", "refused:")) for line in expected)
        assert (result.returncode != 0) == failing, f"{command}\n{result.stderr}"
        got = [line.rstrip() for line in result.stdout.splitlines()]
        assert "\n".join(got).strip("\n") == "\n".join(expected).strip("\n"), command
        ran += 1
    assert ran >= 8


def test_readme_examples_that_need_the_full_mnist_files():
    """Said, not silently passed over: the examples that read ../shared/data/mnist."""
    needing = [command for command, _ in examples() if _uses_mnist(command)]
    if needing and not MNIST_DIR.is_dir():
        pytest.skip(
            f"{len(needing)} README example(s) need the full MNIST files at {MNIST_DIR} "
            "(only in the development workspace); test_readme_examples left them out"
        )
    assert needing == [] or MNIST_DIR.is_dir()
