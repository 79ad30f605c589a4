"""nnmnist's benchmark suite: inference, whole processes, predict and scaling.

Training is benchmarked by bench_train.py; `make bench` runs both.

    python bench/bench.py [--repeats 5] [--json bench-results/bench.json]

Every figure is the median of several repeats, and every ratio is against a baseline measured
in the same run (timings on a shared 2-core machine are noisy: compare ratios, not seconds).
PyTorch is used when installed (pip install torch) and skipped otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nnmnist.core.network import Network, forward, init_network
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, save_weights, shipped_model_path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
NNMNIST = str(BIN / "nnmnist")
TIME = shutil.which("time") or "/usr/bin/time"
ROWS: list[dict[str, Any]] = []
# Whole processes run as a user's would: with Python's compiled-module cache (some shells and
# sandboxes set PYTHONDONTWRITEBYTECODE, which recompiles every nnmnist module on each start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def row(
    case: str,
    contender: str,
    value: float,
    unit: str,
    baseline: float | None,
    higher_is_better: bool,
    **extra: Any,
) -> None:
    ratio = None
    if baseline:
        ratio = value / baseline if higher_is_better else value / baseline
    ROWS.append(
        {
            "case": case,
            "contender": contender,
            "value": value,
            "unit": unit,
            "ratio": ratio,
            **extra,
        }
    )
    shown = f"{value:,.0f}" if value >= 100 else f"{value:.3f}"
    extra_text = "  ".join(
        f"{k} {v:.2f}" if k == "seconds" else f"{k} {v:,.0f}" for k, v in extra.items()
    )
    print(
        f"  {case:<34} {contender:<22} {shown:>12} {unit:<8} {'' if ratio is None else f'x{ratio:.2f}':>7}  {extra_text}",
        flush=True,
    )


def textbook_loop(net: Network, x64: np.ndarray, batch: int) -> Callable[[], Any]:
    w, b = (
        [np.asarray(a, np.float64) for a in net.weights],
        [np.asarray(a, np.float64) for a in net.biases],
    )

    def run() -> None:
        for i in range(0, len(x64), batch):
            a = x64[i : i + batch]
            for k in range(len(w) - 1):
                a = 1 / (1 + np.exp(-(a @ w[k] + b[k])))
            y = a @ w[-1] + b[-1]
            e = np.exp(y - y.max(axis=1, keepdims=True))
            (e / e.sum(axis=1, keepdims=True)).argmax(axis=1)

    return run


def torch_loop(net: Network, x: np.ndarray, batch: int) -> Callable[[], Any] | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    layers: list[Any] = []
    act = {"sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[net.hidden]
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        lin = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T, np.float32)))
            lin.bias.copy_(torch.from_numpy(b.astype(np.float32)))
        layers.append(lin)
        if i < len(net.weights) - 1:
            layers.append(act())
    model = torch.nn.Sequential(*layers, torch.nn.Softmax(dim=1)).eval()
    xt = torch.from_numpy(x)

    def run() -> None:  # the same job as nnmnist's: from uint8 pixels, a batch at a time
        with torch.no_grad():
            for i in range(0, len(xt), batch):
                model(xt[i : i + batch].float() / 255).argmax(dim=1)

    return run


def _float32(net: Network) -> Network:
    return Network(
        tuple(w.astype(np.float32) for w in net.weights),
        tuple(b.astype(np.float32) for b in net.biases),
        hidden=net.hidden,
    )


def _ours(net: Network, x: np.ndarray, n: int, batch: int) -> Callable[[], Any]:
    return lambda: [forward(net, x[i : i + batch]) for i in range(0, n, batch)]


def alternated_medians(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turn within every repeat, so that the
    machine's slow spells fall on all of them alike (the ratios are what this suite reports)."""
    for fn in fns.values():
        fn()  # warm up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def inference(repeats: int, book: Network, shipped: Network, x: np.ndarray) -> None:
    print(
        "\ncore inference on the 10,000 test images (images/s; ratio against the textbook float64 loop)"
    )
    x64 = x / 255.0  # the textbook normalises once, outside its loop
    for name, net in (
        ("book 784-50-100-10 sigmoid", book),
        ("shipped 784-512-256-10 relu", shipped),
    ):
        for batch in (1, 100, 1000, len(x)):
            n = 1000 if batch == 1 else len(x)  # batch 1 on a tenth of the images
            case = f"{name.split()[0]} {net.dtype}, batch {batch if batch < len(x) else 'all'}"
            fns = {
                "textbook loop float64": textbook_loop(net, x64[:n], batch),
                "nnmnist": _ours(net, x, n, batch),
            }
            if net.dtype == np.float64:
                fns["nnmnist, float32 copy"] = _ours(_float32(net), x, n, batch)
            seconds = alternated_medians(fns, 2 * repeats + 1)
            torch_run = torch_loop(net, x[:n], batch)
            if torch_run is not None:
                # PyTorch's OpenMP threads spin after each operation, and so do OpenBLAS's:
                # interleaved with NumPy they slow each other down (PyTorch to a third, in a
                # trial), so PyTorch runs on its own, after a pause on either side.
                time.sleep(0.5)
                seconds["pytorch cpu float32"] = median_seconds(torch_run, 2 * repeats + 1)
                time.sleep(0.5)
            base = n / seconds["textbook loop float64"]
            for contender, secs in seconds.items():
                row(
                    case,
                    contender,
                    n / secs,
                    "img/s",
                    None if contender.startswith("textbook") else base,
                    True,
                )


def timed_process(
    cmd: list[str], repeats: int, stdin: Any = None, pty: bool = False, warmup: bool = True
) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MB) of a command, via /usr/bin/time."""
    walls, peaks = [], []
    for _ in range(repeats + int(warmup)):
        with tempfile.NamedTemporaryFile("r") as report:
            full = [TIME, "-f", "%e %M", "-o", report.name, *cmd]
            if pty:  # a terminal for stderr and stdout, so that the live table animates
                full = ["script", "-qec", " ".join(f"'{c}'" for c in full), "/dev/null"]
            subprocess.run(
                full,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                stdin=stdin,
                check=True,
                env=ENV,
            )
            wall, peak = report.read().split()[-2:]
        walls.append(float(wall))
        peaks.append(int(peak) / 1024)
    first = int(warmup)  # the warm-up run fills the page cache and is not counted
    return statistics.median(walls[first:]), max(peaks[first:])


def processes(repeats: int, book_pkl: Path, mnist_dir: Path | None) -> None:
    """book_pkl: the book's network in float32, as the book's own sample_weight.pkl is."""
    print("\nwhole processes (median wall seconds, peak memory; ratio against the baseline)")
    env_cmd = [NNMNIST, "evaluate", "--batch-size", "100", "--weights", str(book_pkl)]
    if mnist_dir is not None:
        wall, peak = timed_process(
            [sys.executable, str(HERE / "textbook_evaluate.py"), str(mnist_dir), str(book_pkl)],
            repeats,
        )
        row("evaluate --batch-size 100", "textbook script", wall, "s", None, False, peak_mb=peak)
        base = wall
    else:
        base = None
    wall, peak = timed_process(env_cmd, repeats)
    row("evaluate --batch-size 100", "nnmnist, no terminal", wall, "s", base, False, peak_mb=peak)
    if shutil.which("script"):
        wall, peak = timed_process(env_cmd, repeats, pty=True)
        row(
            "evaluate --batch-size 100", "nnmnist, live table", wall, "s", base, False, peak_mb=peak
        )
    wall, peak = timed_process([sys.executable, "-c", "import typer"], repeats)
    row("start-up", "python -c 'import typer'", wall, "s", None, False, peak_mb=peak)
    for args in (["--help"], ["--version"]):
        w, p = timed_process([NNMNIST, *args], repeats)
        row("start-up", f"nnmnist {args[0]}", w, "s", wall, False, peak_mb=p)


def predict_and_scaling(
    repeats: int, book_pkl: Path, book32_pkl: Path, x: np.ndarray, folder: Path
) -> None:
    print("\npredict end to end (images/s; peak memory) and how it scales")
    for n in (1_000, 10_000, 100_000, 200_000, 1_000_000):
        path = folder / f"x{n}.npy"
        reps = np.resize(x, (n, 784))
        np.save(path, reps)
        del reps
        reps_n = repeats if n <= 200_000 else 3
        base = None
        if n >= 200_000:  # the hand-written script: memory-mapped, float32, one f-string a line
            wall, peak = timed_process(
                [sys.executable, str(HERE / "numpy_predict.py"), str(path), str(book32_pkl)], reps_n
            )
            base = n / wall
            row(
                f"predict .npy, {n:,} images",
                "hand-written NumPy",
                base,
                "img/s",
                None,
                True,
                peak_mb=peak,
                seconds=wall,
            )
        for label, weights in (("book float32", book32_pkl), ("book float64", book_pkl)):
            wall, peak = timed_process(
                [NNMNIST, "predict", str(path), "--weights", str(weights), "--format", "csv"],
                reps_n,
            )
            row(
                f"predict .npy, {n:,} images",
                f"nnmnist ({label})",
                n / wall,
                "img/s",
                base,
                True,
                peak_mb=peak,
                seconds=wall,
            )
        if n == 1_000_000:
            wall, peak = timed_process(
                [NNMNIST, "predict", str(path), "--model", "mlp", "--format", "csv"], 1
            )
            row(
                f"predict .npy, {n:,} images",
                "nnmnist (shipped MLP)",
                n / wall,
                "img/s",
                None,
                True,
                peak_mb=peak,
                seconds=wall,
            )
        path.unlink()
    pngs = folder / "png"
    pngs.mkdir()
    from PIL import Image

    for i in range(2000):
        Image.fromarray(x[i].reshape(28, 28)).save(pngs / f"{i:04d}.png")
    wall, peak = timed_process(
        [NNMNIST, "predict", str(pngs), "--format", "csv"], max(1, repeats // 2)
    )
    row(
        "predict 2,000 PNG files",
        "nnmnist (shipped model)",
        2000 / wall,
        "img/s",
        None,
        True,
        peak_mb=peak,
    )


def _reset_peak_memory() -> None:
    """Start a worker's peak-memory count afresh (Linux: VmHWM)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_memory_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def dask_engines(book_pkl: Path, x: np.ndarray, folder: Path, n: int = 2_000_000) -> None:
    """predict on n synthetic images from a memory-mapped .npy: local, Dask threads, a cluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("\ndask: not installed, skipped (pip install 'nnmnist[dask]')")
        return
    print(f"\nthe Dask engine: predict {n:,} images from one .npy (images/s; peak memory)")
    path = folder / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(n, 784))
    for lo in range(0, n, len(x)):
        big[lo : lo + len(x)] = x[: n - lo]
    big.flush()
    del big
    cmd = [
        NNMNIST,
        "predict",
        str(path),
        "--weights",
        str(book_pkl),
        "--format",
        "csv",
        "--chunk-size",
        "50000",
    ]
    wall, peak = timed_process(cmd, 1, warmup=False)
    base = n / wall
    row(f"predict {n:,} .npy", "local engine", base, "img/s", None, True, peak_mb=peak)
    wall, peak = timed_process([*cmd, "--engine", "dask"], 1, warmup=False)
    row(f"predict {n:,} .npy", "dask threads", n / wall, "img/s", base, True, peak_mb=peak)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.run(_reset_peak_memory)
        wall, peak = timed_process(
            [*cmd, "--scheduler", cluster.scheduler_address], 1, warmup=False
        )
        workers = client.run(_peak_memory_mb)
        row(
            f"predict {n:,} .npy",
            "dask LocalCluster, 2 workers",
            n / wall,
            "img/s",
            base,
            True,
            peak_mb=peak,
            worker_peak_mb=max(workers.values()),
        )
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["inference", "processes", "predict", "dask"],
        help="run these sections only (default: all)",
    )
    parser.add_argument("--json", default="bench-results/bench.json")
    default_data = HERE.parents[1] / "shared" / "data" / "mnist"
    parser.add_argument("--data", default=os.environ.get("NNMNIST_DATA", str(default_data)))
    args = parser.parse_args()

    test = data.load("bundled", "test")
    x = test.images
    shipped_path = shipped_model_path("mlp")  # the comparisons here are MLPs
    if shipped_path is None:
        raise SystemExit("bench: the shipped model is missing")
    shipped = load_weights(shipped_path)
    book = init_network((784, 50, 100, 10), scheme="xavier", rng=np.random.RandomState(0))
    mnist_dir = (
        Path(args.data) if (Path(args.data) / "t10k-images-idx3-ubyte.gz").is_file() else None
    )
    if mnist_dir is None:
        mnist_dir = data.BUNDLED_DIR  # the same t10k files
    print(
        f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, NumPy {np.__version__}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        book_pkl, book32_pkl = folder / "book.pkl", folder / "book32.pkl"
        save_weights(book, book_pkl)
        save_weights(_float32(book), book32_pkl)
        only = set(args.only or ["inference", "processes", "predict", "dask"])
        if "inference" in only:
            inference(args.repeats, book, shipped, x)
        if "processes" in only:
            processes(args.repeats, book32_pkl, mnist_dir)
        if "predict" in only:
            predict_and_scaling(args.repeats, book_pkl, book32_pkl, x, folder)
        if "dask" in only:
            dask_engines(book_pkl, x, folder)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "cpus": os.cpu_count(),
                "rows": ROWS,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
