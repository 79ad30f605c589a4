"""Inputs for predict: image, IDX, .npy, .npz and CSV files (or stdin), read in batches.

Every reader yields (names, pixels) with pixels of shape (batch, 784): uint8 when the values are
whole numbers 0-255, float32 in [0, 1] otherwise. Memory stays bounded by the batch size for
files (.npy, IDX and CSV are read as they go); a whole .npz member is loaded.
"""

from __future__ import annotations

import glob
import io
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from nnmnist.errors import DataError, InputNotice, Refused
from nnmnist.io import idx
from nnmnist.io.npyfile import NpyHeader, check_npy, check_npz
from nnmnist.io.reading import (
    MAX_LOADED_BYTES,
    MAX_PATH_LINE,
    bounded_lines,
    open_file,
    read_capped,
    text_stream,
)

Batch = tuple[list[str], NDArray[Any]]


class UngatedPicture(tuple):  # type: ignore[type-arg]
    """A picture's Batch that the digit-or-not gate has yet to see (ImageOptions.gate_later):
    iter_batches asks it about many pictures at once."""


STDIN = "-"
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


def _iter_array(a: NDArray[Any], name: str, batch_size: int) -> Iterator[Batch]:
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


def _iter_npy_file(path: Path, name: str, batch_size: int) -> Iterator[Batch]:
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


def _load_npy(source: BinaryIO, name: str) -> NDArray[Any]:
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


def _load_npz(source: Path | BinaryIO, name: str) -> NDArray[Any]:
    """The images array of an .npz: every member checked (headers, total size) first."""
    if isinstance(source, Path):
        with open_file(source, name, DataError) as f:
            return _load_npz(f, name)
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


def _iter_csv(stream: IO[str], name: str, batch_size: int) -> Iterator[Batch]:
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


@dataclass(frozen=True)
class ImageOptions:
    invert: bool | None = None  # None: detect the polarity from the paper
    raw: bool = False  # the images are MNIST-style 28x28 already: no preprocessing
    any_shape: bool = False  # predict ink that does not look like one digit (noise, a number)
    stages: Path | None = None  # a folder for every preprocessing stage of every picture
    stage_names: Any = field(default=None, compare=False)  # outputs.FileNames, with stages
    overwrite: bool = False  # --force: stage files may replace earlier ones
    gate_later: bool = False  # iter_batches runs the digit-or-not gate over a batch at once


ARRAY_SUFFIXES = frozenset({".npy", ".npz", ".csv"})
# Pictures, known by name or by their first bytes here (no Pillow import to decide that)
IMAGE_SUFFIXES = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".bmp",
        ".gif",
        ".tif",
        ".tiff",
        ".pgm",
        ".pbm",
        ".ppm",
        ".pnm",
        ".webp",
    }
)
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


def looks_like_image(path: Path, head: bytes) -> bool:
    """A picture by its suffix or its magic bytes (PNG, JPEG, GIF, BMP, TIFF, WebP, PNM)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    if head.startswith(_MAGIC):
        return True
    return len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"123456"  # PBM/PGM/PPM


_WILDCARDS = re.compile(r"[*?[]")


def _walk(folder: Path) -> Iterator[str]:
    """Image and array files under a folder, recursively, in sorted order (hidden ones skipped)."""
    wanted = IMAGE_SUFFIXES | ARRAY_SUFFIXES
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in wanted:
                yield os.path.join(root, name)


def _is_dir(spec: str) -> bool:
    try:
        return spec != STDIN and Path(spec).is_dir()
    except OSError:  # a name too long, say: reported as an unreadable file in its turn
        return False


def _exists(spec: str) -> bool:
    try:
        return Path(spec).exists()
    except OSError:
        return False


def expand(specs: Iterable[str]) -> Iterator[str]:
    """Inputs as given, with folders walked and glob patterns (unexpanded by a shell) expanded."""
    for spec in specs:
        if _is_dir(spec):
            yield from _walk(Path(spec))
        elif spec != STDIN and not _exists(spec) and _WILDCARDS.search(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                yield spec  # reported as a missing file, in its turn
            for match in matches:
                yield from expand([match])
        else:
            yield spec


def peekable(stdin: BinaryIO) -> BinaryIO:
    """The stream itself if it can peek, else one buffered reader over it (make it once)."""
    return stdin if hasattr(stdin, "peek") else io.BufferedReader(stdin)  # type: ignore[arg-type,type-var]


_NUMBERS = re.compile(rb"^[\s0-9.,+\-eE]*$")


def stdin_holds_paths(stdin: BinaryIO) -> bool:
    """True if standard input is a list of paths, one per line, rather than pixel data."""
    stream = peekable(stdin)
    head = stream.peek(1 << 16)  # type: ignore[attr-defined]
    if sniff(head[:8]) != "csv" or not head.strip():
        return False
    if looks_like_image(Path(""), head[:8]) or b"\0" in head[:512]:
        return False  # a picture, or other binary data: read by content
    first: bytes = head.lstrip().split(b"\n", 1)[0]
    if _NUMBERS.match(first):
        return False  # a row of numbers, however short, is pixel data (and says what is wrong)
    # A CSV row of 784 values has a comma every few bytes; a path hardly ever has one. (The peek
    # may hold only part of a long first line, so count what is there.)
    return first.count(b",") < 10


def stdin_paths(stdin: BinaryIO) -> Iterator[str]:
    """The paths listed on standard input, expanded like command-line inputs.

    Names are bytes on Linux: ones that are not UTF-8 are kept with surrogate escapes (as
    Python does for command-line arguments), so they still open and are shown escaped.
    """
    text = io.TextIOWrapper(peekable(stdin), encoding="utf-8", errors="surrogateescape")
    for lineno, line in bounded_lines(text, "standard input", DataError, MAX_PATH_LINE):
        if "\0" in line:
            raise DataError(f"standard input: line {lineno} holds a NUL byte, not a path")
        if line := line.strip():
            yield from expand([line])


def image_batch(path: Path, spec: str, options: ImageOptions) -> Batch:
    from nnmnist.vision import images as imagefiles

    return _image_rows(imagefiles.load_image(path, spec), spec, options)


def _image_rows(im: Any, spec: str, options: ImageOptions) -> Batch:
    from nnmnist.vision import images as imagefiles

    gate_later = options.gate_later and not options.raw and not options.any_shape
    try:
        if options.raw:
            digit = imagefiles.raw_image(im, options.invert, spec)
        else:
            stages: dict[str, Any] | None = {} if options.stages is not None else None
            try:
                digit = imagefiles.preprocess(
                    im, options.invert, spec, not options.any_shape, stages, not gate_later
                )
            finally:
                if stages and options.stages is not None:
                    stem = options.stage_names(spec).removesuffix(".png")
                    imagefiles.save_stages(
                        stages, options.stages, stem, overwrite=options.overwrite
                    )
    finally:
        im.close()
    if gate_later:
        return UngatedPicture(([spec], digit.reshape(1, 784)))
    return [spec], digit.reshape(1, 784)


def iter_source(
    spec: str, batch_size: int, stdin: BinaryIO | None = None, images: ImageOptions | None = None
) -> Iterator[Batch]:
    """Batches from one input: an image or array file, or "-" for pixel data on stdin."""
    if spec == STDIN:
        if stdin is None:
            raise DataError("-: no standard input")
        stream = peekable(stdin)
        head = stream.peek(8)[:8]  # type: ignore[attr-defined]
        yield from _iter_stream(stream, head, "stdin", batch_size)
        return
    path = Path(spec)
    if _is_dir(spec):
        raise DataError(f"{spec}: is a folder; give the files inside it")
    with open_file(path, spec, DataError) as f:
        head = f.read(8)
    if looks_like_image(path, head):
        yield image_batch(path, spec, images or ImageOptions())
        return
    kind = sniff(head)
    if kind == "npy":
        yield from _iter_npy_file(path, spec, batch_size)
    elif kind == "npz":
        yield from _iter_array(_load_npz(path, spec), spec, batch_size)
    elif kind == "idx":
        yield from _iter_idx(idx.iter_images(path, batch_size), spec)
    else:
        with text_stream(open_file(path, spec, DataError)) as text:
            try:
                yield from _iter_csv(text, spec, batch_size)
            except UnicodeDecodeError:
                raise DataError(
                    f"{spec}: not a recognised input (an image, IDX, .npy, .npz or CSV)"
                ) from None


def _iter_idx(blocks: Iterator[NDArray[np.uint8]], name: str) -> Iterator[Batch]:
    index = 0
    for block in blocks:
        yield [f"{name}:{index + i}" for i in range(len(block))], block
        index += len(block)


def _iter_stream(stream: BinaryIO, head: bytes, name: str, batch_size: int) -> Iterator[Batch]:
    if looks_like_image(Path(""), head):  # a picture piped in: read by content, bounded
        from nnmnist.io.reading import MAX_IMAGE_FILE_BYTES
        from nnmnist.vision.images import open_image

        data = read_capped(stream, name, DataError, MAX_IMAGE_FILE_BYTES)
        yield _image_rows(open_image(io.BytesIO(data), name), name, ImageOptions())
        return
    kind = sniff(head)
    if kind == "idx":
        yield from _iter_idx(idx.iter_images(name, batch_size, fileobj=stream), name)
    elif kind in ("npy", "npz"):
        buf = io.BytesIO(read_capped(stream, name, DataError, MAX_LOADED_BYTES))
        loader = _load_npy if kind == "npy" else _load_npz
        yield from _iter_array(loader(buf, name), name, batch_size)
    else:
        text = text_stream(stream)
        try:
            yield from _iter_csv(text, name, batch_size)
        except UnicodeDecodeError:
            raise DataError(f"{name}: not a recognised input (IDX, .npy, .npz or CSV)") from None


def iter_batches(
    specs: Iterable[str],
    batch_size: int,
    stdin: BinaryIO | None = None,
    *,
    images: ImageOptions | None = None,
    on_error: Callable[[DataError], None] | None = None,
    on_input: Callable[[str], None] | None = None,
) -> Iterator[Batch]:
    """Batches of up to batch_size images across all inputs, in input order.

    With on_error, an input that fails (an unreadable or blank image, a broken file) is passed
    to it and the others go on; without, the first failure is raised. on_input is told of each
    input once it has been read (a progress display advances by files, not by batches).
    """
    for names, pixels, failed in iter_placed(
        specs, batch_size, stdin, images=images, on_error=on_error, on_input=on_input
    ):
        if failed:
            keep = [i for i in range(len(names)) if i not in failed]
            names, pixels = [names[i] for i in keep], pixels[keep]
        if names:
            yield names, pixels


Failed = dict[int, str]  # row of a batch -> why it holds no picture ("refused: blank", ...)
PlacedBatch = tuple[list[str], NDArray[Any], Failed]


def why_failed(exc: DataError) -> str:
    """The short reason a result line gives for an input without a label."""
    return f"refused: {exc.reason}" if isinstance(exc, Refused) else "could not be read"


def iter_placed(
    specs: Iterable[str],
    batch_size: int,
    stdin: BinaryIO | None = None,
    *,
    images: ImageOptions | None = None,
    on_error: Callable[[DataError], None] | None = None,
    on_input: Callable[[str], None] | None = None,
) -> Iterator[PlacedBatch]:
    """iter_batches, where an input that fails (with on_error) keeps its place: one row of
    zeros named after it, its row in the batch's Failed with the reason (why_failed); so does a
    picture the digit-or-not gate refuses. One row per input, in input order, for predict's
    one line per input."""
    pending = _Pending()
    for spec in specs:
        try:
            for batch in iter_source(spec, batch_size, stdin, images):
                pending.add(batch[0], batch[1], isinstance(batch, UngatedPicture))
                while len(pending) >= batch_size:
                    yield pending.take(batch_size, on_error)
        except DataError as exc:
            if on_error is None:
                raise
            on_error(exc)
            pending.add([spec], np.zeros((1, 784), np.uint8), why=why_failed(exc))
        if on_input is not None:
            on_input(spec)
        if len(pending) >= batch_size:  # a failed input may have filled the batch
            yield pending.take(batch_size, on_error)
    if len(pending):
        yield pending.take(len(pending), on_error)


class _Pending:
    """Rows read and not yet yielded: their names, blocks of pixels, the rows that are
    pictures the digit-or-not gate has yet to see, and the rows that failed."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.blocks: list[NDArray[Any]] = []
        self.unseen: list[int] = []
        self.failed: Failed = {}

    def __len__(self) -> int:
        return len(self.names)

    def add(
        self, names: list[str], block: NDArray[Any], ungated: bool = False, why: str | None = None
    ) -> None:
        at = len(self.names)
        if ungated:
            self.unseen.extend(range(at, at + len(names)))
        if why is not None:
            self.failed[at] = why
        self.names.extend(names)
        self.blocks.append(block)

    def take(self, n: int, on_error: Callable[[DataError], None] | None) -> PlacedBatch:
        """The first n rows, gated; the rest stay."""
        merged = merge_blocks(self.blocks)
        head = [i for i in self.unseen if i < n]
        failed = {i: why for i, why in self.failed.items() if i < n}
        batch = _gated(self.names[:n], merged[:n], head, failed, on_error)
        self.names, self.blocks = self.names[n:], [merged[n:]]
        self.unseen = [i - n for i in self.unseen if i >= n]
        self.failed = {i - n: why for i, why in self.failed.items() if i >= n}
        return batch


def _gated(
    names: list[str],
    pixels: NDArray[Any],
    rows: list[int],
    failed: Failed,
    on_error: Callable[[DataError], None] | None,
) -> PlacedBatch:
    """The batch with the pictures (at rows) that the digit-or-not gate calls not a digit
    turned into rows of zeros, their reasons added to failed: one call for all of them (0.06 ms
    a picture, against 0.16 ms one by one). Each one refused is passed to on_error (raised
    without)."""
    if not rows:
        return names, pixels, failed
    from nnmnist.vision.images import gate_refusals

    refused = gate_refusals(pixels[rows], [names[row] for row in rows])
    for _, error in refused:
        if on_error is None:
            raise error
        on_error(error)
    if not refused:
        return names, pixels, failed
    pixels = pixels.copy()
    for k, error in refused:
        pixels[rows[k]] = 0
        failed[rows[k]] = why_failed(error)
    return names, pixels, dict(sorted(failed.items()))


def merge_blocks(blocks: list[NDArray[Any]]) -> NDArray[Any]:
    if len(blocks) == 1:
        return blocks[0]
    if any(b.dtype != np.uint8 for b in blocks):
        return np.concatenate(
            [b if b.dtype != np.uint8 else b.astype(np.float32) / 255 for b in blocks]
        )
    return np.concatenate(blocks)
