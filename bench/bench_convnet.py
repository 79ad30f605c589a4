"""ConvNet benchmarks: inference and training speed beside PyTorch CPU on the same weights.

    python bench/bench_convnet.py [--repeats 5] [--json bench-results/convnet.json]

Inference: the shipped ConvNet and the book's DeepConvNet (a float32 copy) at batch 1, 100 and
1000 on the first test images, nnmnist's forward pass against PyTorch CPU running the same
weights (skipped when PyTorch is not installed). Training: seconds per epoch of 55,000 images
for the shipped ConvNet's architecture at batch 128, estimated from timed steps (forward,
backward, Adam update; augmentation excluded from both). End to end: `nnmnist evaluate
--batch-size 100` with the default model, wall time of the whole process. Medians of repeats;
compare the ratios, measured in the same run, rather than the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from bench import median_seconds  # bench/bench.py: the one timing rule of the suite
from nnmnist.core.backprop import loss_and_gradients
from nnmnist.core.layers import Activation, Affine, Conv, Dropout, Pool
from nnmnist.core.network import Network, forward, init_layers
from nnmnist.core.optim import Adam
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, shipped_model_path

HERE = Path(__file__).resolve().parent
NNMNIST = str(Path(sys.executable).parent / "nnmnist")
DLFS = HERE.parents[1] / "shared" / "data" / "dlfs" / "ch08-deep_convnet_params.pkl"
ROWS: list[dict[str, Any]] = []
EPOCH_IMAGES = 55_000


def torch_model(net: Network) -> Any:
    """The same layers and weights as a torch.nn.Sequential (NCHW), or None without PyTorch."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(os.cpu_count() or 1)
    nn = torch.nn
    modules: list[Any] = []
    k = 0
    image = True
    assert net.layers is not None
    for layer in net.layers:
        if isinstance(layer, Conv):
            w = net.weights[k]
            conv = nn.Conv2d(w.shape[1], w.shape[0], (layer.kh, layer.kw), layer.stride, layer.pad)
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(w.astype(np.float32)))
                conv.bias.copy_(torch.from_numpy(net.biases[k].astype(np.float32)))
            modules.append(conv)
            k += 1
        elif isinstance(layer, Pool):
            modules.append(nn.MaxPool2d(layer.size, layer.stride))
        elif isinstance(layer, Affine):
            if image:
                modules.append(nn.Flatten())
                image = False
            w = net.weights[k]
            lin = nn.Linear(*w.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T, np.float32)))
                lin.bias.copy_(torch.from_numpy(net.biases[k].astype(np.float32)))
            modules.append(lin)
            k += 1
        elif isinstance(layer, Activation):
            modules.append({"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[layer.name]())
        elif isinstance(layer, Dropout):
            modules.append(nn.Dropout(layer.p))  # eval(): identity (the book's x(1-p) aside)
    return nn.Sequential(*modules, nn.Softmax(dim=1))


def inference(name: str, net: Network, x: np.ndarray, repeats: int) -> None:
    model = torch_model(net)
    for batch in (1, 100, 1000):
        n = 200 if batch == 1 else 2000
        part = x[:n]
        ours = median_seconds(
            lambda part=part, batch=batch: [
                forward(net, part[i : i + batch]) for i in range(0, len(part), batch)
            ],
            repeats,
        )
        theirs = None
        if model is not None:
            import torch

            xt = torch.from_numpy(part.astype(np.float32).reshape(-1, 1, 28, 28) / 255)
            model.eval()

            def run(xt: Any = xt, batch: int = batch) -> None:
                with torch.no_grad():
                    for i in range(0, len(xt), batch):
                        model(xt[i : i + batch])

            theirs = median_seconds(run, repeats)
        ratio = None if theirs is None else theirs / ours
        ROWS.append(
            {
                "case": f"{name} inference",
                "batch": batch,
                "nnmnist_images_per_s": round(n / ours),
                "pytorch_images_per_s": None if theirs is None else round(n / theirs),
                "ratio_vs_pytorch": None if ratio is None else round(ratio, 3),
            }
        )
        tail = "" if theirs is None else f"  PyTorch {n / theirs:8,.0f}  ratio {ratio:.2f}x"
        print(f"{name:28s} batch {batch:5d}  nnmnist {n / ours:8,.0f} images/s{tail}")


def training(spec: str, x: np.ndarray, y: np.ndarray, repeats: int) -> None:
    from nnmnist.core import arch

    steps, batch = 20, 128
    rng = np.random.default_rng(0)
    net = init_layers(arch.parse(spec), rng=rng)
    params = [a for pair in zip(net.weights, net.biases, strict=True) for a in pair]
    adam = Adam(params, lr=1e-3)

    def ours() -> None:
        for s in range(steps):
            rows = slice(s * batch, (s + 1) * batch)
            _, gw, gb, _ = loss_and_gradients(net, x[rows], y[rows], 0.0, rng)
            adam.step([g for pair in zip(gw, gb, strict=True) for g in pair])

    t_ours = median_seconds(ours, repeats) / steps
    t_torch = None
    model = torch_model(net)
    if model is not None:
        import torch

        model = torch.nn.Sequential(*list(model)[:-1])  # logits: cross_entropy applies softmax
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt = torch.from_numpy(x.astype(np.float32).reshape(-1, 1, 28, 28) / 255)
        yt = torch.from_numpy(y.astype(np.int64))

        def theirs() -> None:
            for s in range(steps):
                rows = slice(s * batch, (s + 1) * batch)
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(xt[rows]), yt[rows])
                loss.backward()
                opt.step()

        t_torch = median_seconds(theirs, repeats) / steps
    per_epoch = EPOCH_IMAGES / batch
    ratio = None if t_torch is None else t_ours / t_torch
    ROWS.append(
        {
            "case": "training epoch (estimated from 20 steps)",
            "arch": spec,
            "batch": batch,
            "nnmnist_seconds_per_epoch": round(t_ours * per_epoch, 1),
            "pytorch_seconds_per_epoch": None if t_torch is None else round(t_torch * per_epoch, 1),
            "time_ratio_vs_pytorch": None if ratio is None else round(ratio, 2),
        }
    )
    tail = (
        ""
        if t_torch is None
        else f"  PyTorch {t_torch * per_epoch:6.1f} s  ({ratio:.2f}x its time)"
    )
    print(f"training epoch, batch {batch}: nnmnist {t_ours * per_epoch:6.1f} s{tail}")


def evaluate_wall(repeats: int) -> None:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [NNMNIST, "evaluate", "--batch-size", "100"],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    wall = statistics.median(times)
    ROWS.append(
        {
            "case": "nnmnist evaluate --batch-size 100 (default model), wall",
            "seconds": round(wall, 2),
        }
    )
    print(f"nnmnist evaluate --batch-size 100 with the default model: {wall:.2f} s wall")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default="bench-results/convnet.json")
    args = parser.parse_args()
    test = data.load("bundled", "test")
    x, y = test.images, test.labels
    print(
        f"machine: {os.cpu_count()} cpus, Python {platform.python_version()}, NumPy {np.__version__}"
    )
    shipped = shipped_model_path("cnn")
    if shipped is not None:
        cnn = load_weights(shipped)
        inference("shipped ConvNet", cnn, x, args.repeats)
        training(cnn.spec, x, y, max(1, args.repeats // 2))
    if DLFS.is_file():
        book = load_weights(DLFS)
        book32 = replace(
            book,
            weights=tuple(w.astype(np.float32) for w in book.weights),
            biases=tuple(b.astype(np.float32) for b in book.biases),
        )
        inference("book DeepConvNet (float32)", book32, x, args.repeats)
    else:
        print(f"(the book's DeepConvNet is not at {DLFS}: skipped)")
    evaluate_wall(3)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"numpy": np.__version__, "cpus": os.cpu_count(), "rows": ROWS}, indent=2)
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
