"""Adapting a model to one writing: `nnmnist train --from MODEL --data MINE` on 300 digits of
scikit-learn's load_digits, measured on the rest of the same set (its first half the settings
were chosen by, the second never looked at before the settings were fixed), on MNIST test and
on USPS.

    python bench/finetune.py [--from writers] [--set digits-b] [--own 300]
                             [--mnist ../shared/data/mnist] [--epochs 10] [--keep FILE]

digits-b (bench/writers.py: load_digits after its first 900) is the real set the default model
reads worst and was never trained or tuned on. --set fonts-thin fine-tunes on 300 digits of
another draw (seed 1) of writers.py's thin-pen font digits and measures on a draw given by
--measure-seed (writers.py's own is 0; 2 was looked at only once the settings were fixed).
The 300 pictures are written as 64x64 PNG files into digit folders, as a user would keep
theirs, and the installed command fine-tunes on them (its own wall time is what is quoted).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nnmnist.core.evaluation import evaluate
from nnmnist.core.network import predict
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, shipped_model_path

sys.path.insert(0, str(Path(__file__).parent))
from writers import prepare_all, sklearn_digits, thin_fonts, usps_split  # noqa: E402


def score(net, pictures: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """Accuracy (a refusal counts as not right) and refusals, through predict's preparation."""
    digits, reasons = prepare_all(pictures)
    answered = np.array([r is None for r in reasons])
    right = (predict(net, digits)[0] == labels) & answered
    return float(right.mean()), int((~answered).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="start", default="writers")
    parser.add_argument("--set", default="digits-b", choices=["digits-a", "digits-b", "fonts-thin"])
    parser.add_argument("--own", type=int, default=300)
    parser.add_argument(
        "--measure-seed", type=int, default=0, help="fonts-thin: the draw measured on"
    )
    parser.add_argument("--mnist", default="../shared/data/mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--keep", type=Path, default=None, help="keep the fine-tuned weights")
    parser.add_argument("--extra", default="", help="more train options, space-separated")
    args = parser.parse_args()
    if not (Path(args.mnist) / "train-images-idx3-ubyte.gz").exists():
        print(f"skipped: no MNIST training files in {args.mnist}")
        return
    if args.set == "fonts-thin":  # own digits: another draw (seed 1); measured on seed 0's
        ax, ay = thin_fonts(seed=1, per_digit=-(-args.own // 10))["fonts-thin"]
        ax, ay = ax[: args.own], ay[: args.own]
    else:
        ax, ay = sklearn_digits()[args.set]
    exe = Path(sys.executable).with_name("nnmnist")
    with tempfile.TemporaryDirectory() as tmp:
        mine = Path(tmp) / "mine"
        for i in range(args.own):
            folder = mine / str(ay[i])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(ax[i]).save(folder / f"{i:04d}.png")
        out = Path(tmp) / "mine.npz"
        command = [str(exe), "train", "--from", args.start, "--data", str(mine)]
        command += ["--mnist", args.mnist, "--epochs", str(args.epochs), "-o", str(out)]
        command += args.extra.split()
        start = time.perf_counter()
        subprocess.run(command, check=True, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        tuned = load_weights(out)
        if args.keep is not None:
            shutil.copy(out, args.keep)
    before = load_weights(shipped_model_path(args.start) or Path(args.start))
    test = data.load("bundled", "test")
    ux, uy = usps_split()["usps-val"]
    print(f"nnmnist train --from {args.start} on {args.own} digits of {args.set}: {seconds:.0f} s")
    print(f"{'':34s} {'before':>8s} {'after':>8s}")
    cut = args.own + (len(ay) - args.own) // 2
    measured = {
        f"{args.set} {args.own}-{cut - 1} (tuning)": (ax[args.own : cut], ay[args.own : cut]),
        f"{args.set} {cut}-{len(ay) - 1} (held out)": (ax[cut:], ay[cut:]),
        "usps-val": (ux, uy),
    }
    if args.set == "fonts-thin":  # the bench's own draw, none of it fine-tuned on
        drawn = thin_fonts(seed=args.measure_seed)["fonts-thin"]
        measured = {f"fonts-thin, draw {args.measure_seed} (held out)": drawn}
        measured["usps-val"] = (ux, uy)
        measured["digits-b (held out)"] = sklearn_digits()["digits-b"]
    for name, (x, y) in measured.items():
        if not len(y):
            continue
        (a, ra), (b, rb) = score(before, x, y), score(tuned, x, y)
        print(f"{name:34s} {100 * a:7.2f}% {100 * b:7.2f}%   refused {ra} -> {rb}")
    a = evaluate(before, test.images, test.labels, 1000).accuracy
    b = evaluate(tuned, test.images, test.labels, 1000).accuracy
    print(f"{'MNIST test':34s} {100 * a:7.2f}% {100 * b:7.2f}%")


if __name__ == "__main__":
    main()
