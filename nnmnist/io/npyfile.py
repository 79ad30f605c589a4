"""Check .npy headers (alone or inside an .npz) against the bytes actually there, before loading.

np.load trusts the header: a few bytes claiming a shape of (10**6, 10**6) make it try to
allocate terabytes. Like safetensors, compare what the header claims with the file's size
first, and refuse object arrays (which would need pickle) at the same time.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from nnmnist.errors import NnmnistError
from nnmnist.io.reading import MAX_LOADED_BYTES, size_text


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype[Any]
    data_offset: int  # bytes from the start of the header to the data


def check_npy(f: BinaryIO, available: int, name: str, error: type[NnmnistError]) -> NpyHeader:
    """Read the header at f's position; raise error if the data cannot be what it claims."""
    start = f.tell()
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10_000)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10_000)
    except Exception as exc:  # numpy parses the header dict with ast: anything can go wrong
        raise error(f"{name}: not a valid .npy header ({exc})") from None
    if dtype.hasobject:
        raise error(f"{name}: refused: an object array (it would need pickle to load)")
    claimed = math.prod(shape) * dtype.itemsize
    data = available - (f.tell() - start)
    if claimed != data:
        raise error(
            f"{name}: refused: the header claims shape {tuple(shape)} of {dtype} "
            f"({claimed:,} bytes) but the file holds {data:,} bytes of data"
        )
    return NpyHeader(tuple(shape), bool(fortran), dtype, f.tell() - start)


MAX_MEMBERS = 1000


def check_npz(
    data: bytes | BinaryIO,
    name: str,
    error: type[NnmnistError],
    expected: Callable[[str], bool] | None = None,
    max_total: int = MAX_LOADED_BYTES,
) -> list[str]:
    """Check an .npz archive (bytes, or a seekable binary file) before anything is inflated.

    Every member must be NAME.npy (and, with expected, a name it allows); the inflated sizes
    the archive declares must add up to at most max_total (zipfile never inflates a member past
    its declared size); every member's .npy header must match its size. Returns the array names.
    """
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    names = []
    try:
        with zipfile.ZipFile(source) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise error(f"{name}: refused: {len(infos):,} members in one .npz")
            total = sum(info.file_size for info in infos)
            if total > max_total:
                raise error(
                    f"{name}: refused: its members inflate to {size_text(total)}, more than the "
                    f"{size_text(max_total)} allowed"
                )
            for info in infos:
                member = info.filename[:-4]
                if not info.filename.endswith(".npy") or (expected and not expected(member)):
                    raise error(f"{name}: refused: an unexpected member {info.filename[:80]!r}")
                with zf.open(info) as f:
                    head = io.BytesIO(f.read(min(info.file_size, 20_000)))
                check_npy(head, info.file_size, f"{name}: {member}", error)
                names.append(member)
    except NnmnistError:
        raise
    except Exception as exc:  # zipfile raises many things on damaged archives
        raise error(f"{name}: not a readable .npz file ({exc})") from None
    finally:
        if not isinstance(data, bytes):
            source.seek(0)
    return names


def load_npz(
    source: bytes | BinaryIO,
    name: str,
    error: type[NnmnistError],
    expected: Callable[[str], bool],
    damaged: str,
    max_total: int = MAX_LOADED_BYTES,
) -> dict[str, NDArray[Any]]:
    """Every array of an .npz, after check_npz (sizes, expected members, no objects); a
    failure while loading is one error: f"{name}: {damaged} (...)"."""
    check_npz(source, name, error, expected=expected, max_total=max_total)
    try:
        with np.load(
            io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False
        ) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise error(f"{name}: {damaged} ({exc})") from None
