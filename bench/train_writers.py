"""Train the ConvNet for other people's handwriting: the default model's recipe
(bench/train_photos.py: MNIST's training digits and font digits), plus USPS's scans and MNIST
training digits stored the ways other sources store digits, each put through `nnmnist
predict`'s preprocessing as a picture of that kind is (weights/README.md has the card).

    python bench/train_writers.py [--data ../shared/data/mnist] [--out FILE] [--epochs 24]

Added to the 60,000 MNIST training digits and the 6,000 font digits of train_photos.py:

- usps-fit of bench/writers.py (USPS training split, rows i % 5 != 0), 16x16 as scanned;
- with --digits-a N, N copies of bench/writers.py's digits-a (load_digits' first 900, 8x8 shown
  at 64x64; the shifts and distortions make each copy's epochs differ);
- "stored" digits: MNIST *training* digits (a seeded choice of --stored rows) binarised or not,
  cropped to their ink and resized into a box of 8 to 32 pixels, either keeping their aspect or
  stretched to fill the box (as some scanned sheets store them), sometimes counted in 4x4
  blocks to levels 0-16 and shown as blocks (as `load_digits` stores them).

usps-val, digits-b (and digits-a without --digits-a) and everything made from MNIST's *test*
split are left out, so that
bench/writers.py measures on digits never trained on (usps-val and digits-a were looked at
while choosing this recipe). Everything is drawn from seeded generators.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from nnmnist.io import mnist as data

sys.path.insert(0, str(Path(__file__).parent))
from train_gate import prepared, training_fonts  # noqa: E402
from train_photos import font_digits, train_and_save  # noqa: E402
from writers import _ink_box, blocks, sklearn_digits, usps_split  # noqa: E402


def stored(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A 28x28 MNIST digit stored another way (see the module's docstring), dark on white."""
    crop = _ink_box(digit)
    h, w = crop.shape
    side = int(rng.integers(8, 33))
    if rng.random() < 0.4:  # stretched to fill the box
        size = (side, side)
    else:
        scale = side / max(h, w)
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
    ink = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR), np.float32)
    ink /= 255
    if rng.random() < 0.5:
        ink = (ink > rng.uniform(0.3, 0.7)).astype(np.float32)
    box = np.zeros((side + 2, side + 2), np.float32)  # a pixel of paper around it
    y, x = (side + 2 - ink.shape[0]) // 2, (side + 2 - ink.shape[1]) // 2
    box[y : y + ink.shape[0], x : x + ink.shape[1]] = ink
    if side >= 24 and rng.random() < 0.3:  # load_digits: 4x4 counts, shown at 8 px a block
        cut = box[: box.shape[0] // 4 * 4, : box.shape[1] // 4 * 4] > 0.5
        counts = cut.reshape(cut.shape[0] // 4, 4, cut.shape[1] // 4, 4).sum(axis=(1, 3))
        return Image.fromarray(blocks(counts[None], 16, 8 * counts.shape[1])[0])
    return Image.fromarray(np.round(255 * (1 - box)).astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/mnist")
    parser.add_argument("--out", type=Path, default=Path("weights/retrained-cnn-writers.npz"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--font-digits", type=int, default=6000)
    parser.add_argument("--stored", type=int, default=24000)
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument(
        "--digits-a", type=int, default=0, help="copies of digits-a (load_digits' first 900)"
    )
    args = parser.parse_args()
    start = time.perf_counter()
    fx, fy = font_digits(args.font_digits, args.seed)
    images, labels = data.load_idx_folder(Path(args.data), ("train",))
    ux, uy = usps_split()["usps-fit"]
    rng = np.random.default_rng(args.seed + 1)
    rows = rng.choice(len(images), args.stored, replace=False)
    ax, ay = sklearn_digits()["digits-a"]
    pictures = [Image.fromarray(p) for p in ux]
    pictures += [stored(images[r].reshape(28, 28), rng) for r in rows]
    pictures += [Image.fromarray(p) for p in ax] * args.digits_a
    extra = [*uy.tolist(), *labels[rows].tolist(), *ay.tolist() * args.digits_a]
    sx, sy = prepared(pictures, extra)
    x = np.concatenate([images.reshape(len(images), 784), fx, sx])
    y = np.concatenate([labels.astype(np.uint8), fy, sy])
    print(
        f"{len(images):,} MNIST training images, {len(fy):,} font digits and {len(sy):,} USPS "
        f"and stored digits ({time.perf_counter() - start:.0f} s to prepare them)",
        flush=True,
    )
    train_and_save(
        x,
        y,
        args,
        "bench/train_writers.py",
        f"{args.data}, font digits, USPS and stored digits",
        font_digits=len(fy),
        fonts=[Path(f).name for f in training_fonts()],
        usps_and_stored_digits=len(sy),
    )


if __name__ == "__main__":
    main()
