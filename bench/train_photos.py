"""Train the default ConvNet, `weights/mnist-cnn-photos.npz`, on MNIST's training digits and on
digits rendered in fonts, so that printed and marker-written digits are not strangers to it
(weights/README.md has its card and how it was chosen).

    python bench/train_photos.py [--data ../shared/data/mnist] [--out FILE] [--font-digits 6000]

MNIST's 60,000 training images as they are, plus font digits: each drawn on a 112x112 sheet
(random size, place and slant, and a pen from the font's own to a thick marker's) and put
through `images.preprocess`, as a picture given to `nnmnist predict` is. The fonts are the
ones bench/photos.py does *not* use (as for the gate: bench/train_gate.py), so its font digits
stay pictures of faces the model never saw. Then nnmnist's own Trainer, with the settings
below (those of `nnmnist train` for `--model cnn`, 30 epochs, `--thickness 1.5 --noise 0.05`).
The MNIST test split is never used for training or selection. Everything is drawn from seeded
generators.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ImageFilter

from nnmnist import __version__
from nnmnist.core.evaluation import evaluate
from nnmnist.io import mnist as data
from nnmnist.models.weights import save_weights
from nnmnist.training.trainer import TrainConfig, Trainer, run_metadata

sys.path.insert(0, str(Path(__file__).parent))
from train_gate import prepared, sheet_text, show_epoch, training_fonts  # noqa: E402

ARCH = "conv32k5-relu-pool2-conv64k5-relu-pool2-affine256-relu-dropout0.5-affine10"
# From the font's own strokes to a thick marker's (7 px min filter, as bench/photos.py's), or
# a thin pen's; the model's own --thickness then varies them further at 28x28.
PENS = (
    None,
    ImageFilter.MinFilter(3),
    ImageFilter.MinFilter(5),
    ImageFilter.MinFilter(7),
    ImageFilter.MaxFilter(3),
)


def font_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """count digits (N, 784) uint8 as predict prepares them, and their labels; those that
    preprocessing refuses (a thin pen that breaks a stroke) are left out."""
    rng = np.random.default_rng(seed)
    fonts = training_fonts()
    labels = [i % 10 for i in range(count)]
    pictures = [
        sheet_text(str(label), fonts[int(rng.integers(len(fonts)))], rng, PENS) for label in labels
    ]
    return prepared(pictures, labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist")
    parser.add_argument("--out", type=Path, default=Path("weights/retrained-cnn-photos.npz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--font-digits", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    start = time.perf_counter()
    fx, fy = font_digits(args.font_digits, args.seed)
    images, labels = data.load_idx_folder(Path(args.data), ("train",))
    x = np.concatenate([images.reshape(len(images), 784), fx])
    y = np.concatenate([labels.astype(np.uint8), fy])
    print(
        f"{len(images):,} MNIST training images and {len(fy):,} font digits "
        f"({time.perf_counter() - start:.0f} s to draw and prepare them)"
    )
    fonts = [Path(f).name for f in training_fonts()]
    source = f"{args.data} and font digits"
    train_and_save(x, y, args, "bench/train_photos.py", source, font_digits=len(fy), fonts=fonts)


def train_and_save(
    x: np.ndarray, y: np.ndarray, args: argparse.Namespace, script: str, source: str, **made: Any
) -> None:
    """The default ConvNet's recipe (the settings of `nnmnist train --model cnn`, with
    `--thickness 1.5 --noise 0.05`, args.epochs and args.seed) on x, y; the best epoch saved to
    args.out with its meta (made: what the script made the data of), scored on MNIST test."""
    config = TrainConfig(
        arch=ARCH,
        epochs=args.epochs,
        seed=args.seed,
        augment=2,
        rotate=10,
        scale=0.1,
        elastic=6,
        thickness=1.5,
        noise=0.05,
    )
    trainer = Trainer(config, x, y)
    trainer.run(on_epoch=show_epoch)
    net = trainer.best_network()
    test = data.load("bundled", "test")
    accuracy = evaluate(net, test.images, test.labels, 1000).accuracy
    command = f"python {script} " + " ".join(sys.argv[1:])
    meta = run_metadata(config, trainer, source, len(y), command, __version__)
    meta.update(
        creator=script,
        **made,
        best_epoch=trainer.best_epoch,
        val_accuracy=trainer.val_accuracy,
        history=[{k: v for k, v in asdict(r).items() if k != "seconds"} for r in trainer.history],
        test_accuracy=accuracy,
    )
    save_weights(net, args.out, meta=meta, overwrite=True)
    print(
        f"wrote {args.out}: epoch {trainer.best_epoch}, validation {trainer.best_val:.4f}, "
        f"MNIST test {accuracy:.4f}"
    )


if __name__ == "__main__":
    main()
