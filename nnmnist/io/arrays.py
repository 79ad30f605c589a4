"""Pixel arrays from files: .npy (read as it goes), .npz, CSV rows and IDX, in batches of
(names, (batch, 784) pixels): uint8 when the values are whole numbers 0-255, float32 in [0, 1]
otherwise. Pictures are vision/'s; gathering inputs of every kind in order is engines/inputs.py.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from nnmnist.errors import DataError, InputNotice
from nnmnist.io import idx
from nnmnist.io.npyfile import NpyHeader, check_npy, check_npz
from nnmnist.io.reading import bounded_lines, open_file

Batch = tuple[list[str], NDArray[Any]]


_NUMERIC_CSV = re.compile(r"[^0-9.,\s]")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?")
NPZ_IMAGES = ("images", "x", "X", "x_test", "X_test", "data")
NPZ_LABELS = ("labels", "y", "Y", "y_test", "Y_test", "targets")


def to_pixels(a: NDArray[Any], name: str) -> NDArray[Any]:
    """Check a (n, 784) block of pixel values 0-255 and give it the dtype forward() expects."""
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind in "iu":
        if a.size and (a.min() < 0 or a.max() > 255):
            raise DataError(f"{name}: pixel values must be 0-255, found {a.min()}..{a.max()}")
        return a.astype(np.uint8)
    if a.dtype.kind != "f":
        raise DataError(f"{name}: pixels have dtype {a.dtype}; expected integers or floats 0-255")
    if not np.isfinite(a).all():
        raise DataError(f"{name}: pixel values include NaN or infinity")
    if a.size and (a.min() < 0 or a.max() > 255):
        raise DataError(f"{name}: pixel values must be 0-255, found {a.min():g}..{a.max():g}")
    if a.size and a.max() <= 1.0 and a.max() > 0:
        # Already divided by 255 (the book's normalize=True): read as such, and say so. As
        # 0-255 values these would be a black picture.
        source = name.rsplit(":", 1)[0] if ":" in name else name
        warnings.warn(
            f"{source}: pixel values are within 0-1: read as already scaled to [0, 1] "
            "(multiply by 255 if they are meant as 0-255)",
            InputNotice,
            stacklevel=2,
        )
        return a.astype(np.float32)
    if np.array_equal(a, np.floor(a)):
        return a.astype(np.uint8)
    out = a.astype(np.float32)
    out /= 255
    return out


def check_shape(shape: tuple[int, ...], name: str) -> None:
    """Accept (N, 784), (N, 28, 28) or a single (28, 28) / (784,) image."""
    ok = (
        shape in ((28, 28), (784,))
        or (len(shape) == 2 and shape[1] == 784)
        or (len(shape) == 3 and shape[1:] == (28, 28))
    )
    if not ok:
        raise DataError(
            f"{name}: array of shape {shape}; expected (N, 784), (N, 28, 28) or (28, 28)"
        )


def as_rows(a: NDArray[Any], name: str) -> NDArray[Any]:
    """(N, 784), (N, 28, 28) or a single (28, 28) / (784,) image -> (N, 784), without copying."""
    check_shape(a.shape, name)
    if a.shape in ((28, 28), (784,)):
        return a.reshape(1, 784)
    return a.reshape(a.shape[0], 784)


def iter_array(a: NDArray[Any], name: str, batch_size: int) -> Iterator[Batch]:
    single = a.shape in ((28, 28), (784,))
    rows = as_rows(a, name)
    for start in range(0, rows.shape[0], batch_size):
        block = np.asarray(rows[start : start + batch_size])
        names = [name] if single else [f"{name}:{start + i}" for i in range(block.shape[0])]
        yield names, to_pixels(block, name)


def check_pixel_header(header: NpyHeader, name: str) -> None:
    """What both engines require of a .npy input before reading a row: an image shape and
    plain numbers (a zero-size dtype would make any row count fit any file size)."""
    check_shape(header.shape, name)
    if header.dtype.kind not in "biuf" or header.dtype.itemsize == 0:
        raise DataError(f"{name}: pixels have dtype {header.dtype}; expected numbers 0-255")


def read_npy_rows(path: Path, name: str, start: int, stop: int) -> NDArray[Any]:
    """Rows start..stop-1 of a (N, 784) or (N, 28, 28) .npy as (stop - start, 784), read with
    plain reads: a memory map would keep every page it touched resident until the end.
    Fortran-ordered arrays are memory-mapped instead."""
    with open_file(path, name, DataError) as f:
        header = check_npy(f, os.fstat(f.fileno()).st_size, name, DataError)
        check_pixel_header(header, name)
        if header.fortran_order:  # rows are not contiguous: map the file, copy the rows out
            mapped = np.memmap(f, header.dtype, "r", header.data_offset, header.shape, order="F")
            return np.array(as_rows(mapped, name)[start:stop])
        f.seek(header.data_offset + start * 784 * header.dtype.itemsize)
        n = stop - start
        return np.fromfile(f, dtype=header.dtype, count=n * 784).reshape(n, 784)


def iter_npy_file(path: Path, name: str, batch_size: int) -> Iterator[Batch]:
    """A .npy file batch by batch, read in order from one open file: memory stays at one
    batch."""
    with open_file(path, name, DataError) as f:
        header = check_npy(f, os.fstat(f.fileno()).st_size, name, DataError)
        check_pixel_header(header, name)
        shape = header.shape
        if shape in ((28, 28), (784,)):
            yield [name], to_pixels(read_npy_rows(path, name, 0, 1), name)
            return
        if header.fortran_order:
            for start in range(0, shape[0], batch_size):
                stop = min(start + batch_size, shape[0])
                yield (
                    row_names(name, start, stop),
                    to_pixels(read_npy_rows(path, name, start, stop), name),
                )
            return
        f.seek(header.data_offset)
        for start in range(0, shape[0], batch_size):
            n = min(batch_size, shape[0] - start)
            data = f.read(n * 784 * header.dtype.itemsize)  # 2x np.fromfile's speed here
            if len(data) != n * 784 * header.dtype.itemsize:  # the file shrank since its header
                raise DataError(f"{name}: truncated while it was read")
            block = np.frombuffer(data, dtype=header.dtype)  # read-only: nothing writes pixels
            yield row_names(name, start, start + n), to_pixels(block.reshape(n, 784), name)


def row_names(name: str, start: int, stop: int) -> list[str]:
    """file.npy:0, file.npy:1, ...: an input's rows as result lines name them."""
    return [f"{name}:{i}" for i in range(start, stop)]


def load_npy(source: BinaryIO, name: str) -> NDArray[Any]:
    """A whole .npy held in memory (standard input), its header checked against its size."""
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    check_npy(source, size, name, DataError)
    source.seek(0)
    try:
        a = np.load(source, allow_pickle=False)
    except ValueError as exc:
        raise DataError(f"{name}: not a usable .npy file ({exc})") from None
    if not isinstance(a, np.ndarray):
        raise DataError(f"{name}: not a .npy array")
    return a


def _expected_npz_member(member: str) -> bool:
    return member in NPZ_IMAGES or member in NPZ_LABELS


def load_npz(source: Path | BinaryIO, name: str) -> NDArray[Any]:
    """The images array of an .npz: every member checked (headers, total size) first."""
    if isinstance(source, Path):
        with open_file(source, name, DataError) as f:
            return load_npz(f, name)
    names = check_npz(source, name, DataError)
    if len(names) > 1 and not all(_expected_npz_member(m) for m in names):
        unexpected = next(m for m in names if not _expected_npz_member(m))
        raise DataError(
            f"{name}: refused: an unexpected member {unexpected[:80]!r} (an .npz input holds "
            f"one array, or images as one of {', '.join(NPZ_IMAGES)} beside their labels)"
        )
    member = names[0] if len(names) == 1 else next((m for m in NPZ_IMAGES if m in names), None)
    if member is None:
        raise DataError(
            f"{name}: holds {', '.join(names)}; name the images array one of "
            f"{', '.join(NPZ_IMAGES)}"
        )
    try:
        with np.load(source, allow_pickle=False) as npz:
            return np.asarray(npz[member])
    except (ValueError, OSError) as exc:
        raise DataError(f"{name}: not a usable .npz file ({exc})") from None


def parse_csv_rows(lines: list[tuple[int, str]], name: str, labelled: bool = False) -> NDArray[Any]:
    """Rows of 784 pixel values; labelled: the caller took each row's label off already."""
    rows = []
    for lineno, line in lines:
        n = line.count(",") + 1
        if labelled and n != 784:
            raise DataError(
                f"{name}: line {lineno} has {n + 1} values; expected 785 (a label and 784 pixels)"
            )
        if n == 785 and not labelled:
            line = line.split(",", 1)[1]  # a leading label column
        elif n != 784:
            raise DataError(
                f"{name}: line {lineno} has {n} values; expected 784 (or 785 with a label)"
            )
        rows.append(line)
    text = ",".join(rows)
    if bad := _NUMERIC_CSV.search(text):
        lineno = next(no for no, line in lines if _NUMERIC_CSV.search(line))
        raise DataError(
            f"{name}: line {lineno}: {bad.group()!r} is not part of a pixel value 0-255"
        )
    try:
        values = np.array(text.split(","), dtype=np.float64)
    except ValueError:
        lineno = lines[0][0]
        raise DataError(
            f"{name}: lines {lineno}-{lines[-1][0]}: a value is empty or malformed"
        ) from None
    return values.reshape(len(rows), 784)


def is_header(line: str) -> bool:
    return not any(_NUMBER.fullmatch(field.strip()) for field in line.split(","))


def iter_csv(stream: IO[str], name: str, batch_size: int) -> Iterator[Batch]:
    pending: list[tuple[int, str]] = []
    index = 0
    seen_data = False
    for lineno, raw in bounded_lines(stream, name, DataError):
        line = raw.strip()
        if lineno == 1:
            line = line.lstrip("\ufeff")  # a byte-order mark
        if not line:
            continue
        if not seen_data and is_header(line):
            continue  # a header row: no field in it is a number
        seen_data = True
        pending.append((lineno, line))
        if len(pending) == batch_size:
            block = parse_csv_rows(pending, name)
            yield [f"{name}:{index + i}" for i in range(len(block))], to_pixels(block, name)
            index += len(block)
            pending = []
    if pending:
        block = parse_csv_rows(pending, name)
        yield [f"{name}:{index + i}" for i in range(len(block))], to_pixels(block, name)
        index += len(block)
    if index == 0:
        raise DataError(f"{name}: no rows of pixel values")


def sniff(head: bytes) -> str:
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04"):
        return "npz"
    if head.startswith(idx.GZIP_MAGIC) or idx.is_idx_header(head):
        return "idx"
    return "csv"
