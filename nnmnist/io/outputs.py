"""Folders that commands write many files into: --save-preprocessed and the Dask --output.

A folder must be new or empty unless --force; with --force, files in it may be replaced, but
never one of the run's inputs (the writer checks device and inode). Input names become file
names one to one: distinct inputs never share an output file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from nnmnist.errors import NnmnistError
from nnmnist.io.formats import printable


def prepare_folder(folder: Path, force: bool, option: str) -> None:
    """Create folder, or accept it if it is empty (or if force); refuse a file or a link."""
    if folder.is_symlink():
        raise NnmnistError(f"{folder}: is a symbolic link; give {option} a real folder")
    if folder.exists() and not folder.is_dir():
        raise NnmnistError(f"{folder}: exists and is not a folder ({option})")
    if folder.is_dir():
        try:
            empty = next(os.scandir(folder), None) is None
        except OSError as exc:
            raise NnmnistError(f"{folder}: cannot read the folder ({exc.strerror})") from None
        if not empty and not force:
            raise NnmnistError(
                f"{folder}: is not empty; give {option} a new or empty folder, or pass --force "
                "to write into it"
            )
        return
    from nnmnist.io.atomic import make_folder

    try:
        make_folder(folder)
    except OSError as exc:
        raise NnmnistError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from None


class FileNames:
    """A flat, safe, distinct file name for each input name (scans/a.png, digits.npy:3, ...)."""

    def __init__(self, suffix: str = ".png") -> None:
        self.suffix = suffix
        self.given: dict[str, str] = {}  # input name -> file name
        self.taken: set[str] = set()

    def __call__(self, name: str) -> str:
        if name in self.given:
            return self.given[name]
        stem = printable(name).lstrip("./").replace(os.sep, "_").replace(":", "_") or "stdin"
        if stem.lower().endswith(self.suffix):
            stem = stem[: -len(self.suffix)]
        stem = stem[:200]  # file names have a length limit (255 bytes)
        candidate, n = stem + self.suffix, 1
        while candidate in self.taken:  # a/b.png and a_b.png: the second gets -2
            n += 1
            candidate = f"{stem}-{n}{self.suffix}"
        self.taken.add(candidate)
        self.given[name] = candidate
        return candidate


PART_NAME = re.compile(r"part-[0-9]{5}\.(?:txt|csv|jsonl)")


def other_parts(folder: Path, written: set[str]) -> list[str]:
    """Part files in folder that this run did not write (an earlier run's, with --force): they
    are left alone (nnmnist removes nothing it did not make); manifest.json names this run's."""
    try:
        names = [e.name for e in os.scandir(folder)]
    except OSError:
        return []
    return sorted(n for n in names if PART_NAME.fullmatch(n) and n not in written)


def write_bytes(path: Path, data: bytes, force: bool, option: str) -> None:
    """One file a command makes (a report, a picture), written whole or not at all through the
    atomic writer; an existing file only with --force, and never one of the run's inputs."""
    from nnmnist.io.atomic import failures_as, make_folder, write_file

    if path.is_dir():
        raise NnmnistError(f"{path}: is a folder; give {option} a file name")
    if path.exists() and not force:
        raise NnmnistError(f"{path}: already exists; pass --force to overwrite it")
    with failures_as(NnmnistError, path, "cannot write ({}); nothing was changed"):
        if path.parent != Path(""):
            make_folder(path.parent)
        write_file(path, lambda f: f.write(data), overwrite=force)


def write_text(path: Path, text: str, force: bool, option: str) -> None:
    write_bytes(path, text.encode("utf-8"), force, option)
