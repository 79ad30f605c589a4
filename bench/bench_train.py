"""Training benchmark: seconds per epoch and time to 98% test accuracy, nnmnist vs scikit-learn.

Same network (784-512-256-10 ReLU, the shipped architecture unless --hidden says otherwise),
same optimiser (Adam, lr 1e-3, constant), batches of 128, float32 where the library allows,
no augmentation, no weight decay; test accuracy measured after each epoch on the 10,000 test
images. PyTorch CPU runs too if it is installed (pip install torch), and is skipped otherwise.

    python bench/bench_train.py [--data DIR] [--hidden 512,256] [--max-epochs 12] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nnmnist.core.network import predict
from nnmnist.io import mnist as data
from nnmnist.training.trainer import TrainConfig, Trainer

TARGET = 0.98


def run_nnmnist(x, y, xt, yt, hidden, max_epochs, batch):
    config = TrainConfig(
        hidden=hidden, epochs=max_epochs, batch_size=batch, schedule="constant", val_size=0
    )
    trainer = Trainer(config, x, y)
    epochs, reached, elapsed = [], None, 0.0

    def on_epoch(report):
        nonlocal reached, elapsed
        elapsed += report.seconds
        acc = float(np.mean(predict(trainer.net, xt)[0] == yt))
        epochs.append((report.seconds, acc))
        if reached is None and acc >= TARGET:
            reached = elapsed
            raise StopIteration

    with contextlib.suppress(StopIteration):  # raised by on_epoch once the target is reached
        trainer.run(on_epoch=on_epoch)
    return epochs, reached


def run_sklearn(x, y, xt, yt, hidden, max_epochs, batch):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=hidden,
        solver="adam",
        learning_rate_init=1e-3,
        batch_size=batch,
        alpha=0.0,
        random_state=0,
        shuffle=True,
    )
    xs, xts = x.astype(np.float32) / 255, xt.astype(np.float32) / 255
    epochs, reached, elapsed = [], None, 0.0
    for _ in range(max_epochs):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.partial_fit(xs, y, classes=np.arange(10))
        seconds = time.perf_counter() - start
        elapsed += seconds
        acc = float(np.mean(clf.predict(xts) == yt))
        epochs.append((seconds, acc))
        if acc >= TARGET:
            reached = elapsed
            break
    return epochs, reached


def run_torch(x, y, xt, yt, hidden, max_epochs, batch):
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    sizes = (784, *hidden, 10)
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    xs = torch.from_numpy(x.astype(np.float32) / 255)
    ys = torch.from_numpy(y.astype(np.int64))
    xts = torch.from_numpy(xt.astype(np.float32) / 255)
    gen = torch.Generator().manual_seed(0)
    epochs, reached, elapsed = [], None, 0.0
    for _ in range(max_epochs):
        start = time.perf_counter()
        for idx in torch.randperm(len(xs), generator=gen).split(batch):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
        seconds = time.perf_counter() - start
        elapsed += seconds
        with torch.no_grad():
            acc = float((model(xts).argmax(1).numpy() == yt).mean())
        epochs.append((seconds, acc))
        if acc >= TARGET:
            reached = elapsed
            break
    return epochs, reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    parser.add_argument("--data", default=os.environ.get("NNMNIST_DATA", str(default_data)))
    parser.add_argument("--hidden", default="512,256")
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", default="bench-results/train.json")
    args = parser.parse_args()
    hidden = tuple(int(h) for h in args.hidden.split(","))
    try:
        train = data.load(args.data, "train")
    except Exception as exc:  # noqa: BLE001 - a benchmark without data says why and stops
        raise SystemExit(f"bench_train: skipped, no MNIST training data ({exc})") from None
    test = data.load("bundled", "test")
    contenders = {"nnmnist": run_nnmnist, "scikit-learn": run_sklearn}
    try:
        import torch  # noqa: F401

        contenders["pytorch"] = run_torch
    except ImportError:
        print("pytorch: not installed, skipped (pip install torch to include it)")
    results = {}
    for name, fn in contenders.items():
        epochs, reached = fn(
            train.images,
            train.labels,
            test.images,
            test.labels,
            hidden,
            args.max_epochs,
            args.batch_size,
        )
        per_epoch = float(np.median([s for s, _ in epochs]))
        results[name] = {
            "seconds_per_epoch_median": per_epoch,
            "epochs": [{"seconds": s, "test_accuracy": a} for s, a in epochs],
            "seconds_to_98": reached,
            "epochs_to_98": next((i + 1 for i, (_, a) in enumerate(epochs) if a >= TARGET), None),
        }
        print(
            f"{name}: {per_epoch:.2f} s/epoch, 98% after {results[name]['epochs_to_98']} epochs ({reached and f'{reached:.1f} s'})",
            flush=True,
        )
    base = results["nnmnist"]
    print()
    print(
        f"{'784-' + '-'.join(map(str, hidden)) + '-10, Adam, batch ' + str(args.batch_size):<40} {'s/epoch':>8} {'ratio':>6} {'to 98%':>8} {'ratio':>6}"
    )
    for name, r in results.items():
        to98 = r["seconds_to_98"]
        ratio98 = f"{to98 / base['seconds_to_98']:.2f}" if to98 and base["seconds_to_98"] else "-"
        print(
            f"{name:<40} {r['seconds_per_epoch_median']:>8.2f} "
            f"{r['seconds_per_epoch_median'] / base['seconds_per_epoch_median']:>6.2f} "
            f"{(f'{to98:.1f}' if to98 else 'never'):>8} {ratio98:>6}"
        )
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                },
                "hidden": hidden,
                "batch_size": args.batch_size,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
