"""At a terminal: progress on stderr (a real pseudo-terminal), results on stdout, always.

Rich's progress displays capture stdout by default; with stderr on a terminal and stdout
redirected, every result line used to land on the screen and the file kept only the header.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.measure import default_sigint

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
    assert lines[0] == "input,label,probability,reason"
    assert len(lines) == n + 1
    assert lines[1].startswith("scans/d0000.png,")
    assert "scans/d0000.png," not in screen  # no result reached the terminal
    assert "predicting" in screen  # the progress bar did


def test_evaluate_json_goes_to_the_file_and_the_live_table_to_the_terminal(tmp_path):
    out = tmp_path / "result.json"
    status, screen = run_with_terminal_stderr(
        ["evaluate", "--limit", "3000", "--batch-size", "100", "-f", "json"], tmp_path, out
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
            "-o",
            "w.npz",
            "-f",
            "json",
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
    assert result.stderr.startswith("predicting with ") and result.stderr.count("\n") == 1


# --- both streams on the terminal, colour, and a real Ctrl-C

# SGR codes that set a colour (NO_COLOR allows bold and the like, and cursor movement)
COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
CSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def visible(screen: str) -> list[str]:
    """The lines a terminal would show at the end: what a carriage return or an erase-line
    leaves of each line, without escape codes (enough for line-by-line output)."""
    lines = []
    for raw in screen.split("\n"):
        line = raw.rstrip("\r").rsplit("\r", 1)[-1]
        line = line.rsplit("\x1b[2K", 1)[-1]
        line = CSI.sub("", line).rstrip()
        if line:
            lines.append(line)
    return lines


class Terminal:
    """Run nnmnist with stderr (and stdin, and optionally stdout) on a pseudo-terminal."""

    def __init__(self, args, cwd, stdout=None, env=None) -> None:
        self.parent, child = pty.openpty()
        self.seen = bytearray()
        self.lock = threading.Lock()
        full_env = {**os.environ, "COLUMNS": "100", "TERM": "xterm-256color", **(env or {})}
        if "NO_COLOR" not in (env or {}):
            full_env.pop("NO_COLOR", None)
        self.proc = subprocess.Popen(
            [EXE, *args],
            cwd=cwd,
            stdin=child,
            stdout=child if stdout is None else stdout,
            stderr=child,
            env=full_env,
            preexec_fn=default_sigint,  # Ctrl-C works even when the suite ignores it
        )
        os.close(child)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.parent, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.seen.extend(chunk)

    def text(self) -> str:
        with self.lock:
            return self.seen.decode("utf-8", "replace")

    def wait_for(self, marker: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while marker not in self.text():
            assert self.proc.poll() is None, f"ended before {marker!r}: {self.text()[-500:]}"
            assert time.monotonic() < deadline, f"no {marker!r} in {self.text()[-500:]}"
            time.sleep(0.02)

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        status = self.proc.wait(timeout=timeout)
        self.reader.join(timeout=5)
        os.close(self.parent)
        return status, self.text()


def test_with_stdout_and_stderr_on_the_terminal_every_result_line_arrives_intact(tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    for i in range(150):
        Image.fromarray(digit).save(folder / f"d{i:03d}.png")
    status, screen = Terminal(["predict", "scans"], tmp_path).finish()
    assert status == 0
    lines = [line for line in screen.replace("\r", "").splitlines() if line]
    assert lines.pop(0).startswith("predicting with the shipped model")
    assert lines == [
        f"scans/d{i:03d}.png\t1\t{line.split(chr(9))[2]}" for i, line in enumerate(lines)
    ]
    assert len(lines) == 150  # no progress bar drawn between them: the lines are the progress


@pytest.mark.parametrize("no_color", [True, False])
def test_no_color_leaves_no_colour_codes_on_the_terminal(tmp_path, no_color):
    env = {"NO_COLOR": "1"} if no_color else {}
    term = Terminal(["evaluate", "--limit", "2000", "--batch-size", "100"], tmp_path, env=env)
    status, screen = term.finish()
    assert status == 0 and "accuracy" in screen and "20/20" in screen
    if no_color:
        assert not COLOUR.search(screen), repr(COLOUR.search(screen))
    else:  # the check above can fail: with colour on, the report is coloured
        assert COLOUR.search(screen)


def _interrupt(term: Terminal, marker: str) -> tuple[int, str]:
    term.wait_for(marker)
    term.proc.send_signal(signal.SIGINT)
    return term.finish()


def test_ctrl_c_during_evaluate_on_a_terminal(tmp_path):
    init = subprocess.run([EXE, "init", "--hidden", "1000,1000", "-o", "big.pkl"], cwd=tmp_path)
    assert init.returncode == 0
    out = tmp_path / "out.json"
    with open(out, "wb") as stdout:
        term = Terminal(
            ["evaluate", "-w", "big.pkl", "--batch-size", "1", "-f", "json"], tmp_path, stdout
        )
        status, screen = _interrupt(term, "/10000")  # the live table is drawing
    assert status == 130
    assert visible(screen)[-1] == "error: interrupted"
    assert "Traceback" not in screen and out.read_text() == ""


def test_ctrl_c_during_predict_on_a_terminal(tmp_path):
    n = 1_000_000
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (n, 784)}
    )
    with open(tmp_path / "big.npy", "wb") as f:
        f.write(header.getvalue())
        f.truncate(len(header.getvalue()) + n * 784)
    out = tmp_path / "out.txt"
    with open(out, "wb") as stdout:
        term = Terminal(["predict", "big.npy", "--batch-size", "100"], tmp_path, stdout)
        deadline = time.monotonic() + 60
        while out.stat().st_size == 0:  # results are arriving
            assert time.monotonic() < deadline and term.proc.poll() is None
            time.sleep(0.02)
        term.proc.send_signal(signal.SIGINT)
        status, screen = term.finish()
    assert status == 130
    assert visible(screen)[1:] == ["error: interrupted"]
    lines = out.read_text().splitlines()
    assert 0 < len(lines) < n and lines[0].startswith("big.npy:0\t")


def test_ctrl_c_during_train_on_a_terminal(tmp_path, bundled_train_folder):
    args = ["train", "--data", str(bundled_train_folder), "--epochs", "500", "--hidden", "64"]
    args += ["--val-size", "100", "-o", "w.npz"]
    status, screen = _interrupt(Terminal(args, tmp_path, subprocess.DEVNULL), "*best")
    assert status == 130
    last = visible(screen)[-1]
    assert last.startswith("interrupted: the best weights so far (epoch ") and "w.npz" in last
    assert "Traceback" not in screen
    assert (tmp_path / "w.npz").is_file()


def test_show_draws_with_blocks_when_colour_is_off_on_a_terminal(tmp_path):
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255  # a one
    Image.fromarray(digit).save(tmp_path / "one.png")
    status, screen = Terminal(
        ["predict", "one.png", "--show", "--raw"], tmp_path, env={"NO_COLOR": "1"}
    ).finish()
    assert status == 0
    rows = [line for line in visible(screen) if line.startswith("  ")][:14]
    assert len(set(rows)) > 2  # a picture, not 14 identical rows
    assert any("█" in row for row in rows)


def test_reports_in_a_pipe_have_no_trailing_spaces(tmp_path):
    result = subprocess.run(
        [EXE, "evaluate", "--limit", "500"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert [line for line in result.stdout.splitlines() if line != line.rstrip()] == []
    assert "recall%" in result.stdout  # headers whole at the default 80 columns
