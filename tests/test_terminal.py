"""At a terminal: progress on stderr (a real pseudo-terminal), results on stdout, always.

Rich's progress displays capture stdout by default; with stderr on a terminal and stdout
redirected, every result line used to land on the screen and the file kept only the header.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
from PIL import Image

EXE = str(Path(sys.executable).parent / "nnmnist")


def run_with_terminal_stderr(args: list[str], cwd: Path, out: Path) -> tuple[int, str]:
    """Run nnmnist with stderr (and stdin) on a pseudo-terminal and stdout into a file."""
    parent, child = pty.openpty()
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    with open(out, "wb") as stdout:
        proc = subprocess.run(
            [EXE, *args], cwd=cwd, stdin=child, stdout=stdout, stderr=child, env=env, timeout=300
        )
    os.close(child)
    reader.join(timeout=5)
    os.close(parent)
    return proc.returncode, seen.decode("utf-8", "replace")


def test_predict_with_thousands_of_inputs_writes_every_result_to_the_file(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    n = 1500
    for i in range(n):
        Image.fromarray(digit).save(folder / f"d{i:04d}.png")
    out = tmp_path / "labels.csv"
    status, screen = run_with_terminal_stderr(
        ["predict", "scans", "--format", "csv"], tmp_path, out
    )
    assert status == 0, screen
    lines = out.read_text().splitlines()
    assert lines[0] == "input,label,probability"
    assert len(lines) == n + 1
    assert lines[1].startswith("scans/d0000.png,")
    assert "scans/d0000.png," not in screen  # no result reached the terminal
    assert "predicting" in screen  # the progress bar did


def test_evaluate_json_goes_to_the_file_and_the_live_table_to_the_terminal(tmp_path):
    out = tmp_path / "result.json"
    status, screen = run_with_terminal_stderr(
        ["evaluate", "--limit", "3000", "--batch-size", "100", "--json"], tmp_path, out
    )
    assert status == 0, screen
    result = json.loads(out.read_text())
    assert result["total"] == 3000
    assert "running" in screen and "30/30" in screen
    assert '"accuracy"' not in screen


def test_train_json_goes_to_the_file(tmp_path, bundled_train_folder):
    out = tmp_path / "history.json"
    status, screen = run_with_terminal_stderr(
        [
            "train",
            "--data",
            str(bundled_train_folder),
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--val-size",
            "100",
            "--weights",
            "w.npz",
            "--json",
        ],
        tmp_path,
        out,
    )
    assert status == 0, screen
    result = json.loads(out.read_text())
    assert len(result["history"]) == 1
    assert '"history"' not in screen
    assert "saved w.npz" in screen


def test_plain_subprocess_without_terminal_stays_quiet_on_stderr(tmp_path):
    # The other side: off a terminal, no progress bar, results still on stdout.
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    for i in range(120):
        Image.fromarray(digit).save(tmp_path / f"d{i:03d}.png")
    result = subprocess.run(
        [EXE, "predict", str(tmp_path), "--format", "csv"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 121
    assert result.stderr == ""
