"""The shipped models exported to ONNX and run by ONNX Runtime, beside nnmnist and PyTorch.

    python bench/bench_onnx.py [--repeats 5] [--json bench-results/onnx.json]

Images per second on the first 2,000 test images (200 at batch 1), medians of 2 x repeats + 1.
Every contender starts from the same uint8 pixels and converts them itself, batch by batch.
Each runs on its own with a pause between (their thread pools spin after each call and would
slow the next one down). Needs the interchange extra and onnxruntime; PyTorch when installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from nnmnist.core import arch
from nnmnist.core.network import forward
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, save_weights, shipped_model_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_convnet import torch_model  # noqa: E402

from bench import median_seconds  # noqa: E402

ROWS: list[dict[str, Any]] = []


def paused_median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    time.sleep(0.5)  # let the previous contender's threads go idle
    return median_seconds(fn, repeats)


def contenders(name: str, folder: Path) -> dict[str, Callable[[np.ndarray, int], Any]]:
    """Each contender as f(images, batch): the same uint8 images, converted by each itself."""
    import onnxruntime as ort

    net = load_weights(shipped_model_path(name))  # type: ignore[arg-type]
    path = folder / f"{name}.onnx"
    save_weights(net, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out: dict[str, Callable[[np.ndarray, int], Any]] = {
        "nnmnist": lambda x, b: [forward(net, x[i : i + b]) for i in range(0, len(x), b)],
        "onnxruntime": lambda x, b: [
            session.run(None, {"pixels": x[i : i + b].astype(np.float32)})
            for i in range(0, len(x), b)
        ],
    }
    model = torch_model(
        net if net.layers is not None else replace(net, layers=arch.parse(net.spec))
    )
    if model is not None:
        import torch

        model.eval()

        def run(x: np.ndarray, b: int) -> None:
            xt = torch.from_numpy(x)
            with torch.no_grad():
                for i in range(0, len(xt), b):
                    part = xt[i : i + b].float() / 255
                    model(part.reshape(-1, 1, 28, 28) if net.layers is not None else part)

        out["pytorch"] = run
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="bench-results/onnx.json")
    args = parser.parse_args()
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        print(
            "bench_onnx: needs onnx and onnxruntime (pip install 'nnmnist[interchange]' onnxruntime)"
        )
        return
    print(
        f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, NumPy "
        f"{np.__version__}, ONNX Runtime {onnxruntime.__version__}"
    )
    x = data.load("bundled", "test").images[:2000]
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("mlp", "cnn"):
            fns = contenders(name, Path(tmp))
            for batch in (1, 100, 1000):
                part = x[:200] if batch == 1 else x
                n = len(part)
                speeds = {}
                for who, fn in fns.items():
                    seconds = paused_median_seconds(
                        lambda fn=fn, part=part, b=batch: fn(part, b), 2 * args.repeats + 1
                    )
                    speeds[who] = n / seconds
                ROWS.append(
                    {"model": name, "batch": batch, **{k: round(v) for k, v in speeds.items()}}
                )
                shown = "  ".join(
                    f"{k} {v:9,.0f}/s ({v / speeds['nnmnist']:.2f}x)" for k, v in speeds.items()
                )
                print(f"shipped {name:4s} batch {batch:5d}  {shown}", flush=True)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"numpy": np.__version__, "rows": ROWS}, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
