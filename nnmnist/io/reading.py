"""One way in for the bytes nnmnist reads: regular files only, sizes capped, lines bounded.

Every reader (weights, checkpoints, arrays, CSV, IDX, images, caches, standard input) opens its
file here. A FIFO, a device (/dev/zero) or a socket is refused before a byte is read (opened
without blocking, then checked with fstat, so a FIFO cannot hold the process); what is loaded
whole must fit its cap; lines of text are read with a bound, so a stream with no newline cannot
grow without end. Streams that are read batch by batch (.npy, IDX, CSV) may be any size.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO

from nnmnist.errors import NnmnistError

MB = 1 << 20
MAX_WEIGHTS_BYTES = 100 * MB  # a weight file or checkpoint: 25 million float32 parameters
MAX_LOADED_BYTES = 100 * MB  # an .npz (all members, inflated) or binary data on stdin
MAX_IMAGE_FILE_BYTES = 64 * MB  # an image file, before decoding
MAX_LINE = 64 * 1024  # a CSV row of 785 values needs under 4 kB
MAX_PATH_LINE = 4096  # a path on standard input
MAX_JSON_DEPTH = 32  # arrays and objects inside one another in a file's JSON (meta, headers)

# (device, inode) of every file a command reads: the writer never writes over one of them.
# The CLI starts a run for each command; library callers that read and then save a file
# on purpose are not tracked.
INPUTS: set[tuple[int, int]] = set()
_tracking = False


def start_run() -> None:
    """From now on, every file read counts as an input of the run (the CLI calls this)."""
    global _tracking
    _tracking = True
    INPUTS.clear()


def end_run() -> None:
    global _tracking
    _tracking = False
    INPUTS.clear()


def register_inputs(paths: list[str]) -> None:
    """Count these paths as inputs before they are read (predict reads them one by one)."""
    if _tracking:
        for p in paths:
            if (identity := file_identity(p)) is not None:
                INPUTS.add(identity)


_SPECIAL = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def size_text(n: int) -> str:
    return f"{n / MB:,.0f} MB" if n >= MB else f"{n:,} bytes"


def open_file(
    path: str | os.PathLike[str],
    name: str,
    error: type[NnmnistError],
    max_bytes: int | None = None,
    *,
    register: bool = True,
) -> BinaryIO:
    """Open a regular file for reading (the caller closes it); refuse anything else.

    max_bytes: refuse a file larger than this (for inputs that are loaded whole). register:
    count it among the run's inputs, which are never written (a checkpoint being resumed is
    read whole first, then replaced: it is not registered).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as exc:  # a folder opens read-only, and is refused below
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened for writing elsewhere
            raise error(f"{name}: not a regular file") from None
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{name}: is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            # (a socket never gets here: opening one fails with ENXIO above)
            kind = _SPECIAL.get(stat.S_IFMT(st.st_mode), "a special file")
            raise error(f"{name}: refused: {kind}, not a regular file")
        if max_bytes is not None and st.st_size > max_bytes:
            raise error(
                f"{name}: refused: {size_text(st.st_size)} is more than the "
                f"{size_text(max_bytes)} allowed for this kind of file"
            )
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        if register and _tracking:
            INPUTS.add((st.st_dev, st.st_ino))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_file(
    path: str | os.PathLike[str],
    name: str,
    error: type[NnmnistError],
    max_bytes: int,
    *,
    register: bool = True,
) -> bytes:
    """A whole regular file of at most max_bytes (checked before and while reading)."""
    with open_file(path, name, error, max_bytes, register=register) as f:
        return read_capped(f, name, error, max_bytes)


def read_capped(f: IO[bytes], name: str, error: type[NnmnistError], max_bytes: int) -> bytes:
    """All of a stream, refused once it passes max_bytes (a file growing under us, or stdin)."""
    data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(
            f"{name}: refused: more than {size_text(max_bytes)}; "
            "nnmnist loads this kind of input whole"
        )
    return data


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(device, inode) of an existing path, following links; None if there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def bounded_lines(
    stream: IO[str], name: str, error: type[NnmnistError], limit: int = MAX_LINE
) -> Iterator[tuple[int, str]]:
    """(line number, line) from a text stream, refusing a line longer than limit characters."""
    lineno = 0
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) > limit:
            raise error(
                f"{name}: line {lineno} is longer than {limit:,} characters "
                "(no line of this input should be)"
            )
        yield lineno, line


def text_stream(binary: BinaryIO) -> io.TextIOWrapper:
    """UTF-8 text over a binary stream, strict: undecodable bytes raise UnicodeDecodeError."""
    return io.TextIOWrapper(binary, encoding="utf-8", errors="strict", newline=None)


def is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text (brackets inside strings do not count),
    found without recursion: a scan of the brackets outside strings."""
    import numpy as np

    outside = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    codes = np.frombuffer(outside, np.uint8)
    steps = np.isin(codes, (0x5B, 0x7B)).astype(np.int64) - np.isin(codes, (0x5D, 0x7D))
    return int(np.cumsum(steps).max(initial=0))


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    """JSON from a file, strictly: nesting at most MAX_JSON_DEPTH (checked before parsing, so
    no RecursionError), no NaN or Infinity. ValueError says what is wrong."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"it nests {depth:,} levels deep; at most {MAX_JSON_DEPTH} are allowed")
    return json.loads(text, parse_constant=_no_constants)
