"""The one writer: every file nnmnist writes goes through write_file.

A temporary file is created with O_EXCL in the target's folder, under a name with a random part
and a fixed marker (`.NAME.nnmnist-RANDOM.tmp`), locked while it is written, fsynced, then moved
into place, so readers see the old file or the new one, never half of one. The target is
refused if it is a symbolic link (nothing is written through or over one), if it is one of this
run's inputs (compared by device and inode, so hard links and other spellings of a path count),
or if it exists and this run did not create it, unless overwrite says so; an overwritten file
keeps its permissions.

Nothing is ever removed but what this process made: its own temporary when a write fails, and
(remove_own) a file it wrote earlier in the run. A writer killed by SIGKILL leaves its
temporary behind; it is not cleaned up later, because no test on a file that someone else can
create (its name, age, lock, owner, content) proves that nnmnist made it and that nobody needs
it, and a leftover costs only disk space where a wrong guess costs data.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from nnmnist.io.reading import INPUTS, file_identity

MARKER = ".nnmnist-"  # in every temporary's name: .NAME.nnmnist-RANDOM.tmp
MAX_NAME_IN_TEMPORARY = 120  # characters of the target's name kept (names end at 255 bytes)

# (device, inode) of every file this process wrote: it may replace them without overwrite
_created: set[tuple[int, int]] = set()


# folders this process created, newest last: removed again if a run fails while they are empty
_created_folders: list[tuple[Path, tuple[int, int]]] = []


def forget_created() -> None:
    """Start a new run: files and folders made before are no longer this run's own."""
    _created.clear()
    _created_folders.clear()


def make_folder(path: Path) -> None:
    """Create a folder (and missing parents) for the run's output, remembering each one made."""
    missing = [p for p in (path, *path.parents) if not os.path.lexists(p)]
    for folder in reversed(missing):
        os.mkdir(folder)
        if (identity := file_identity(folder)) is not None:
            _created_folders.append((folder, identity))


def remove_empty_own_folders() -> None:
    """After a failed run: remove the folders it created that are still empty (rmdir removes
    nothing else), newest first; a folder someone else put there is never this run's."""
    for folder, identity in reversed(_created_folders):
        if file_identity(folder) == identity:
            with contextlib.suppress(OSError):
                os.rmdir(folder)
    _created_folders.clear()


class RefusedTarget(OSError):
    """The target may not be written (a link, an input, an existing file): nothing was changed."""


@contextlib.contextmanager
def failures_as(
    error: type[Exception], path: Path, cannot: str = "cannot write ({})"
) -> Iterator[None]:
    """Around writing path: a target write_file refuses, or an OSError (a read-only folder, a
    full disk), raised as error with one line that names the path; cannot: that line's words
    for an OSError, {} the system's reason."""
    try:
        yield
    except RefusedTarget as exc:
        raise error(f"{path}: {exc.strerror}") from None
    except OSError as exc:
        raise error(f"{path}: {cannot.format(exc.strerror or exc)}") from None


def temporary_prefix(path: Path) -> str:
    """The start of the name of path's temporaries (the random part and '.tmp' follow)."""
    return f".{path.name[:MAX_NAME_IN_TEMPORARY]}{MARKER}"


def remove_own(path: str | os.PathLike[str]) -> bool:
    """Remove path only if this process wrote the file there (same device and inode) and it is
    not one of the run's inputs; True if it was removed. Anything else is left alone."""
    path = Path(path)
    try:
        st = os.lstat(path)
    except OSError:
        return False
    identity = (st.st_dev, st.st_ino)
    if not stat.S_ISREG(st.st_mode) or identity not in _created or identity in INPUTS:
        return False
    with contextlib.suppress(OSError):
        path.unlink()
        _created.discard(identity)
        return True
    return False


def check_target(path: Path, overwrite: bool = False) -> os.stat_result | None:
    """The existing target's stat (None if there is none), or RefusedTarget."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise RefusedTarget(errno.EEXIST, "is a symbolic link; nnmnist never writes through one")
    if stat.S_ISDIR(st.st_mode):
        raise RefusedTarget(errno.EISDIR, "is a folder")
    identity = (st.st_dev, st.st_ino)
    if identity in INPUTS:
        raise RefusedTarget(errno.EEXIST, "is one of this run's inputs; it is never written")
    if not stat.S_ISREG(st.st_mode):
        raise RefusedTarget(errno.EEXIST, "is not a regular file")
    if identity not in _created and not overwrite:
        raise RefusedTarget(errno.EEXIST, "already exists; pass --force to replace it")
    return st


def write_file(
    path: str | os.PathLike[str], write: Callable[[BinaryIO], object], *, overwrite: bool = False
) -> None:
    """Call write(f) on a locked temporary file beside path, then move it into place.

    On any error (a refused target, a full disk, Ctrl-C) the temporary file is removed and an
    existing file at path is left as it was. Raises RefusedTarget (an OSError) for a target
    that may not be written.
    """
    path = Path(path)
    check_target(path, overwrite)
    # mkstemp: O_EXCL and a random name, so two writers never share (or truncate) a temporary
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path), suffix=".tmp")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(fd, "wb", closefd=False) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        old = check_target(path, overwrite)  # again, just before the rename
        if old is not None:
            mode = stat.S_IMODE(old.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.fchmod(fd, mode)
        if old is None:
            _link_new(tmp, path)
        else:
            os.replace(tmp, path)
        identity = file_identity(path)
        if identity is not None:
            _created.add(identity)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def _link_new(tmp: str, path: Path) -> None:
    """Move tmp to path only if path still does not exist (another writer may have made it)."""
    try:
        os.link(tmp, path)  # fails with EEXIST rather than replace anything
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise RefusedTarget(
                errno.EEXIST, "appeared while nnmnist wrote it; left alone"
            ) from None
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # a file system without hard links: create the name exclusively, then replace it
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        os.replace(tmp, path)
        return
    os.unlink(tmp)


# the name every caller used so far
atomic_write = write_file
