"""The Dask engine: the same bytes as the local engine, on threads and on a two-worker cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.io import mnist as data
from tests.imagegen import TRANSFORMS

pytest.importorskip(
    "distributed", reason="the dask extra is not installed: pip install 'nnmnist[dask]'"
)

EXE = os.path.join(os.path.dirname(sys.executable), "nnmnist")


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as local,
        Client(local) as client,
    ):
        yield local.scheduler_address, client


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """.npy shards of uneven sizes, an IDX file, single images and a missing file."""
    folder = tmp_path_factory.mktemp("inputs")
    x = data.load("bundled", "test").images
    np.save(folder / "a.npy", x[:2500])
    b = x[2500:7300].copy()
    b[[10, 20, 30, 4000]] = 0  # blank rows in two chunks: told once, as locally
    np.save(folder / "b.npy", b.reshape(-1, 28, 28))
    np.save(folder / "one.npy", x[0].reshape(28, 28))
    from nnmnist.io import idx

    idx.write_idx(folder / "c-idx3.gz", x[7300:8000].reshape(-1, 28, 28), gzipped=True)
    images = folder / "images"
    images.mkdir()
    for i, (name, transform) in enumerate(TRANSFORMS.items()):
        im = transform(x[i])
        (im.convert("RGB") if name == "jpeg" else im).save(
            images / f"{i:02d}.{'jpg' if name == 'jpeg' else 'png'}"
        )
    return folder


ARGS = [
    "a.npy",
    "b.npy",
    "one.npy",
    "c-idx3.gz",
    "images",
    "missing.png",
    "--batch-size",
    "300",
    "--chunk-size",
    "1000",
]


@pytest.fixture
def in_inputs(inputs, monkeypatch):
    monkeypatch.chdir(inputs)
    monkeypatch.delenv("NNMNIST_WEIGHTS", raising=False)
    monkeypatch.delenv("NNMNIST_SCHEDULER", raising=False)
    return inputs


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "text"])
def test_threads_print_the_same_bytes_as_local(runner, in_inputs, fmt, monkeypatch):
    import dask

    computed: list[int] = []
    real_compute = dask.compute

    def counting(*tasks, **kwargs):  # proof that Dask ran the chunks, not a local fallback
        computed.append(len(tasks))
        assert kwargs.get("scheduler") == "threads"
        return real_compute(*tasks, **kwargs)

    local = runner.invoke(app, ["predict", *ARGS, "-f", fmt])
    monkeypatch.setattr(dask, "compute", counting)
    threads = runner.invoke(app, ["predict", *ARGS, "-f", fmt, "--engine", "dask"])
    assert sum(computed) == 7  # 8,011 images in chunks of 1,200 (--chunk-size 1000, whole batches)
    assert local.exit_code == threads.exit_code == 1  # the missing file
    assert len(local.stdout.splitlines()) >= 8000
    assert threads.stdout == local.stdout
    assert threads.stderr == local.stderr
    assert "b.npy: 4 rows are blank, every pixel 0 (rows 10, 20, 30, ...)" in local.stderr


def chunks_run_since(client, since: float) -> int:
    """How many predict_chunk tasks the cluster's scheduler ran since a time."""

    def count(dask_scheduler, since=since):
        return len(
            {
                t.key
                for t in dask_scheduler.transition_log
                if t.finish == "memory" and t.timestamp >= since and "predict_chunk" in str(t.key)
            }
        )

    return int(client.run_on_scheduler(count))


def test_a_cluster_prints_the_same_bytes_as_local(runner, in_inputs, cluster):
    address, client = cluster
    local = runner.invoke(app, ["predict", *ARGS, "-f", "csv", "-k", "2"])
    started = time.time()
    remote = runner.invoke(app, ["predict", *ARGS, "-f", "csv", "-k", "2", "--scheduler", address])
    assert chunks_run_since(client, started) == 7  # on the cluster, not here
    assert remote.stdout == local.stdout
    assert remote.stderr == local.stderr


def test_cluster_output_files_and_manifest(runner, in_inputs, cluster, tmp_path):
    address, _ = cluster
    local = runner.invoke(app, ["predict", "a.npy", "b.npy", "-f", "jsonl"])
    out = tmp_path / "parts"
    result = runner.invoke(
        app,
        [
            "predict",
            "a.npy",
            "b.npy",
            "-f",
            "jsonl",
            "--chunk-size",
            "1000",
            "--scheduler",
            address,
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 1, result.output  # b.npy's blank rows
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["images"] == 7300 and len(manifest["parts"]) == 8
    assert manifest["failures"] == [
        "b.npy: 4 rows are blank, every pixel 0 (rows 10, 20, 30, ...): no label given"
    ]
    joined = "".join((out / p["file"]).read_text() for p in manifest["parts"])
    assert joined == local.stdout


def test_evaluate_figures_are_identical(runner, in_inputs, cluster):
    address, _ = cluster
    local = json.loads(runner.invoke(app, ["evaluate", "-f", "json", "-b", "100"]).stdout)
    for extra in (["--engine", "dask"], ["--scheduler", address]):
        result = runner.invoke(
            app, ["evaluate", "-f", "json", "-b", "100", "--chunk-size", "1000", *extra]
        )
        assert result.exit_code == 0, result.output
        remote = json.loads(result.stdout)
        for key in (
            "accuracy",
            "correct",
            "total",
            "running_accuracy",
            "confusion_matrix",
            "precision",
            "recall",
        ):
            assert remote[key] == local[key], key


def test_without_the_extra_one_clear_line(runner, in_inputs, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    result = runner.invoke(app, ["predict", "a.npy", "--engine", "dask"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: --engine dask: the dask engine needs the optional extra: pip install 'nnmnist[dask]'"
    )


def test_an_unreachable_scheduler(runner, in_inputs):
    result = runner.invoke(app, ["predict", "a.npy", "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 3
    assert result.stderr.splitlines()[-1].startswith(
        "error: cannot reach the Dask scheduler at tcp://127.0.0.1:9"
    )


def test_engine_only_options_are_usage_errors(runner, in_inputs):
    assert runner.invoke(app, ["predict", "a.npy", "--output", "x"]).exit_code == 2
    assert runner.invoke(app, ["predict", "images", "--engine", "dask", "--show"]).exit_code == 2
    (in_inputs / "rows.csv").write_text(",".join(["0"] * 784) + "\n")
    csv = runner.invoke(app, ["predict", "rows.csv", "--engine", "dask"])
    assert csv.exit_code == 1
    assert csv.stderr.splitlines()[-1] == (
        "error: rows.csv: the dask engine reads .npy, IDX and image files; use --engine local "
        "for CSV, .npz and standard input"
    )


def test_a_worker_killed_during_a_job(in_inputs, cluster, tmp_path):
    address, client = cluster
    x = data.load("bundled", "test").images
    big = tmp_path / "big.npy"
    np.save(big, np.resize(x, (120_000, 784)))
    args = [
        EXE,
        "predict",
        str(big),
        "-f",
        "csv",
        "--chunk-size",
        "6000",  # chunks long enough (about half a second) that a busy worker is still busy
        "-w",
        str(in_inputs / "weights.npz"),
    ]
    from nnmnist.core.network import init_network
    from nnmnist.models.weights import save_weights

    # a wide float64 network makes the job last long enough to kill a worker in the middle
    save_weights(
        init_network((784, 512, 512, 10), scheme="he", rng=np.random.default_rng(0), hidden="relu"),
        in_inputs / "weights.npz",
    )
    local = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    # A kill that lands just as the victim's tasks finish proves nothing: try again (a few times)
    for attempt in range(3):
        output, rerun, chunks = _a_job_with_a_kill(args, address, client, big, tmp_path, attempt)
        assert output == local, "the output is not complete and identical"
        assert chunks == 20, chunks  # 120,000 images in chunks of 6,000 ran on the cluster
        if rerun >= 1:  # the job lost a worker and ran its tasks again elsewhere
            break
        _wait_for_workers(client)
    assert rerun >= 1, "in three attempts, no kill cost the job a task"
    _wait_for_workers(client)


def _wait_for_workers(client) -> None:
    deadline = time.monotonic() + 30  # the nanny brings a killed worker back
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)


def _a_job_with_a_kill(args, address, client, big, tmp_path, attempt):
    """Run the job on the cluster, kill a worker that holds its tasks once rows arrive; the
    output, and from the scheduler's log how many chunks ran twice and how many ran at all."""
    pids = client.run(os.getpid)  # worker address -> process id, before the job starts
    started = time.time()
    errors = open(tmp_path / f"stderr-{attempt}.txt", "w+")  # noqa: SIM115 - read back below
    proc = subprocess.Popen(
        [*args, "--scheduler", address], stdout=subprocess.PIPE, stderr=errors, text=True
    )
    assert proc.stdout is not None
    header = proc.stdout.readline()
    first = proc.stdout.readline()  # a result row: chunks are running on the workers
    assert first.startswith(str(big) + ":0,"), first
    victim = None
    deadline = time.monotonic() + 60
    while victim is None:  # a worker that holds tasks of this job right now
        busy = [w for w, keys in client.processing().items() if keys and w in pids]
        if busy:
            victim = busy[0]
        assert time.monotonic() < deadline, "no worker held a task"
    os.kill(pids[victim], signal.SIGKILL)
    rest = proc.stdout.read()  # the same buffered reader as the lines above
    proc.wait(timeout=300)
    errors.seek(0)
    assert proc.returncode == 0, errors.read()

    def reruns(dask_scheduler, since=started):
        import collections

        runs = collections.Counter(
            t.key
            for t in dask_scheduler.transition_log
            if t.finish == "processing" and t.timestamp >= since and "predict_chunk" in str(t.key)
        )
        return sum(1 for n in runs.values() if n > 1), len(runs)

    rerun, chunks = client.run_on_scheduler(reruns)
    return header + first + rest, rerun, chunks


def test_force_into_a_parts_folder_replaces_this_runs_names_and_removes_nothing(
    runner, in_inputs, cluster, tmp_path
):
    """Issue 26: --force used to delete every part-*.txt and manifest.json in the folder,
    whoever made them. Now only the files this run writes are replaced; the rest stay."""
    address, _ = cluster
    out = tmp_path / "parts"
    out.mkdir()
    (out / "part-99999.txt").write_text("a part of mine\n")
    (out / "notes.txt").write_text("notes\n")
    args = ["predict", "a.npy", "--chunk-size", "1000", "--scheduler", address, "--output"]
    result = runner.invoke(app, [*args, str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert (out / "part-99999.txt").read_text() == "a part of mine\n"
    assert (out / "notes.txt").read_text() == "notes\n"
    assert "left alone 1 part files that this run did not write (part-99999.txt" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert "part-99999.txt" not in {p["file"] for p in manifest["parts"]}
    again = runner.invoke(app, [*args, str(out), "--force"])  # the manifest is replaced
    assert again.exit_code == 0, again.output
    assert json.loads((out / "manifest.json").read_text()) == manifest
