"""Run the installed command and measure it: exit status, signal, output, peak memory, time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

EXE = str(Path(sys.executable).parent / "nnmnist")


@dataclass
class Run:
    status: int
    signal: int | None
    stdout: str
    stderr: str
    peak_mb: float
    seconds: float


# A small launcher between pytest and the command: a child's ru_maxrss counts what it had at
# fork, and a child forked from pytest starts with pytest's whole resident set.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(f"{status} {usage.ru_maxrss}")
"""


def run_measured(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str | None, timeout: float
) -> Run:
    """Run the command; its peak resident memory comes from wait4 in a small launcher."""
    out, err = cwd.parent / f"{cwd.name}.out", cwd.parent / f"{cwd.name}.err"
    report = cwd.parent / f"{cwd.name}.rusage"
    report.unlink(missing_ok=True)
    source = (
        subprocess.DEVNULL
        if stdin is None
        else open(stdin if os.path.isabs(stdin) else cwd / stdin, "rb")  # noqa: SIM115
    )
    start = time.monotonic()
    try:
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCHER, str(report), EXE, *args],
                cwd=cwd,
                env=env,
                stdin=source,
                stdout=o,
                stderr=e,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    finally:
        if stdin is not None:
            source.close()
    seconds = time.monotonic() - start
    status, maxrss = (int(x) for x in report.read_text().split())
    killed = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return Run(
        code,
        killed,
        out.read_text("utf-8", "replace"),
        err.read_text("utf-8", "replace"),
        maxrss / 1024,
        seconds,
    )


def default_sigint() -> None:
    """preexec_fn for a child that a test interrupts: a suite started in the background (`make
    test &`) runs with SIGINT ignored, which children inherit, and the test's Ctrl-C would then
    do nothing. The child gets Python's default back, as in a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
