"""Pictures on every core (engines.pool): the same bytes out as one process, in input order,
errors one line each in place, and Ctrl-C that stops the workers with the parent."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nnmnist.engines import pool
from nnmnist.io import mnist

from .measure import default_sigint

EXE = str(Path(sys.executable).with_name("nnmnist"))


def _pictures(folder: Path, count: int, labelled: bool = False) -> None:
    ds = mnist.load("bundled", "test")
    for i in range(count):
        where = folder / str(ds.labels[i]) if labelled else folder
        where.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ds.images[i].reshape(28, 28)).save(where / f"{i:04d}.png")


def _run(args: list[str], workers: int) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NNMNIST_WORKERS": str(workers), "NO_COLOR": "1"}
    env.pop("NNMNIST_WEIGHTS", None)
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env, timeout=300)


def test_ordered_map_keeps_order_and_falls_back_to_one_process():
    items = list(range(pool.MIN_ITEMS * 3 + 5))
    assert list(pool.ordered_map(abs, [-i for i in items], 2)) == items
    assert list(pool.ordered_map(abs, [-1, -2], 2)) == [1, 2]  # too few: done here
    assert list(pool.ordered_map(abs, [-i for i in items], 1)) == items


def test_workers_follows_the_variable(monkeypatch):
    monkeypatch.setenv("NNMNIST_WORKERS", "1")
    assert pool.workers() == 1
    monkeypatch.setenv("NNMNIST_WORKERS", "three")  # not a number: the cores
    assert pool.workers() == len(os.sched_getaffinity(0))


def test_predict_on_two_workers_writes_what_one_writes(tmp_path):
    _pictures(tmp_path, 150)
    (tmp_path / "0070.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")  # unreadable, in the middle
    Image.new("L", (28, 28), 0).save(tmp_path / "0100.png")  # blank: refused
    one, two = (_run(["predict", str(tmp_path), "--format", "csv"], n) for n in (1, 2))
    assert one.returncode == two.returncode == 1
    assert one.stderr == two.stderr
    rows = [[line.split(",") for line in run.stdout.splitlines()] for run in (one, two)]
    assert [[r[0], r[1], r[-1]] for r in rows[0]] == [[r[0], r[1], r[-1]] for r in rows[1]]
    for a, b in zip(*rows, strict=True):  # one BLAS thread beside the pool: the sixth decimal
        if a[2] and a[2] != "probability":
            assert abs(float(a[2]) - float(b[2])) <= 2e-6
    lines = two.stdout.splitlines()
    assert len(lines) == 151 and lines[71].startswith(f"{tmp_path}/0070.png,")
    assert "could not be read" in lines[71] and "refused: blank" in lines[101]
    assert "Traceback" not in two.stderr


def test_evaluate_on_two_workers_counts_what_one_counts(tmp_path):
    import json

    _pictures(tmp_path, 120, labelled=True)
    one, two = (_run(["evaluate", str(tmp_path), "-f", "json"], n) for n in (1, 2))
    assert one.returncode == two.returncode == 0, two.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    for timing in ("seconds", "images_per_second"):
        a.pop(timing, None), b.pop(timing, None)
    assert a == b and a["total"] == 120


def test_ctrl_c_stops_the_workers_and_says_one_line(tmp_path):
    _pictures(tmp_path, 400)
    links = tmp_path / "many"
    links.mkdir()
    for k in range(25):  # 10,000 pictures: seconds of work, interrupted after a moment
        for p in sorted(tmp_path.glob("*.png")):
            (links / f"{k}-{p.name}").symlink_to(p)
    proc = subprocess.Popen(
        [EXE, "predict", str(links), "--format", "csv"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NNMNIST_WORKERS": "2", "NO_COLOR": "1"},
        preexec_fn=default_sigint,
    )
    time.sleep(1.5)
    if proc.poll() is not None:
        pytest.skip("the run ended before it could be interrupted")
    children = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(proc.pid)], capture_output=True, text=True
    ).stdout.split()
    proc.send_signal(signal.SIGINT)
    for child in children:  # as a terminal does: the whole process group
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(child), signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.endswith("error: interrupted\n") and "Traceback" not in err
    time.sleep(0.5)
    for child in children:
        assert (
            not Path(f"/proc/{child}").exists()
            or "zombie" in Path(f"/proc/{child}/status").read_text().lower()
        )
