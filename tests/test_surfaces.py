"""Every writer on a full disk and in a read-only folder, and hostile NNMNIST_* values
(issue 26): one error line, a non-zero exit, nothing changed, nothing left behind.

The disk is a real tmpfs of 256 kB mounted for the test (remounted read-only for the second
half); where mounting is not allowed the tests skip and say so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXE = str(Path(sys.executable).parent / "nnmnist")


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [EXE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, bundled_train_folder_module):
    folder = tmp_path_factory.mktemp("inputs")
    assert run(["init", "-o", "w.npz"], folder).returncode == 0
    digit = np.full((40, 30), 255, np.uint8)
    digit[5:35, 12:18] = 0
    Image.fromarray(digit).save(folder / "one.png")
    return folder, bundled_train_folder_module


@pytest.fixture
def disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.decode().strip()[:80]})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> None:
    """Fill the disk to the last byte."""
    fd = os.open(mount / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)


def _state(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def writers(inputs: tuple[Path, Path], out: Path) -> dict[str, list[str]]:
    folder, train = inputs
    w, png = str(folder / "w.npz"), str(folder / "one.png")
    return {
        "init -o": ["init", "-o", str(out / "w.pkl")],
        "init into new folders": ["init", "-o", str(out / "a" / "b" / "w.pkl")],
        "export": ["export", w, "-o", str(out / "e.safetensors")],
        "evaluate --report": ["evaluate", "-w", w, "--limit", "30", "--report", str(out / "r.html")],
        "evaluate --errors": ["evaluate", "-w", w, "--limit", "30", "--errors", str(out / "errs")],
        "plot -o": ["plot", "weights", "-w", w, "-o", str(out / "p.png")],
        "predict --save-preprocessed": ["predict", png, "--save-preprocessed", str(out / "seen")],
        "predict --debug-stages": ["predict", png, "--debug-stages", str(out / "dbg")],
        "train -o": [
            "train", "--data", str(train), "--epochs", "1", "--hidden", "16", "--val-size",
            "100", "-o", str(out / "t.npz"),
        ],
        "train --report": [
            "train", "--data", str(train), "--epochs", "1", "--hidden", "16", "--val-size",
            "100", "-o", str(out / "t2.npz"), "--report", str(out / "t.html"),
        ],
    }  # fmt: skip


WRITERS = list(writers((Path("."), Path(".")), Path(".")))


def _check_refused(result, before: dict[str, bytes], mount: Path, why: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1, result.stderr
    assert len(errors) == 1 and why in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert _state(mount) == before  # nothing changed, nothing half-written
    left = sorted(str(p.relative_to(mount)) for p in mount.rglob("*") if p.name != "filler")
    assert left == [], left  # no temporary, no empty folder of the failed run


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_on_a_full_disk_says_so_and_leaves_nothing(inputs, disk, writer):
    _fill(disk)
    before = _state(disk)
    result = run(writers(inputs, disk)[writer], inputs[0])
    _check_refused(result, before, disk, "No space left on device")


@pytest.mark.parametrize("writer", WRITERS)
def test_every_writer_in_a_read_only_folder_says_so_and_changes_nothing(inputs, disk, writer):
    (disk / "keep.txt").write_text("kept\n")
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    before = _state(disk)
    result = run(writers(inputs, disk)[writer], inputs[0])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert "Read-only file system" in errors[0], errors[0]
    assert _state(disk) == before


HOSTILE_ENV = [
    ("NNMNIST_WEIGHTS", "/dev/zero", ["evaluate", "--limit", "5"], "refused: a device"),
    ("NNMNIST_WEIGHTS", "\x1b[31mred", ["evaluate", "--limit", "5"], "\\x1b[31mred: no such file"),
    ("NNMNIST_WEIGHTS", "a" * 5000, ["evaluate", "--limit", "5"], "characters)"),
    ("NNMNIST_DATA", "/nonexistent/\x1b]0;t\x07", ["evaluate"], "\\x1b]0;t\\x07: no such folder"),
    ("NNMNIST_OFFLINE", "maybe", ["evaluate", "--limit", "5"], "'maybe' is not a valid boolean"),
    ("NNMNIST_OUT", "/proc/nnmnist/w.pkl", ["init"], "/proc/nnmnist"),
    ("NNMNIST_SCHEDULER", "tcp://[::1", ["predict", "one.png"], "is not a scheduler address"),
    ("NNMNIST_TIMEOUT", "1e400", ["evaluate", "--data", "openml"], "NNMNIST_TIMEOUT"),
    ("NNMNIST_CACHE", "/dev/null", ["evaluate", "--data", "openml", "--offline"], "/dev/null"),
]


@pytest.mark.parametrize(("name", "value", "args", "fragment"), HOSTILE_ENV)
def test_hostile_environment_values_are_one_escaped_line(inputs, name, value, args, fragment):
    folder = inputs[0]
    before = _state(folder)
    result = run(args, folder, {name: value})
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode != 0 and len(errors) == 1, result.stderr
    assert fragment in errors[0] and "\x1b" not in result.stderr, errors[0]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert len(errors[0]) < 1100
    assert _state(folder) == before
