"""Labelled digits of one's own, for evaluate: the inputs predict reads, when they carry labels.

- CSV rows of 785 values, the first the label (a header row is recognised);
- .npz files with images and labels arrays (x/y, images/labels, x_test/y_test, ...);
- an IDX images file beside its labels file (`foo-images-idx3-ubyte[.gz]` and
  `foo-labels-idx1-ubyte[.gz]`, MNIST's names);
- folders laid out by label, the ImageFolder convention: `DIR/3/scan-001.png`, digits 0-9 as
  the names of the subfolders, pictures prepared as predict prepares them.

Everything is read through the same readers as predict's inputs, with the same checks, and held
in memory (at most MAX_IMAGES images), because an evaluation batches over arrays.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.engines import pool
from nnmnist.engines.inputs import ImageOptions, merge_blocks, read_named_picture
from nnmnist.errors import DataError
from nnmnist.io import idx
from nnmnist.io.arrays import (
    NPZ_IMAGES,
    NPZ_LABELS,
    as_rows,
    is_header,
    parse_csv_rows,
    row_names,
    sniff,
    to_pixels,
)
from nnmnist.io.mnist import MAX_DATASET_IMAGES
from nnmnist.io.npyfile import check_npz
from nnmnist.io.reading import bounded_lines, open_file, text_stream

MAX_IMAGES = MAX_DATASET_IMAGES
DIGITS = tuple(str(d) for d in range(10))
_IDX_IMAGES = re.compile(r"images([-.])idx3")


@dataclass(frozen=True)
class Labelled:
    names: list[str]  # one per image, as predict names them
    images: NDArray[Any]  # (N, 784) uint8, or float32 in [0, 1]
    labels: NDArray[np.uint8]  # (N,)
    source: str  # the inputs, for the report
    # pictures read and refused (blank, not one digit, not a digit): row -> the kind of
    # refusal; their rows are zeros, and they count as inputs that were not read right
    refused: dict[int, str] = field(default_factory=dict)


def is_label_folder(path: Path) -> bool:
    """A folder whose subfolders are named by digit (some of 0-9) and hold the pictures."""
    try:
        subs = [p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return False
    return bool(subs) and all(name in DIGITS for name in subs)


def load(
    specs: list[str],
    options: ImageOptions,
    on_error: Callable[[DataError], None] | None = None,
) -> Labelled:
    """All labelled images of the inputs, in input order (folders: label by label, sorted)."""
    names: list[str] = []
    blocks: list[NDArray[Any]] = []
    labels: list[NDArray[np.uint8]] = []
    refused: dict[int, str] = {}
    failed = 0
    for spec in specs:
        try:
            part_names, pixels, part_labels, part_refused = _one(spec, options, on_error)
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
            failed += 1
            continue
        refused.update({len(names) + row: why for row, why in part_refused.items()})
        names += part_names
        blocks.append(pixels)
        labels.append(part_labels)
        if len(names) > MAX_IMAGES:
            raise DataError(
                f"{spec}: more than {MAX_IMAGES:,} labelled images in all; evaluate them in parts"
            )
    if not names:
        if failed:  # each failure has had its line: nothing is left to evaluate
            empty = np.zeros((0, 784), np.uint8)
            return Labelled([], empty, np.zeros(0, np.uint8), " ".join(specs))
        raise DataError(f"{' '.join(specs)}: no labelled images")
    images = merge_blocks(blocks)
    return Labelled(names, images, np.concatenate(labels), " ".join(specs), refused)


Part = tuple[list[str], NDArray[Any], NDArray[np.uint8], dict[int, str]]


def _one(spec: str, options: ImageOptions, on_error: Callable[[DataError], None] | None) -> Part:
    path = Path(spec)
    if path.is_dir():
        if not is_label_folder(path):
            raise DataError(
                f"{spec}: a folder of labelled pictures holds subfolders named 0 to 9 "
                "(3/scan-001.png is a 3)"
            )
        return _folder(path, spec, options, on_error)
    with open_file(path, spec, DataError) as f:
        head = f.read(8)
    kind = sniff(head)
    if kind == "npz":
        return (*_npz(path, spec), {})
    if kind == "idx":
        return (*_idx(path, spec), {})
    if kind == "csv":
        return (*_csv(path, spec), {})
    raise DataError(
        f"{spec}: a {kind} file holds no labels; evaluate reads labelled CSV, .npz with images "
        "and labels, IDX images beside their labels, and folders named by digit"
    )


def _folder(
    path: Path, spec: str, options: ImageOptions, on_error: Callable[[DataError], None] | None
) -> Part:
    """The pictures of a folder named by digit; a picture refused is kept (a zero row, its
    kind in the refused map) when on_error is given, as evaluate counts every input."""
    from nnmnist.engines.inputs import IMAGE_SUFFIXES
    from nnmnist.errors import Refused

    jobs: list[tuple[str, str, ImageOptions]] = []
    digits: list[int] = []
    for digit in DIGITS:
        sub = path / digit
        if not sub.is_dir():
            continue
        for root, dirs, files in os.walk(sub):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                file = os.path.join(root, name)
                jobs.append((file, os.path.join(spec, os.path.relpath(file, path)), options))
                digits.append(int(digit))
                if len(jobs) > MAX_IMAGES:
                    raise DataError(f"{spec}: more than {MAX_IMAGES:,} pictures")
    refused: dict[int, str] = {}
    names: list[str] = []
    blocks: list[NDArray[Any]] = []
    labels: list[int] = []
    for (_, shown, _), label, read in zip(  # on every core (engines.pool)
        jobs, digits, pool.ordered_map(read_named_picture, jobs), strict=True
    ):
        if isinstance(read, Refused) and on_error is not None:
            refused[len(names)] = read.reason
            read = [shown], np.zeros((1, 784), np.uint8)
        elif isinstance(read, DataError):
            if on_error is None:
                raise read
            on_error(read)
            continue
        names += read[0]
        blocks.append(read[1])
        labels.append(label)
    if not names:
        raise DataError(f"{spec}: no pictures in its digit folders")
    return names, merge_blocks(blocks), np.array(labels, dtype=np.uint8), refused


def _check_labels(raw: NDArray[Any], n: int, name: str) -> NDArray[np.uint8]:
    labels = np.asarray(raw).reshape(-1)
    if labels.shape[0] != n:
        raise DataError(f"{name}: {n:,} images but {labels.shape[0]:,} labels")
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all() or not np.array_equal(labels, np.round(labels)):
            raise DataError(f"{name}: labels must be the digits 0-9")
    elif labels.dtype.kind not in "iu":
        raise DataError(f"{name}: labels have dtype {labels.dtype}; expected the digits 0-9")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = int(np.flatnonzero((labels < 0) | (labels > 9))[0])
        raise DataError(f"{name}: label {labels[bad]} at index {bad} is not a digit 0-9")
    return labels.astype(np.uint8)


def _npz(path: Path, spec: str) -> tuple[list[str], NDArray[Any], NDArray[np.uint8]]:
    with open_file(path, spec, DataError) as f:
        members = check_npz(f, spec, DataError)
        x_name = next((m for m in NPZ_IMAGES if m in members), None)
        y_name = next((m for m in NPZ_LABELS if m in members), None)
        if x_name is None or y_name is None:
            raise DataError(
                f"{spec}: holds {', '.join(members)}; a labelled .npz holds images (x, images, "
                "x_test, ...) and labels (y, labels, y_test, ...)"
            )
        try:
            with np.load(f, allow_pickle=False) as npz:
                x, y = npz[x_name], npz[y_name]
        except (ValueError, OSError) as exc:
            raise DataError(f"{spec}: not a usable .npz file ({exc})") from None
    rows = to_pixels(as_rows(x, spec), spec)
    if x.shape in ((28, 28), (784,)):
        raise DataError(f"{spec}: one image; a labelled .npz holds (N, 784) or (N, 28, 28)")
    labels = _check_labels(y, rows.shape[0], spec)
    return row_names(spec, 0, rows.shape[0]), rows, labels


def labels_beside(path: Path) -> Path:
    """The labels file beside an IDX images file, by MNIST's naming."""
    if not _IDX_IMAGES.search(path.name):
        raise DataError(
            f"{path}: an IDX images file for evaluate is named like t10k-images-idx3-ubyte, "
            "with its labels beside it as t10k-labels-idx1-ubyte"
        )
    stem = _IDX_IMAGES.sub(lambda m: f"labels{m.group(1)}idx1", path.name).removesuffix(".gz")
    for candidate in (stem, stem + ".gz"):
        if (path.parent / candidate).exists():
            return path.parent / candidate
    raise DataError(f"{path}: no labels file beside it ({stem}[.gz])")


def _idx(path: Path, spec: str) -> tuple[list[str], NDArray[Any], NDArray[np.uint8]]:
    labels_path = labels_beside(path)
    n_images, n_labels = idx.image_count(path), idx.label_count(labels_path)
    if n_images != n_labels:
        raise DataError(
            f"{spec}: {n_images:,} images but {labels_path.name} has {n_labels:,} labels"
        )
    if n_images > MAX_IMAGES:
        raise DataError(f"{spec}: {n_images:,} images; evaluate reads at most {MAX_IMAGES:,}")
    images = idx.read_images(path)
    labels = idx.read_labels(labels_path)
    return row_names(spec, 0, n_images), images, labels


def _csv(path: Path, spec: str) -> tuple[list[str], NDArray[Any], NDArray[np.uint8]]:
    rows: list[tuple[int, str]] = []
    labels: list[int] = []
    with text_stream(open_file(path, spec, DataError)) as text:
        try:
            for lineno, raw in bounded_lines(text, spec, DataError):
                line = raw.strip().lstrip("\ufeff") if lineno == 1 else raw.strip()
                if not line or (not rows and is_header(line)):
                    continue
                label, sep, values = line.partition(",")
                if not sep or label.strip() not in DIGITS:
                    raise DataError(
                        f"{spec}: line {lineno}: the first value {label.strip()[:20]!r} is not a "
                        "label 0-9 (evaluate reads CSV rows of a label and 784 pixel values)"
                    )
                rows.append((lineno, values))
                labels.append(int(label))
                if len(rows) > MAX_IMAGES:
                    raise DataError(f"{spec}: more than {MAX_IMAGES:,} rows")
        except UnicodeDecodeError:
            raise DataError(f"{spec}: not a recognised input (not UTF-8 text)") from None
    if not rows:
        raise DataError(f"{spec}: no rows of a label and pixel values")
    pixels = to_pixels(parse_csv_rows(rows, spec, labelled=True), spec)
    names = row_names(spec, 0, len(rows))
    return names, pixels, np.array(labels, dtype=np.uint8)
