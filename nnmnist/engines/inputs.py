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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from nnmnist.engines import pool
from nnmnist.errors import DataError, Refused
from nnmnist.io import idx
from nnmnist.io.arrays import (
    Batch,
    iter_array,
    iter_csv,
    iter_npy_file,
    load_npy,
    load_npz,
    sniff,
)
from nnmnist.io.reading import (
    MAX_LOADED_BYTES,
    MAX_PATH_LINE,
    bounded_lines,
    open_file,
    read_capped,
    text_stream,
)

STDIN = "-"


class UngatedPicture(tuple):  # type: ignore[type-arg]
    """A picture's Batch that the digit-or-not gate has yet to see (ImageOptions.gate_later):
    iter_batches asks it about many pictures at once."""


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


def gather(inputs: list[str], stdin: BinaryIO | None = None) -> list[str]:
    """The inputs with folders walked, patterns expanded and, for - , the paths piped on
    stdin (when it holds paths, not pixel data; give the peekable stream)."""
    specs: list[str] = []
    for spec in inputs:
        if spec == STDIN and stdin is not None and stdin_holds_paths(stdin):
            specs.extend(stdin_paths(stdin))
        else:
            specs.extend(expand([spec]))
    if not specs:
        raise DataError(f"{' '.join(inputs)}: no image or array files found")
    return specs


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
        yield from iter_npy_file(path, spec, batch_size)
    elif kind == "npz":
        yield from iter_array(load_npz(path, spec), spec, batch_size)
    elif kind == "idx":
        yield from _iter_idx(idx.iter_images(path, batch_size), spec)
    else:
        with text_stream(open_file(path, spec, DataError)) as text:
            try:
                yield from iter_csv(text, spec, batch_size)
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
        loader = load_npy if kind == "npy" else load_npz
        yield from iter_array(loader(buf, name), name, batch_size)
    else:
        text = text_stream(stream)
        try:
            yield from iter_csv(text, name, batch_size)
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
    for spec, source in _sources(list(specs), batch_size, stdin, images):
        try:
            if isinstance(source, DataError):
                raise source
            for batch in source:
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


def _sources(
    specs: list[str], batch_size: int, stdin: BinaryIO | None, images: ImageOptions | None
) -> Iterator[tuple[str, Iterable[Batch] | DataError]]:
    """(spec, its batches or the DataError reading it raised), in input order: picture files
    decoded and prepared on every core (engines.pool), the others here as they come."""
    options = images or ImageOptions()
    parallel = options.stages is None  # stage files are named here, one picture at a time
    pictures = {
        i
        for i, spec in enumerate(specs)
        if parallel and spec != STDIN and Path(spec).suffix.lower() in IMAGE_SUFFIXES
    }
    if len(pictures) < pool.MIN_ITEMS:  # read here, lazily, as any other input
        pictures = set()
    done = pool.ordered_map(read_picture, [(specs[i], options) for i in sorted(pictures)])
    for i, spec in enumerate(specs):
        if i in pictures:
            yield spec, next(done)
        else:
            yield spec, iter_source(spec, batch_size, stdin, images)


def read_picture(job: tuple[str, ImageOptions]) -> list[Batch] | DataError:
    """One picture file's batch, or the DataError reading it raised (for a worker process:
    both are sent back as values)."""
    spec, options = job
    try:
        return list(iter_source(spec, 1, None, options))
    except DataError as exc:
        return exc


def read_named_picture(job: tuple[str, str, ImageOptions]) -> Batch | DataError:
    """A picture file (path) read as image_batch reads it under a name of its own, or the
    DataError that raised (for a worker process)."""
    path, name, options = job
    try:
        return image_batch(Path(path), name, options)
    except DataError as exc:
        return exc


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
