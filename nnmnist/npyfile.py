"""Check .npy headers (alone or inside an .npz) against the bytes actually there, before loading.

np.load trusts the header: a few bytes claiming a shape of (10**6, 10**6) make it try to
allocate terabytes. Like safetensors, compare what the header claims with the file's size
first, and refuse object arrays (which would need pickle) at the same time.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from nnmnist.errors import NnmnistError


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


def check_npz(data: bytes | BinaryIO, name: str, error: type[NnmnistError]) -> None:
    """Check every member of an .npz archive (bytes, or a seekable binary file)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as member:
                    head = io.BytesIO(member.read(min(info.file_size, 20_000)))
                check_npy(head, info.file_size, f"{name}: {info.filename[:-4]}", error)
    except NnmnistError:
        raise
    except Exception as exc:  # zipfile raises many things on damaged archives
        raise error(f"{name}: not a readable .npz file ({exc})") from None
    finally:
        if not isinstance(data, bytes):
            source.seek(0)
