"""Train the digit-or-not gate, `weights/digit-gate.npz`: a small ConvNet that tells a
preprocessed picture of a digit from one of a letter or a sign.

    python bench/train_gate.py [--data ../shared/data/mnist] [--out weights/digit-gate.npz]

Digits: MNIST *training* digits (never the test digits) and digits rendered in fonts; not
digits: letters and signs rendered in the same fonts. Every picture is drawn on a 112x112
sheet (random size, place, slant and pen width) and goes through `images.preprocess`, as a
picture given to `nnmnist predict` does, so the gate learns from what it will be shown. The
fonts are the ones bench/photos.py does *not* use (Liberation, DejaVu Mono, DejaVu Serif
Condensed), so the bench's letters, signs and digits are pictures the gate never saw the like
of. Everything is drawn from one seeded generator; the run is reproducible.
"""

from __future__ import annotations

import argparse
import glob
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from nnmnist.core.network import forward
from nnmnist.io import mnist as data
from nnmnist.models.weights import save_weights
from nnmnist.training.trainer import EpochReport, TrainConfig, Trainer
from nnmnist.vision.images import ImageError, preprocess

SIDE = 112
# Letters and signs unlike any digit. Left out as look-alikes of digits: O o Q D (0), I l i j
# (1), Z z (2), S s (5), G b (6), g q (9), B (8).
NOT_DIGITS = "ACEFHJKLMNPRTUVWXYacdefhkmnprtuvwxy#%&@?+*=$<>{}~"
GATE_ARCH = "conv16k5-relu-pool2-conv32k5-relu-pool2-affine64-relu-affine2"


def training_fonts() -> list[str]:
    """The fonts bench/photos.py leaves out (it takes the first 16 that are not Mono)."""
    found = sorted(glob.glob("/usr/share/fonts/**/*.ttf", recursive=True))
    bench = set([f for f in found if "Mono" not in f][:16])
    return [f for f in found if f not in bench]


# Pens of another width: dark strokes made thicker (min filter) or thinner (max filter), or the
# font's own (None). One is drawn at random for each picture.
GATE_PENS = (
    None,
    ImageFilter.MinFilter(3),
    ImageFilter.MinFilter(5),
    ImageFilter.MaxFilter(3),
    None,
)


def pen(
    im: Image.Image, rng: np.random.Generator, pens: tuple[ImageFilter.Filter | None, ...]
) -> Image.Image:
    """The picture drawn with one of pens, at random."""
    chosen = pens[int(rng.integers(0, len(pens)))]
    return im if chosen is None else im.filter(chosen)


def sheet_text(
    text: str,
    font: str,
    rng: np.random.Generator,
    pens: tuple[ImageFilter.Filter | None, ...] = GATE_PENS,
) -> Image.Image:
    """text in font on a 112x112 sheet: random size, place, slant (up to 12 degrees) and pen."""
    im = Image.new("L", (SIDE, SIDE), 255)
    face = ImageFont.truetype(font, int(rng.integers(40, 86)))
    draw = ImageDraw.Draw(im)
    box = draw.textbbox((0, 0), text, font=face)
    w, h = box[2] - box[0], box[3] - box[1]
    x = (SIDE - w) // 2 - box[0] + int(rng.integers(-8, 9))
    y = (SIDE - h) // 2 - box[1] + int(rng.integers(-8, 9))
    draw.text((x, y), text, fill=0, font=face)
    im = im.rotate(float(rng.uniform(-12, 12)), Image.Resampling.BILINEAR, fillcolor=255)
    return pen(im, rng, pens)


def _sheet_mnist(
    digit: np.ndarray, rng: np.random.Generator, pens: tuple[ImageFilter.Filter | None, ...]
) -> Image.Image:
    side = int(rng.integers(56, 92))
    big = Image.fromarray(digit.reshape(28, 28)).resize((side, side), Image.Resampling.BICUBIC)
    ink = np.asarray(big, np.float32) / 255
    paper = np.full((SIDE, SIDE), 255.0, np.float32)
    y, x = rng.integers(2, SIDE - side - 1, 2)
    paper[y : y + side, x : x + side] *= 1 - ink
    return pen(Image.fromarray(paper.astype(np.uint8)), rng, pens)


def kept(picture: Image.Image) -> np.ndarray | None:
    """The picture as predict prepares it, before the gate: (784,) uint8, or None if refused."""
    try:
        return preprocess(picture, gated=False).reshape(784)
    except ImageError:  # refused before the gate would see it
        return None


def build(
    mnist_dir: str,
    seed: int,
    per_char: int,
    drawn: int,
    as_they_are: int,
    pens: tuple[ImageFilter.Filter | None, ...] = GATE_PENS,
) -> tuple[np.ndarray, np.ndarray]:
    """Pictures (N, 784) uint8 and labels: 1 for a digit, 0 for not a digit. drawn: MNIST
    training digits drawn on a sheet; as_they_are: others given as the 28x28 crops they are.
    Every picture goes through preprocess (without the gate), as predict's pictures do."""
    rng = np.random.default_rng(seed)
    fonts = training_fonts()
    images, _ = data.load_idx_folder(Path(mnist_dir), ("train",))
    rows = rng.choice(len(images), drawn + as_they_are, replace=False)
    pictures: list[Image.Image] = []
    labels: list[int] = []
    for row in rows[:drawn]:
        pictures.append(_sheet_mnist(images[row], rng, pens))
        labels.append(1)
    for row in rows[drawn:]:
        pictures.append(Image.fromarray(images[row].reshape(28, 28)))
        labels.append(1)
    for text, label in [(str(d), 1) for d in range(10)] * 2 + [(c, 0) for c in NOT_DIGITS]:
        for _ in range(per_char):
            font = fonts[int(rng.integers(len(fonts)))]
            pictures.append(sheet_text(text, font, rng, pens))
            labels.append(label)
    return prepared(pictures, labels)


def prepared(pictures: list[Image.Image], labels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The pictures as predict prepares them (N, 784) uint8, with their labels, on both cores;
    those that preprocessing refuses are left out."""
    done, kept_labels = [], []
    with ProcessPoolExecutor(2) as pool:  # preprocess is most of the time
        for digit, label in zip(pool.map(kept, pictures, chunksize=256), labels, strict=True):
            if digit is not None:
                done.append(digit)
                kept_labels.append(label)
    return np.stack(done), np.array(kept_labels, np.uint8)


def writers_pictures(
    x: np.ndarray, y: np.ndarray, count: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prepared pictures (as build's) stored other ways: count of the digits, count // 3 of
    the letters and signs (so that low resolution or a stretched box says nothing of being a
    digit), and USPS's usps-fit digits as scanned."""
    from train_writers import stored
    from writers import usps_split

    rng = np.random.default_rng([seed, 2])
    digits = rng.choice(np.flatnonzero(y == 1), count, replace=False)
    signs = rng.choice(np.flatnonzero(y == 0), count // 3, replace=False)
    rows = np.concatenate([digits, signs])
    pictures = [stored(x[r].reshape(28, 28), rng) for r in rows]
    labels = y[rows].tolist()
    ux, _ = usps_split()["usps-fit"]
    pictures += [Image.fromarray(p) for p in ux]
    labels += [1] * len(ux)
    return prepared(pictures, labels)


def show_epoch(report: EpochReport) -> None:
    """One line as each epoch ends (Trainer.run returns only when all have)."""
    print(
        f"epoch {report.epoch}: loss {report.train_loss:.4f}, "
        f"validation {report.val_accuracy:.4f} ({report.seconds:.0f} s)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist")
    parser.add_argument("--out", type=Path, default=Path("weights/digit-gate.npz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-char", type=int, default=400)
    parser.add_argument("--drawn", type=int, default=15000)
    parser.add_argument("--as-they-are", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--thickness", type=float, default=0.0, help="as nnmnist train's")
    parser.add_argument(
        "--marker", action="store_true", help="a thick marker (7 px min filter) among the pens"
    )
    parser.add_argument(
        "--writers",
        type=int,
        default=0,
        help="add this many digits stored as other sources store them (train_writers.py's "
        "stored), a third as many letters and signs stored alike, and USPS's usps-fit digits",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    pens = (*GATE_PENS, ImageFilter.MinFilter(7)) if args.marker else GATE_PENS
    x, y = build(args.data, args.seed, args.per_char, args.drawn, args.as_they_are, pens)
    if args.writers:
        wx, wy = writers_pictures(x, y, args.writers, args.seed)
        x, y = np.concatenate([x, wx]), np.concatenate([y, wy])
    print(f"{len(y)} pictures ({int(y.sum())} digits) in {time.perf_counter() - start:.0f} s")
    config = TrainConfig(
        arch=GATE_ARCH,
        epochs=args.epochs,
        seed=args.seed,
        val_size=len(y) // 10,
        augment=1,
        rotate=5,
        thickness=args.thickness,
    )
    trainer = Trainer(config, x, y, outputs=2)
    trainer.run(on_epoch=show_epoch)
    net = trainer.best_network()
    val = trainer.val_rows
    not_digit = forward(net, x[val])[:, 0]
    digits = y[val] == 1
    print(f"validation: {int(digits.sum())} digits, {int((~digits).sum())} letters and signs")
    for threshold in (0.5, 0.8, 0.9, 0.95, 0.99):
        called = not_digit >= threshold
        print(
            f"  not a digit from {threshold}: digits lost {100 * called[digits].mean():.2f}%, "
            f"letters and signs caught {100 * called[~digits].mean():.1f}%"
        )
    meta = {
        "gate": "digit-or-not: output 0 not a digit, output 1 a digit",
        "arch": GATE_ARCH,
        "training": config.to_dict(),
        "pictures": len(y),
        "digits": int(y.sum()),
        "writers": args.writers,
        "fonts": [Path(f).name for f in training_fonts()],
        "best_epoch": trainer.best_epoch,
        "validation_accuracy": trainer.best_val,
        "command": "python bench/train_gate.py " + " ".join(sys.argv[1:]),
    }
    save_weights(net, args.out, meta=meta, overwrite=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
