"""Faults: the network failing in each way, interrupts and kills during saves, offline mode."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.errors import SourceUnavailableError
from nnmnist.io import mnist as data
from nnmnist.io.atomic import atomic_write
from nnmnist.models.weights import load_weights, save_weights
from tests.measure import default_sigint


@contextlib.contextmanager
def local_server(handle):
    """A TCP server on 127.0.0.1 that hands each connection to handle(conn, stop) in a thread
    of its own; yields its port, and stops (stop set, connections closed) on exit."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conns.append(conn)
            threading.Thread(target=handle, args=(conn, stop), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in conns:
            conn.close()
        server.close()


@pytest.fixture
def stalling_server():
    """Accepts connections and never answers; yields the port and the connections held."""
    held: list[socket.socket] = []
    with local_server(lambda conn, stop: held.append(conn)) as port:
        yield port, held


@pytest.fixture
def through_proxy(monkeypatch, tmp_path):
    """Send scikit-learn's real OpenML requests (https://api.openml.org/...) through an HTTP
    proxy on 127.0.0.1, the way urllib honours https_proxy: no private URL is patched."""
    monkeypatch.setenv("NNMNIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NNMNIST_TIMEOUT", "1")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)

    def point(port: int) -> None:
        for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
        urllib.request.install_opener(None)  # urlopen builds its opener (and proxies) anew

    yield point
    urllib.request.install_opener(None)


def test_a_server_that_never_answers_gets_a_bounded_wait_and_retries(
    through_proxy, stalling_server, runner
):
    port, held = stalling_server
    through_proxy(port)
    net_file = os.path.join(os.path.dirname(__file__), "corpus", "files", "existing.pkl")
    start = time.monotonic()
    result = runner.invoke(app, ["evaluate", "--data", "openml", "-w", net_file])
    elapsed = time.monotonic() - start
    assert result.exit_code == 3
    lines = [line for line in result.stderr.splitlines() if not line.startswith("note:")]
    assert len(lines) == 1 and lines[0].startswith("error: cannot fetch mnist_784 from OpenML")
    assert elapsed < 15  # a 1 s timeout per attempt, 1 s between attempts
    assert 2 <= len(held) <= 4  # a retry or two (scikit-learn adds one of its own on timeouts)


def test_a_refused_connection(through_proxy):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    through_proxy(port)
    start = time.monotonic()
    with pytest.raises(SourceUnavailableError, match="cannot fetch mnist_784 from OpenML"):
        data.load("openml", "test")
    assert time.monotonic() - start < 10


def test_offline_never_opens_a_socket(monkeypatch, tmp_path):
    monkeypatch.setenv("NNMNIST_CACHE", str(tmp_path))

    def no_sockets(*args, **kwargs):
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", no_sockets)
    monkeypatch.setattr(socket, "create_connection", no_sockets)
    with pytest.raises(SourceUnavailableError, match="offline"):
        data.load("openml", "notebook", no_network=True)
    monkeypatch.setenv("NNMNIST_OFFLINE", "1")
    with pytest.raises(SourceUnavailableError, match="offline"):
        data.load("auto", "train")
    assert len(data.load("auto", "test")) == 10_000  # the bundled split needs no network


def test_ctrl_c_during_a_save_keeps_the_old_file(tmp_path, small_net):
    path = tmp_path / "w.npz"
    save_weights(small_net, path)
    before = path.read_bytes()

    def interrupted(f):
        f.write(b"half a file")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, interrupted)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


SLOW_WRITER = """
import sys, time
from nnmnist.io.atomic import atomic_write
def write(f):
    f.write(b"new, partly written")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
atomic_write(sys.argv[1], write, overwrite=True)
"""


def test_sigkill_during_a_save(tmp_path, small_net):
    path = tmp_path / "w.npz"
    save_weights(small_net, path)
    before = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert path.read_bytes() == before  # the old file is intact and loads
    load_weights(path)
    stale = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1  # what the killed writer left, marked and with a random part...
    assert stale[0].name.startswith(".w.npz.nnmnist-") and stale[0].name != ".w.npz.nnmnist-.tmp"
    old = time.time() - 3600
    os.utime(stale[0], (old, old))
    save_weights(small_net, path, overwrite=True)
    # ...is never removed later, however old and unlocked: nothing proves nobody needs it
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["w.npz", stale[0].name])
    assert stale[0].read_bytes() == b"new, partly written"


def test_sigkill_during_training_then_resume(tmp_path, bundled_train_folder):
    """Kill `nnmnist train` after its first checkpoint; --resume reaches the uninterrupted weights."""
    exe = os.path.join(os.path.dirname(sys.executable), "nnmnist")
    args = [
        "train",
        "--hidden",
        "256",
        "--epochs",
        "3",
        "--batch-size",
        "50",
        "--val-size",
        "300",
        "--data",
        str(bundled_train_folder),
    ]
    whole, part = tmp_path / "whole.npz", tmp_path / "part.npz"
    subprocess.run([exe, *args, "-o", str(whole)], check=True, capture_output=True)
    proc = subprocess.Popen(
        [exe, *args, "-o", str(part)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    ckpt = tmp_path / "part.npz.ckpt.npz"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL  # the kill landed: it did not finish first
    assert ckpt.exists()
    with np.load(ckpt, allow_pickle=False) as saved:
        epoch = json.loads(str(saved["state"]))["epoch"]
    assert 1 <= epoch < 3  # killed before the last epoch: --resume has work to do
    resumed = subprocess.run(
        [exe, "train", "--resume", "--data", str(bundled_train_folder), "-o", str(part)],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    a, b = load_weights(whole), load_weights(part)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_during_a_save_through_the_cli(runner, tmp_path, monkeypatch):
    path = tmp_path / "w.pkl"
    assert runner.invoke(app, ["init", "-o", str(path)]).exit_code == 0
    before = path.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    result = runner.invoke(app, ["init", "-o", str(path), "--seed", "7", "--force"])
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"error: {path}: cannot write (No space left on device); nothing was changed"
    )
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.pkl"]


@pytest.fixture
def trickling_server():
    """Answers every request one byte at a time, a byte every half second, forever."""

    def trickle(conn: socket.socket, stop: threading.Event) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)
            for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: "):
                if stop.wait(0.5):
                    break
                conn.sendall(bytes([byte]))

    with local_server(trickle) as port:
        yield port


def test_a_server_that_trickles_bytes_meets_the_overall_deadline(through_proxy, trickling_server):
    # Each recv gets a byte within the 1 s socket timeout, so only a deadline ends the wait.
    through_proxy(trickling_server)
    start = time.monotonic()
    with pytest.raises(SourceUnavailableError, match=r"no complete answer within 10 s"):
        data.load("openml", "test")
    assert time.monotonic() - start < 15


def _nnmnist(args, env_extra, timeout=60):
    exe = os.path.join(os.path.dirname(sys.executable), "nnmnist")
    env = {**os.environ, "NO_COLOR": "1", **env_extra}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_a_dask_scheduler_that_never_answers_is_given_up_on_in_time(stalling_server, tmp_path):
    port, _ = stalling_server
    np.save(tmp_path / "x.npy", np.zeros((3, 784), np.uint8))
    start = time.monotonic()
    result = _nnmnist(
        ["predict", str(tmp_path / "x.npy"), "--scheduler", f"tcp://127.0.0.1:{port}"],
        {"NNMNIST_TIMEOUT": "2"},
    )
    assert time.monotonic() - start < 20
    assert result.returncode == 3
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "did not answer within 2 s" in line and result.stderr.count("\n") == 2
    assert result.stdout == ""


def test_a_malformed_scheduler_address_is_a_usage_error_at_once(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 784), np.uint8))
    start = time.monotonic()
    result = _nnmnist(["predict", str(tmp_path / "x.npy"), "--scheduler", "tcp://host:port:x"], {})
    assert time.monotonic() - start < 10
    assert result.returncode == 2 and "not a scheduler address" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_while_waiting_for_a_scheduler_leaves_no_traceback(stalling_server, tmp_path):
    port, held = stalling_server
    np.save(tmp_path / "x.npy", np.zeros((3, 784), np.uint8))
    exe = os.path.join(os.path.dirname(sys.executable), "nnmnist")
    proc = subprocess.Popen(
        [exe, "predict", str(tmp_path / "x.npy"), "--scheduler", f"tcp://127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NNMNIST_TIMEOUT": "60", "NO_COLOR": "1"},
        preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 30
    while not held:  # the client has connected and waits for an answer: now Ctrl-C
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.endswith("\nerror: interrupted\n") and err.count("\n") == 2 and out == ""


@pytest.mark.parametrize("value", ["nan", "-1", "0", "inf", "soon", "1e9"])
def test_a_bad_timeout_variable_is_one_clear_line(value):
    result = _nnmnist(
        ["evaluate", "--data", "openml", "--limit", "5"],
        {"NNMNIST_TIMEOUT": value, "NNMNIST_CACHE": "/nonexistent-nnmnist"},
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "NNMNIST_TIMEOUT must be" in result.stderr
