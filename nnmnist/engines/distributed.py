"""The Dask engine: predict and evaluate chunk by chunk on Dask, in input order.

Nothing here does arithmetic of its own: each chunk goes through the same forward pass and the
same line formatting as the local engine, and chunks hold a whole number of batches, so the
same inputs give the same bytes. Without a scheduler address the chunks run on Dask's local
threaded scheduler; with one (tcp://host:port) on a running `dask scheduler` and its workers,
which receive the weights once (scattered, broadcast) and read their chunk of the input
themselves: the input paths must be visible to the workers (a shared file system).
"""

from __future__ import annotations

import collections
import contextlib
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnmnist.core.evaluation import Evaluation, evaluate
from nnmnist.core.network import Network
from nnmnist.engines.inputs import ImageOptions, image_batch, merge_blocks, why_failed
from nnmnist.engines.local import answer
from nnmnist.errors import DataError, NnmnistError, SourceUnavailableError
from nnmnist.io import idx
from nnmnist.io import mnist as datasets
from nnmnist.io.arrays import Batch, check_pixel_header, read_npy_rows, row_names, sniff, to_pixels
from nnmnist.io.atomic import write_file
from nnmnist.io.formats import SUFFIXES, BlankRows
from nnmnist.io.npyfile import check_npy
from nnmnist.io.reading import open_file

INSTALL_HINT = "the dask engine needs the optional extra: pip install 'nnmnist[dask]'"


def require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise NnmnistError(f"--engine dask: {INSTALL_HINT}") from None


@dataclass(frozen=True)
class Piece:
    """Images start..stop-1 of one input (or, with error set, an input that cannot be read)."""

    spec: str  # as given: names come from it, as in the local engine
    kind: str  # "npy", "idx", "image" or "error"
    path: str = ""  # absolute, for workers whose working folder differs
    start: int = 0
    stop: int = 0
    single: bool = False  # one image in the file: named by the path alone
    error: str = ""


def _count(spec: str) -> tuple[str, int, bool]:
    """(kind, number of images, single image) of an input, from its header alone."""
    from nnmnist.engines.inputs import looks_like_image

    path = Path(spec)
    with open_file(path, spec, DataError) as f:
        head = f.read(8)
        if looks_like_image(path, head):
            return "image", 1, True
        kind = sniff(head)
        if kind == "npy":
            f.seek(0)
            # the local engine's checks, on the client, before any chunk is planned
            header = check_npy(f, os.fstat(f.fileno()).st_size, spec, DataError)
            check_pixel_header(header, spec)
            if header.shape in ((28, 28), (784,)):
                return "npy", 1, True
            return "npy", header.shape[0], False
    if kind == "idx":
        idx.verify_images(path)  # as the local engine does: a broken file yields no result
        return "idx", idx.image_count(path), False
    raise DataError(
        f"{spec}: the dask engine reads .npy, IDX and image files; use --engine local for "
        "CSV, .npz and standard input"
    )


def plan(specs: list[str], chunk_size: int) -> list[list[Piece]]:
    """Cut the stream of all input images into chunks of chunk_size images, in order."""
    chunks: list[list[Piece]] = []
    current: list[Piece] = []
    room = chunk_size
    for spec in specs:
        try:
            kind, n, single = _count(spec)
        except DataError as exc:
            current.append(Piece(spec, "error", error=str(exc)))
            continue
        pos = 0
        while pos < n:
            take = min(room, n - pos)
            current.append(Piece(spec, kind, str(Path(spec).resolve()), pos, pos + take, single))
            pos, room = pos + take, room - take
            if room == 0:
                chunks.append(current)
                current, room = [], chunk_size
    if current:
        chunks.append(current)
    return chunks


def _read(piece: Piece, options: ImageOptions) -> Batch:
    if piece.kind == "image":
        return image_batch(Path(piece.path), piece.spec, options)
    try:
        if piece.kind == "npy":
            block = read_npy_rows(Path(piece.path), piece.spec, piece.start, piece.stop)
        else:
            block = idx.read_image_range(piece.path, piece.start, piece.stop)
    except OSError as exc:
        raise DataError(f"{piece.spec}: cannot read on the worker ({exc})") from None
    if piece.single:
        return [piece.spec], to_pixels(block, piece.spec)
    names = row_names(piece.spec, piece.start, piece.stop)
    return names, to_pixels(block, piece.spec)


@dataclass(frozen=True)
class ChunkResult:
    text: str  # the chunk's result lines (empty when they went to a file)
    images: int
    errors: list[str]
    file: str | None = None  # where the worker wrote the lines, with --output
    blanks: BlankRows = field(default_factory=BlankRows)  # all-zero rows, told at the end
    reasons: list[str] = field(default_factory=list)  # why_failed of each of errors


def blas_threads() -> int | None:
    """The number of threads this process's BLAS uses (None if it cannot be told)."""
    from threadpoolctl import threadpool_info

    for info in threadpool_info():
        if info.get("user_api") == "blas":
            return int(info["num_threads"])
    return None


def _same_blas(threads: int | None) -> contextlib.AbstractContextManager[Any]:
    """Run BLAS with the client's thread count: float32 products can differ in their last bit
    between thread counts, and Dask starts its workers with one BLAS thread."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    limits: contextlib.AbstractContextManager[Any] = threadpool_limits(
        limits=threads, user_api="blas"
    )
    return limits


def predict_chunk(
    net: Network,
    pieces: list[Piece],
    batch_size: int,
    fmt: str,
    top_k: int,
    options: ImageOptions,
    out_file: str | None,
    blas: int | None,
    min_confidence: float = 0.0,
) -> ChunkResult:
    """Read a chunk's images, predict them batch by batch, and format the lines (on a worker)."""
    names: list[str] = []
    blocks = []
    errors, reasons = [], []
    failed: dict[int, str] = {}  # rows that hold no picture: an input that failed, in place
    for piece in pieces:
        try:
            if piece.kind == "error":
                raise DataError(piece.error)
            piece_names, pixels = _read(piece, options)
        except DataError as exc:
            errors.append(str(exc))
            reasons.append(why_failed(exc))
            failed[len(names)] = reasons[-1]
            piece_names, pixels = [piece.spec], np.zeros((1, 784), np.uint8)
        names += piece_names
        blocks.append(pixels)
    lines: list[str] = []
    blanks = BlankRows()
    if blocks:
        pixels = merge_blocks(blocks)
        with _same_blas(blas):
            for lo in range(0, len(names), batch_size):
                answers = answer(
                    net,
                    names[lo : lo + batch_size],
                    pixels[lo : lo + batch_size],
                    min_confidence,
                    blanks,
                    {i - lo: why for i, why in failed.items() if lo <= i < lo + batch_size},
                )
                lines += answers.lines(fmt, top_k)
    text = "".join(line + "\n" for line in lines)
    if out_file is not None:
        data = text.encode()

        def write(f: BinaryIO) -> None:
            f.write(data)

        try:
            write_file(out_file, write, overwrite=True)  # a retried task redoes its part
        except OSError as exc:
            raise NnmnistError(
                f"{out_file}: the worker cannot write it ({exc.strerror or exc})"
            ) from None
        text = ""
    file = None if out_file is None else Path(out_file).name
    return ChunkResult(text, len(lines), errors, file, blanks, reasons)


@functools.lru_cache(maxsize=2)
def _dataset(source: str, split: str) -> datasets.Dataset:
    return datasets.load(source, split, no_network=True)


def evaluate_chunk(
    net: Network,
    source: str,
    split: str,
    start: int,
    stop: int,
    batch_size: int,
    blas: int | None,
) -> Evaluation:
    """Evaluate rows start..stop-1 of a dataset (on a worker, which loads the data itself)."""
    ds = _dataset(source, split)
    with _same_blas(blas):
        return evaluate(net, ds.images[start:stop], ds.labels[start:stop], batch_size)


# Set while a Dask client exists or failed half-way: its threads and finalisers can print
# tracebacks at interpreter exit, so the CLI then ends the process without running them.
needs_hard_exit = False
RESULT_WAITS = 20  # one chunk's result may take this many NNMNIST_TIMEOUTs (10 min by default)


def _connect(scheduler: str, timeout: float) -> Any:
    """A Client for the scheduler, or an error within timeout seconds, whatever the server does
    (one that accepts the connection and never answers held distributed's own timeout)."""
    global needs_hard_exit
    from distributed import Client

    box: dict[str, Any] = {}

    def connect() -> None:
        try:
            box["client"] = Client(scheduler, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # handed to the waiting thread below
            box["error"] = exc

    needs_hard_exit = True
    thread = threading.Thread(target=connect, name="nnmnist-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2)
    hint = "start one with `dask scheduler` and workers with `dask worker ADDRESS`"
    if thread.is_alive():
        raise SourceUnavailableError(
            f"the Dask scheduler at {scheduler} did not answer within {timeout:g} s "
            f"(NNMNIST_TIMEOUT); {hint}"
        )
    if "error" in box:
        exc = box["error"]
        raise SourceUnavailableError(
            f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}: {exc}); {hint}"
        )
    return box["client"]


def _result(future: Any, timeout: float) -> Any:
    try:
        return future.result(timeout=timeout)
    except TimeoutError:
        raise SourceUnavailableError(
            f"no result from the Dask cluster within {timeout:g} s; are its workers alive?"
        ) from None


class Engine:
    """Runs a function over chunks on Dask and yields the results in submission order."""

    def __init__(self, scheduler: str | None, window: int | None = None) -> None:
        require_dask()
        self.scheduler = scheduler
        self.window = window or 2 * (os.cpu_count() or 2)
        self.client: Any = None
        self.timeout = datasets.network_timeout()
        if scheduler:
            self.client = _connect(scheduler, self.timeout)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        global needs_hard_exit
        if self.client is not None:
            try:
                self.client.close(timeout=self.timeout)
            except Exception:  # a cluster that went away: nothing is left to close
                return
            if exc[0] is None:
                needs_hard_exit = False

    def map(self, fn: Callable[..., Any], net: Network, chunks: list[Any]) -> Iterator[Any]:
        """fn(net, *chunk) for every chunk, in order, with a bounded number in flight."""
        if self.client is None:
            import dask

            for lo in range(0, len(chunks), self.window):
                tasks = [dask.delayed(fn)(net, *c) for c in chunks[lo : lo + self.window]]
                yield from dask.compute(*tasks, scheduler="threads")
            return
        weights = self.client.scatter(net, broadcast=True)  # sent to each worker once
        pending: collections.deque[Any] = collections.deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append(self.client.submit(fn, weights, *chunk, pure=False, retries=2))
            if len(pending) >= self.window:
                break
        while pending:
            yield _result(pending.popleft(), RESULT_WAITS * self.timeout)
            for chunk in todo:
                pending.append(self.client.submit(fn, weights, *chunk, pure=False, retries=2))
                break


def predict(
    engine: Engine,
    net: Network,
    chunks: list[list[Piece]],
    *,
    batch_size: int,
    fmt: str,
    top_k: int,
    options: ImageOptions,
    output: Path | None = None,
    min_confidence: float = 0.0,
) -> Iterator[tuple[int, ChunkResult]]:
    """(chunk number, result) for every chunk from plan(), in order."""
    blas = blas_threads()
    ext = SUFFIXES[fmt]
    args = [
        (
            c,
            batch_size,
            fmt,
            top_k,
            options,
            None if output is None else str(output / f"part-{i:05d}.{ext}"),
            blas,
            min_confidence,
        )
        for i, c in enumerate(chunks)
    ]
    yield from enumerate(engine.map(predict_chunk, net, args))


def evaluate_dataset(
    engine: Engine, net: Network, source: str, split: str, n: int, batch_size: int, chunk_size: int
) -> Evaluation:
    """The local evaluation's figures, computed chunk by chunk on the engine."""
    start = time.perf_counter()
    blas = blas_threads()
    bounds = [
        (source, split, lo, min(lo + chunk_size, n), batch_size, blas)
        for lo in range(0, n, chunk_size)
    ]
    parts = list(engine.map(evaluate_chunk, net, bounds))
    return Evaluation.combine(parts, batch_size, time.perf_counter() - start)


def write_manifest(
    folder: Path,
    fmt: str,
    top_k: int,
    written: list[dict[str, Any]],
    failures: list[str],
    *,
    overwrite: bool = False,
) -> list[str]:
    """manifest.json for a --parts folder: the format, the parts in order (chunk, images,
    file), the failures; written atomically. Returns the part files in the folder that this
    run did not write (left alone: nnmnist removes nothing it did not make)."""
    import json

    from nnmnist.io.formats import csv_header
    from nnmnist.io.outputs import other_parts

    manifest = {
        "format": fmt,
        "top_k": top_k,
        "header": csv_header(top_k) if fmt == "csv" else None,
        "parts": written,
        "images": sum(p["images"] for p in written),
        "failures": failures,
    }
    text = (json.dumps(manifest, indent=2) + "\n").encode()
    write_file(folder / "manifest.json", lambda f: f.write(text), overwrite=overwrite)
    return other_parts(folder, {Path(p["file"]).name for p in written if p["file"]})


@dataclass
class Failure:
    """One input not predicted: the line told about it, and why (refused: ... or not read)."""

    message: str
    why: str

    @property
    def refused(self) -> bool:
        return self.why.startswith("refused")


class Prediction:
    """`nnmnist predict --engine dask` as a library run: plan the chunks, predict them in order
    on an engine, yield each chunk's lines and failures, then the blank rows' failures and
    (with a parts folder) the manifest. The caller renders; nothing here writes to a terminal.
    """

    def __init__(
        self,
        net: Network,
        specs: list[str],
        *,
        chunk_size: int,
        batch_size: int,
        fmt: str,
        top_k: int,
        options: ImageOptions,
        parts: Path | None = None,
        overwrite: bool = False,
        min_confidence: float = 0.0,
    ) -> None:
        self.net, self.fmt, self.top_k = net, fmt, top_k
        self.batch_size, self.options, self.min_confidence = batch_size, options, min_confidence
        self.parts, self.overwrite = parts, overwrite
        self.chunks = plan(specs, chunk_size)
        self.failures: list[Failure] = []
        self.written: list[dict[str, Any]] = []  # the parts, in order, with --parts
        self.older: list[str] = []  # part files in the folder that this run did not write
        self._blanks = BlankRows()

    def run(self, engine: Engine) -> Iterator[tuple[str, list[Failure]]]:
        """(the chunk's result lines, its failures) for every chunk, in input order; the lines
        are empty when they went to a part file."""
        results = predict(
            engine,
            self.net,
            self.chunks,
            batch_size=self.batch_size,
            fmt=self.fmt,
            top_k=self.top_k,
            options=self.options,
            output=None if self.parts is None else self.parts.resolve(),  # as workers see it
            min_confidence=self.min_confidence,
        )
        for number, result in results:
            failed = [Failure(m, w) for m, w in zip(result.errors, result.reasons, strict=True)]
            self.failures += failed
            self._blanks.merge(result.blanks)
            if self.parts is not None:
                self.written.append({"chunk": number, "images": result.images, "file": result.file})
            yield result.text, failed

    def finish(self) -> list[Failure]:
        """The all-zero rows' failures (one per file), and the manifest written with --parts."""
        blanks = [Failure(m, "refused: blank") for m in self._blanks.messages()]
        self.failures += blanks
        if self.parts is not None:
            self.older = write_manifest(
                self.parts,
                self.fmt,
                self.top_k,
                self.written,
                [f.message for f in self.failures],
                overwrite=self.overwrite,
            )
        return blanks
