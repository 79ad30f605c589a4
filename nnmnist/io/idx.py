"""IDX files, the format MNIST ships in: a big-endian header, then raw unsigned bytes.

Header: two zero bytes, a type byte (0x08 = unsigned byte, the only type MNIST uses), the number
of dimensions, then one 4-byte big-endian size per dimension. Images are (count, 28, 28),
labels (count,). Files may be gzipped; that is detected from the content, not the name.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from nnmnist.errors import DataError
from nnmnist.io.reading import open_file

UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"
# what a damaged gzip stream raises, depending on where the damage is
GZIP_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error)


def is_idx_header(head: bytes) -> bool:
    """True if these first bytes look like an IDX header of unsigned bytes."""
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] == UBYTE and 1 <= head[3] <= 3


def _open(path: Path) -> BinaryIO:
    """An IDX file, gunzipped as it is read if it is gzipped; its header checked against the
    file's size first, so that no payload is read for a count the file cannot hold."""
    raw = open_file(path, str(path), DataError)
    try:
        _check_size(raw, path)
    except BaseException:
        raw.close()
        raise
    return _wrap(raw)


# deflate cannot expand data more than about 1032 times
MAX_GZIP_RATIO = 1032


def _check_size(raw: BinaryIO, path: Path) -> None:
    size = os.fstat(raw.fileno()).st_size
    head = raw.read(16)
    raw.seek(0)
    if head[:2] == GZIP_MAGIC or not is_idx_header(head):
        if head[:2] == GZIP_MAGIC and size < 20:
            raise DataError(f"{path}: truncated gzip data ({size} bytes)")
        return  # gzipped: the header is checked against the compressed size once inflated
    ndim = head[3]
    if len(head) < 4 + 4 * ndim:
        return  # reported by the header reader, with its own words
    dims = struct.unpack(f">{ndim}I", head[4 : 4 + 4 * ndim])
    need = 4 + 4 * ndim + math.prod(dims)
    if need != size:
        raise DataError(
            f"{path}: the header announces {dims[0]:,} records ({need:,} bytes with the header) "
            f"but the file holds {size:,} bytes"
            + (" (trailing bytes)" if size > need else " (truncated)")
        )


def check_gzip_can_hold(path: Path, compressed: int, need: int) -> None:
    if need > compressed * MAX_GZIP_RATIO + 1024:
        raise DataError(
            f"{path}: the header announces {need:,} bytes of records, more than {compressed:,} "
            "bytes of gzip data can hold"
        )


def _wrap(f: BinaryIO) -> BinaryIO:
    buffered = f if hasattr(f, "peek") else io.BufferedReader(f)  # type: ignore[arg-type,type-var]
    if buffered.peek(2)[:2] == GZIP_MAGIC:  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    return buffered


def _read_exact(f: BinaryIO, n: int, path: Path, what: str) -> bytes:
    # Read in slices so that a header claiming billions of records cannot make us allocate them.
    parts, got = [], 0
    try:
        while got < n:
            chunk = f.read(min(n - got, 1 << 24))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    except GZIP_ERRORS as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    data = b"".join(parts)
    if len(data) != n:
        raise DataError(f"{path}: truncated: {what} needs {n} bytes, the file has {len(data)}")
    return data


def _read_header(f: BinaryIO, path: Path, ndim: int) -> tuple[int, ...]:
    dims = _parse_header(f, path, ndim)
    if isinstance(f, gzip.GzipFile):
        raw = f.fileobj
        if raw is not None and hasattr(raw, "fileno"):
            try:
                size = os.fstat(raw.fileno()).st_size
            except (OSError, io.UnsupportedOperation):
                size = None  # a pipe: the stream stops at the expected size instead
            if size:
                check_gzip_can_hold(path, size, math.prod(dims))
    return dims


def _parse_header(f: BinaryIO, path: Path, ndim: int) -> tuple[int, ...]:
    magic = _read_exact(f, 4, path, "the header")
    if magic[:3] != b"\0\0\x08":
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {magic.hex()})")
    if magic[3] != ndim:
        kind = {1: "labels", 3: "images"}.get(magic[3], f"{magic[3]}-dimensional data")
        want = {1: "labels", 3: "images"}[ndim]
        raise DataError(f"{path}: holds {kind} (magic {magic.hex()}) where {want} were expected")
    dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "the header"))
    if ndim == 3 and dims[1:] != (28, 28):
        raise DataError(f"{path}: images are {dims[1]}x{dims[2]}, MNIST images are 28x28")
    return tuple(dims)


def _check_end(f: BinaryIO, path: Path) -> None:
    try:
        extra = f.read(1)
    except GZIP_ERRORS as exc:
        raise DataError(f"{path}: corrupt gzip data after the last record ({exc})") from None
    if extra:
        raise DataError(f"{path}: trailing bytes after the records the header announces")


def _verify(path: Path, ndim: int) -> None:
    """Read a whole IDX file once (header, exact length, gzip CRC) without keeping its data."""
    with _open(path) as f:
        dims = _read_header(f, path, ndim)
        remaining = 1
        for d in dims:
            remaining *= d
        try:
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 22))
                if not chunk:
                    raise DataError(
                        f"{path}: truncated: the header announces {dims[0]} records, "
                        f"{remaining} bytes are missing"
                    )
                remaining -= len(chunk)
        except GZIP_ERRORS as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
        _check_end(f, path)


def verify_images(path: str | os.PathLike[str]) -> None:
    """Read an IDX3 file through once (header, exact length, gzip CRC), keeping nothing."""
    _verify(Path(path), 3)


def read_images(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """All images of an IDX3 file as a (count, 784) uint8 array."""
    # all or nothing already: no separate verification pass
    return np.concatenate(list(iter_images(path, batch_size=1 << 30, verify=False)) or [_empty()])


def _empty() -> NDArray[np.uint8]:
    return np.zeros((0, 784), dtype=np.uint8)


def iter_images(
    path: str | os.PathLike[str],
    batch_size: int = 1000,
    fileobj: BinaryIO | None = None,
    verify: bool = True,
) -> Iterator[NDArray[np.uint8]]:
    """Images of an IDX3 file in (<= batch_size, 784) uint8 batches, read as they are needed.

    With fileobj (a binary stream such as stdin, gzipped or not), read from it instead and use
    path only to name it in errors (a stream cannot be verified before it is used). verify:
    read a file through once first, so that a broken one fails before any batch is yielded.
    """
    path = Path(path)
    if fileobj is None and verify:
        _verify(path, 3)  # a broken file fails before any of its images is used
    with _open(path) if fileobj is None else _wrap(fileobj) as f:
        count, _, _ = _read_header(f, path, 3)
        done = 0
        while done < count:
            n = min(batch_size, count - done)
            data = _read_exact(f, n * 784, path, f"{count} images of 28x28")
            yield np.frombuffer(data, dtype=np.uint8).reshape(n, 784)
            done += n
        _check_end(f, path)


def read_image_range(path: str | os.PathLike[str], start: int, stop: int) -> NDArray[np.uint8]:
    """Images start..stop-1 of an IDX3 file as (stop - start, 784) uint8, reading only those
    (a gzipped file is decompressed up to stop)."""
    path = Path(path)
    with _open(path) as f:
        count, _, _ = _read_header(f, path, 3)
        if not 0 <= start <= stop <= count:
            raise DataError(f"{path}: images {start}..{stop} are outside its {count}")
        if f.seekable() and not isinstance(f, gzip.GzipFile):
            f.seek(16 + start * 784)
        else:
            skip = start * 784  # through the stream, a slice at a time
            while skip > 0:
                skip -= len(_read_exact(f, min(skip, 1 << 22), path, f"{start} images"))
        data = _read_exact(f, (stop - start) * 784, path, f"images {start}..{stop}")
    return np.frombuffer(data, dtype=np.uint8).reshape(stop - start, 784)


def image_count(path: str | os.PathLike[str]) -> int:
    """The number of images an IDX3 file's header announces."""
    path = Path(path)
    with _open(path) as f:
        return _read_header(f, path, 3)[0]


def label_count(path: str | os.PathLike[str]) -> int:
    """The number of labels an IDX1 file's header announces."""
    path = Path(path)
    with _open(path) as f:
        return _read_header(f, path, 1)[0]


def read_labels(path: str | os.PathLike[str]) -> NDArray[np.uint8]:
    """Labels of an IDX1 file, each checked to be a digit 0-9."""
    path = Path(path)
    with _open(path) as f:
        (count,) = _read_header(f, path, 1)
        labels = np.frombuffer(_read_exact(f, count, path, f"{count} labels"), dtype=np.uint8)
        _check_end(f, path)
    if labels.size and labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{path}: label {labels[bad]} at index {bad} is not a digit 0-9")
    return labels


def write_idx(
    path: str | os.PathLike[str], array: NDArray[np.uint8], gzipped: bool = False
) -> None:
    """Write a uint8 array (labels (n,) or images (n, 28, 28)) as an IDX file."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    buf = io.BytesIO()
    buf.write(bytes([0, 0, UBYTE, array.ndim]))
    buf.write(struct.pack(f">{array.ndim}I", *array.shape))
    buf.write(array.tobytes())
    data = gzip.compress(buf.getvalue()) if gzipped else buf.getvalue()
    Path(path).write_bytes(data)
