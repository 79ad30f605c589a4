"""Other people's handwriting: accuracy per set of real digits from outside MNIST, and of
MNIST's test digits drawn the way other sources store digits, through `nnmnist predict`'s
preprocessing (a refusal counts as not right, and is reported beside the accuracy).

    python bench/writers.py [--model NAME | --weights FILE] [--sets NAME,...] [--json FILE]

The sets, each marked with what it was used for (so that a figure on a set that was trained or
tuned on is never taken for one that was not):

- usps-fit: USPS training split (../shared/data/usps), the 4 of every 5 digits kept for
  training (rows i % 5 != 0); 16x16 grey scans, dark ink on white paper. Trained on. (USPS's
  test split is not on this machine: figures on it are measured elsewhere.)
- usps-val: the other fifth (rows i % 5 == 0). Tuned on (validation, choice of recipe).
- digits-a / digits-b: scikit-learn's `load_digits` (8x8, 0-16; 1,797 digits of writers
  outside MNIST and USPS), shown at 64x64 as nearest-neighbour blocks, dark on white; the
  first 900 (digits-a) are trained on (the default model was fine-tuned on them), the rest
  (digits-b) are held out: never trained or tuned on.
- mnist-16-stretched: MNIST test digits binarised and stretched to fill a 16x16 box in both
  directions (the way some scanned sheets store digits). Held out.
- mnist-32-binary: MNIST test digits binarised at 32x32, the digit's longer side filling the
  box. Held out.
- mnist-8x8: the same 32x32 bitmaps counted in 4x4 blocks to 8x8 levels 0-16 (the way
  `load_digits` was made from its forms), shown at 64x64. Held out.
- fonts-thin: digits in the 16 fonts bench/photos.py uses (never trained on), a thin pen
  (drawn large, thinned, scaled down: hairlines stay faint grey lines). Held out.

The MNIST test split is never trained or tuned on; the rows taken from it are seeded.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from nnmnist.core.network import predict
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, shipped_model_path
from nnmnist.vision.images import ImageError, Refused, preprocess

USPS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "usps" / "zip.train.gz"
PER_SET = 2000  # MNIST test digits per derived set
DIGITS_A = 900  # load_digits rows that may be looked at while tuning


def usps(path: Path = USPS) -> tuple[np.ndarray, np.ndarray]:
    """USPS digits (N, 16, 16) uint8, dark ink (0) on white paper (255), and their labels."""
    with gzip.open(path, "rt") as f:
        rows = np.loadtxt(f, dtype=np.float32)
    labels = rows[:, 0].astype(np.uint8)
    ink = (rows[:, 1:].reshape(-1, 16, 16) + 1) / 2  # [-1, 1], 1 = ink
    return np.round(255 * (1 - np.clip(ink, 0, 1))).astype(np.uint8), labels


def usps_split(path: Path = USPS) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """usps-fit (rows i % 5 != 0) and usps-val (i % 5 == 0)."""
    pictures, labels = usps(path)
    val = np.arange(len(labels)) % 5 == 0
    return {"usps-fit": (pictures[~val], labels[~val]), "usps-val": (pictures[val], labels[val])}


def blocks(levels: np.ndarray, top: float, side: int = 64) -> np.ndarray:
    """(N, h, w) ink levels 0..top shown as nearest-neighbour blocks, dark on white, uint8."""
    ink = np.clip(levels.astype(np.float32) / top, 0, 1)
    k = side // levels.shape[1]
    big = ink.repeat(k, axis=1).repeat(k, axis=2)
    return np.round(255 * (1 - big)).astype(np.uint8)


def sklearn_digits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pictures = blocks(bunch.images, 16)
    labels = bunch.target.astype(np.uint8)
    return {
        "digits-a": (pictures[:DIGITS_A], labels[:DIGITS_A]),
        "digits-b": (pictures[DIGITS_A:], labels[DIGITS_A:]),
    }


def _ink_box(digit: np.ndarray) -> np.ndarray:
    """A 28x28 uint8 digit (white ink) cropped to its ink above half."""
    mask = digit > 127
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stretched(digit: np.ndarray, side: int = 16) -> np.ndarray:
    """The digit binarised and stretched to fill a side x side box: dark on white, uint8."""
    crop = Image.fromarray(_ink_box(digit)).resize((side, side), Image.Resampling.BILINEAR)
    return np.where(np.asarray(crop) > 127, 0, 255).astype(np.uint8)


def bitmap32(digit: np.ndarray) -> np.ndarray:
    """The digit binarised in a 32x32 box, its longer side filling it, centred: 1 = ink."""
    crop = _ink_box(digit)
    h, w = crop.shape
    scale = 32 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BILINEAR)) > 127
    out = np.zeros((32, 32), np.uint8)
    y, x = (32 - small.shape[0]) // 2, (32 - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def mnist_sets(seed: int = 0, count: int = PER_SET) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    test = data.load("bundled", "test")
    rows = np.random.default_rng(seed).choice(len(test.labels), count, replace=False)
    digits = test.images.reshape(-1, 28, 28)[rows]
    labels = test.labels[rows].astype(np.uint8)
    bitmaps = np.stack([bitmap32(d) for d in digits])
    counts = bitmaps.reshape(-1, 8, 4, 8, 4).sum(axis=(2, 4))
    return {
        "mnist-16-stretched": (np.stack([stretched(d) for d in digits]), labels),
        "mnist-32-binary": (np.round(255 * (1 - bitmaps)).astype(np.uint8), labels),
        "mnist-8x8": (blocks(counts, 16), labels),
    }


def _bench_fonts() -> list[str]:
    found = sorted(glob.glob("/usr/share/fonts/**/*.ttf", recursive=True))
    return [f for f in found if "Mono" not in f][:16]


def thin_fonts(seed: int = 0, per_digit: int = 50) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Digits in bench/photos.py's fonts on 64x64 sheets with a thin pen: drawn 4x larger, the
    strokes thinned there by a 7 px max filter on the dark ink, then scaled down by averaging
    (a hairline stays a faint grey line, as a thin pen's on a scan); a random size and place."""
    rng = np.random.default_rng(seed)
    fonts = _bench_fonts()
    pictures, labels = [], []
    for label in list(range(10)) * per_digit:
        im = Image.new("L", (256, 256), 255)
        size = 4 * int(rng.integers(36, 52))
        face = ImageFont.truetype(fonts[int(rng.integers(len(fonts)))], size)
        draw = ImageDraw.Draw(im)
        box = draw.textbbox((0, 0), str(label), font=face)
        x = (256 - box[2] + box[0]) // 2 - box[0] + 4 * int(rng.integers(-4, 5))
        y = (256 - box[3] + box[1]) // 2 - box[1] + 4 * int(rng.integers(-4, 5))
        draw.text((x, y), str(label), fill=0, font=face)
        thin = im.filter(ImageFilter.MaxFilter(7)).resize((64, 64), Image.Resampling.BOX)
        pictures.append(np.asarray(thin))
        labels.append(label)
    return {"fonts-thin": (np.stack(pictures), np.array(labels, np.uint8))}


STATUS = {
    "usps-fit": "trained on",
    "usps-val": "tuned on",
    "digits-a": "trained on",
    "digits-b": "held out",
    "mnist-16-stretched": "held out",
    "mnist-32-binary": "held out",
    "mnist-8x8": "held out",
    "fonts-thin": "held out",
}

BUILDERS: list[Callable[[], dict[str, tuple[np.ndarray, np.ndarray]]]] = [
    usps_split,
    sklearn_digits,
    mnist_sets,
    thin_fonts,
]


def build(names: set[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for builder in BUILDERS:
        try:
            sets.update(builder())
        except FileNotFoundError as e:  # USPS lives outside the repository
            print(f"skipped {builder.__name__}: {e}", file=sys.stderr)
    return {k: v for k, v in sets.items() if names is None or k in names}


def prepare(picture: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(28, 28) uint8 as predict prepares the picture, and None; or zeros and the reason it
    was refused."""
    try:
        return preprocess(Image.fromarray(picture)), None
    except Refused as e:
        return np.zeros((28, 28), np.uint8), e.reason
    except ImageError:
        return np.zeros((28, 28), np.uint8), "could not be prepared"


def prepare_all(pictures: np.ndarray) -> tuple[np.ndarray, list[str | None]]:
    with ProcessPoolExecutor(2) as pool:
        done = list(pool.map(prepare, pictures, chunksize=128))
    return np.stack([d for d, _ in done]).reshape(-1, 784), [r for _, r in done]


def export(name: str, folder: str) -> None:
    """A set as a user keeps labelled digits: DIR/7/00012.png, ... (the layout evaluate and
    train --data read)."""
    pictures, labels = build({name})[name]
    for i, (picture, label) in enumerate(zip(pictures, labels, strict=True)):
        sub = Path(folder) / str(label)
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(sub / f"{i:05d}.png")
    print(f"wrote {len(labels)} pictures of {name} into {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a shipped model (default: the default)")
    parser.add_argument("--weights", type=Path, default=None, help="a weight file instead")
    parser.add_argument("--sets", default=None, help="comma-separated set names (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--export",
        nargs=2,
        metavar=("SET", "DIR"),
        default=None,
        help="write a set's pictures as PNG files into digit folders under DIR, and stop",
    )
    args = parser.parse_args()
    if args.export is not None:
        export(*args.export)
        return
    path = args.weights or shipped_model_path(args.model)
    if path is None:
        raise SystemExit(f"no shipped model {args.model!r}")
    net = load_weights(path)
    sets = build(set(args.sets.split(",")) if args.sets else None)
    print(f"model {path.name}; a refusal counts as not right")
    head = f"{'set':20s} {'status':10s} {'digits':>6s} {'accuracy':>8s} {'refused':>8s}"
    print(f"{head} {'answered':>8s}  refusals")
    figures = {}
    for name, (pictures, labels) in sets.items():
        start = time.perf_counter()
        digits, reasons = prepare_all(pictures)
        got = predict(net, digits)[0]
        answered = np.array([r is None for r in reasons])
        right = (got == labels) & answered
        kinds = Counter(r for r in reasons if r is not None)
        figures[name] = {
            "status": STATUS[name],
            "digits": len(labels),
            "accuracy": float(right.mean()),
            "refused": int((~answered).sum()),
            "answered_accuracy": float(right.sum() / max(1, answered.sum())),
            "refusals": dict(kinds),
            "seconds": time.perf_counter() - start,
        }
        f = figures[name]
        print(
            f"{name:20s} {f['status']:10s} {len(labels):6d} {100 * f['accuracy']:7.2f}% "
            f"{100 * f['refused'] / len(labels):7.2f}% {100 * f['answered_accuracy']:7.2f}%  "
            + ", ".join(f"{k} {v}" for k, v in kinds.most_common())
        )
    if args.json is not None:
        args.json.write_text(json.dumps({"model": path.name, "sets": figures}, indent=1))


if __name__ == "__main__":
    main()
