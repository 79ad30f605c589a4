"""Pictures on every core: `nnmnist predict FOLDER` on many picture files, one worker against
all of them (NNMNIST_WORKERS), alternated in one run, and start-up beside `import typer`.

    python bench/bench_pictures.py [--repeats 3] [--small 2000] [--photos 200] [--json FILE]

Small: the first test digits as 28x28 PNG files. Photos: 1-megapixel (1000x1000) JPEG sheets,
a test digit drawn 600 pixels tall on grey paper with grain. Every run is the installed command
writing CSV to a file, timed whole (start-up included); medians, and the ratio to one worker.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nnmnist.engines.pool import workers
from nnmnist.io import mnist as data

EXE = str(Path(sys.executable).with_name("nnmnist"))
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def small_pictures(folder: Path, count: int) -> None:
    images = data.load("bundled", "test").images[:count]
    for i, pixels in enumerate(images):
        Image.fromarray(pixels.reshape(28, 28)).save(folder / f"{i:05d}.png")


def photos(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    images = data.load("bundled", "test").images[:count]
    for i, pixels in enumerate(images):
        digit = Image.fromarray(255 - pixels.reshape(28, 28)).resize((600, 600), Image.BICUBIC)
        paper = rng.normal(200, 6, (1000, 1000)).clip(0, 255).astype(np.uint8)
        sheet = Image.fromarray(paper)
        ink = np.asarray(digit, np.float32) / 255 * 200
        box = np.asarray(sheet.crop((200, 150, 800, 750)), np.float32)
        sheet.paste(Image.fromarray(np.minimum(box, ink).astype(np.uint8)), (200, 150))
        sheet.save(folder / f"{i:05d}.jpg", quality=90)


def timed(folder: Path, count: int, out: Path) -> float:
    env = {**ENV, "NNMNIST_WORKERS": str(count), "NO_COLOR": "1"}
    start = time.perf_counter()
    with out.open("wb") as f:
        subprocess.run(
            [EXE, "predict", str(folder), "--format", "csv"],
            stdout=f,
            stderr=subprocess.DEVNULL,
            env=env,
            check=False,
        )
    return time.perf_counter() - start


def _agree(a: bytes, b: bytes) -> tuple[bool, float]:
    """Whether two CSV outputs give the same names, labels and reasons; the largest gap between
    their probabilities (the parent runs one BLAS thread beside a pool, whose sums may round
    apart in the sixth decimal)."""
    rows = [[line.split(",") for line in out.decode().splitlines()[1:]] for out in (a, b)]
    same = [[r[0], r[1], r[-1]] for r in rows[0]] == [[r[0], r[1], r[-1]] for r in rows[1]]
    gaps = [abs(float(x[2]) - float(y[2])) for x, y in zip(*rows, strict=False) if x[2] and y[2]]
    return same, max(gaps, default=0.0)


def startup(repeats: int) -> dict[str, float]:
    """Medians of whole processes: `import typer`, `nnmnist --help`, `--version`, `models`."""
    cases = {
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "nnmnist --help": [EXE, "--help"],
        "nnmnist --version": [EXE, "--version"],
        "nnmnist models": [EXE, "models"],
    }
    found: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats * 3):  # alternated: the machine's noise falls on all alike
        for name, command in cases.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, env=ENV, check=True)
            found[name].append(time.perf_counter() - start)
    return {name: statistics.median(times) for name, times in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cores = workers()
    results: dict[str, object] = {"cores": cores}
    with tempfile.TemporaryDirectory() as tmp:
        for kind, make, count in (
            ("small PNG", small_pictures, args.small),
            ("1-megapixel JPEG", photos, args.photos),
        ):
            folder = Path(tmp) / kind.split()[0]
            folder.mkdir()
            make(folder, count)
            times: dict[int, list[float]] = {1: [], cores: []}
            outputs = {}
            for _ in range(args.repeats):
                for n in times:
                    out = Path(tmp) / f"{n}.csv"
                    times[n].append(timed(folder, n, out))
                    outputs[n] = out.read_bytes()
            same, gap = _agree(outputs[1], outputs[cores])
            rates = {n: count / statistics.median(t) for n, t in times.items()}
            print(
                f"{count:,} {kind} files: 1 worker {rates[1]:,.0f}/s, {cores} workers "
                f"{rates[cores]:,.0f}/s ({rates[cores] / rates[1]:.2f}x); "
                f"{'the same' if same else 'DIFFERENT'} names, labels and refusals, "
                f"probabilities within {gap:.0e}"
            )
            results[kind] = {"rates": rates, "same_labels": same, "largest_gap": gap}
    start = startup(args.repeats)
    base = start["python -c 'import typer'"]
    for name, seconds in start.items():
        print(f"{name:28s} {seconds * 1000:6.0f} ms ({seconds / base:.2f}x import typer)")
    results["startup_seconds"] = start
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
