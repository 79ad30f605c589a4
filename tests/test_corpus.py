"""The bad-input corpus, run through the installed `nnmnist` command.

Each case: the arguments (run in a fresh copy of tests/corpus/files, plus files made here that
git cannot hold: FIFOs, links to devices, sparse 1 GB files), the exit status, and a fragment
of the one `error:` line expected on stderr. Every case also checks: the process was not killed
by a signal, exactly one `error:` line and no traceback or "internal error", no raw ESC on
either stream, no file in the folder changed, appeared or vanished, peak resident memory below
300 MB (the child's own ru_maxrss, from wait4) and a refusal within 10 seconds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.corpus import round_three
from tests.measure import run_measured

FILES = Path(__file__).resolve().parent / "corpus" / "files"
SENTINEL = Path("/tmp/nnmnist-corpus-pwned")
EXE = str(Path(sys.executable).parent / "nnmnist")
MAX_PEAK_MB = 300
MAX_SECONDS = 10
GB = 1 << 30

EV = ["evaluate", "--limit", "10", "--weights"]
P = ["predict"]

# (id, arguments, exit status, fragment of the error line)
CASES: list[tuple[str, list[str], int, str]] = [
    # weight files
    ("pickle os.system", [*EV, "evil-os-system.pkl"], 1, "refused: the pickle asks for os.system"),
    ("pickle builtins.eval", [*EV, "evil-eval.pkl"], 1, "asks for builtins.eval"),
    ("pickle subprocess", [*EV, "evil-subprocess.pkl"], 1, "asks for subprocess.check_call"),
    (
        "pickle numpy runstring",
        [*EV, "evil-runstring.pkl"],
        1,
        "asks for numpy.testing._private.utils.runstring",
    ),
    ("top-level list", [*EV, "list.pkl"], 1, "holds a list, not a dict"),
    ("missing key", [*EV, "missing-key.pkl"], 1, "has W1..W2 but no b2"),
    ("extra key", [*EV, "extra-key.pkl"], 1, "unexpected key 'W9x'"),
    ("misnumbered keys", [*EV, "misnumbered.pkl"], 1, "has W1..W3 but no W2"),
    ("broken layer chain", [*EV, "broken-chain.pkl"], 1, "W2 has 21 rows but layer 1 has 20 units"),
    ("NaN weights", [*EV, "nan.pkl"], 1, "W2 holds NaN or infinite values"),
    ("Inf bias in npz", [*EV, "inf.npz"], 1, "b1 holds NaN or infinite values"),
    ("int dtype", [*EV, "int-dtype.pkl"], 1, "W1 has dtype int64"),
    ("complex dtype", [*EV, "complex.pkl"], 1, "dtype 'c8', which is not a plain numeric dtype"),
    ("object dtype", [*EV, "object-dtype.pkl"], 1, "dtype 'O8', which is not a plain numeric"),
    ("empty weight file", [*EV, "empty.pkl"], 1, "empty file"),
    ("truncated pickle", [*EV, "truncated.pkl"], 1, "not a readable weight file"),
    ("PNG renamed .pkl", [*EV, "png-renamed.pkl"], 1, "not a readable weight file"),
    ("npz object member", [*EV, "object-member.npz"], 1, "meta: refused: an object array"),
    (
        "npz huge header",
        [*EV, "huge-header.npz"],
        1,
        "W1: refused: the header claims shape (1000000, 1000000)",
    ),
    ("weights is a folder", [*EV, "a-folder"], 1, "a-folder: is a folder"),
    ("weights missing", [*EV, "nope.pkl"], 1, "nope.pkl: no such file"),
    # IDX and gzip
    (
        "labels given as images",
        [*P, "labels-as-images.idx"],
        1,
        "holds labels (magic 00000801) where images were expected",
    ),
    (
        "IDX count larger than data",
        [*P, "count-larger.idx"],
        1,
        "the header announces 3 records (2,368 bytes with the header) but the file holds 1,584",
    ),
    ("IDX count smaller than data", [*P, "count-smaller.idx"], 1, "trailing bytes"),
    ("IDX trailing bytes", [*P, "trailing-bytes.idx"], 1, "trailing bytes"),
    ("truncated gzip", [*P, "truncated.idx.gz"], 1, "corrupt or truncated gzip data"),
    ("gzip bad CRC", [*P, "bad-crc.idx.gz"], 1, "CRC check failed"),
    (
        "gzip bomb",
        [*P, "gzip-bomb.idx.gz"],
        1,
        "trailing bytes after the records the header announces",
    ),
    (
        "image/label counts differ",
        ["evaluate", "--data", "folder-count-mismatch", "-w", "existing.pkl"],
        1,
        "2 test images but 3 labels",
    ),
    (
        "label outside 0-9",
        ["evaluate", "--data", "folder-bad-label", "-w", "existing.pkl"],
        1,
        "label 10 at index 1 is not a digit 0-9",
    ),
    (
        "no IDX files in folder",
        ["evaluate", "--data", "folder-empty", "-w", "existing.pkl"],
        1,
        "no t10k-images-idx3-ubyte[.gz] here",
    ),
    (
        "data folder missing",
        ["evaluate", "--data", "no-such-folder", "-w", "existing.pkl"],
        3,
        "no such folder of MNIST IDX files",
    ),
    # arrays and CSV
    ("shape (N, 783)", [*P, "shape-783.npy"], 1, "array of shape (2, 783)"),
    ("shape (N, 28, 27)", [*P, "shape-28x27.npy"], 1, "array of shape (2, 28, 27)"),
    ("values over 255", [*P, "over-255.npy"], 1, "pixel values must be 0-255, found 300..300"),
    ("NaN pixels", [*P, "nan.npy"], 1, "pixel values include NaN or infinity"),
    ("Inf pixels", [*P, "inf.npy"], 1, "pixel values include NaN or infinity"),
    (
        "npy huge header",
        [*P, "huge-header.npy"],
        1,
        "refused: the header claims shape (10000000, 784)",
    ),
    ("CSV 1e309", [*P, "1e309.csv"], 1, "line 1: 'e' is not part of a pixel value 0-255"),
    ("CSV 1_000", [*P, "underscore.csv"], 1, "line 1: '_' is not part of a pixel value"),
    (
        "CSV non-ASCII digit",
        [*P, "non-ascii-digits.csv"],
        1,
        "line 1: '\u0663' is not part of a pixel value",
    ),
    ("CSV negative value", [*P, "negative.csv"], 1, "line 1: '-' is not part of a pixel value"),
    (
        "CSV wrong count, line named",
        [*P, "wrong-count.csv"],
        1,
        "line 3 has 3 values; expected 784",
    ),
    ("CSV empty", [*P, "empty.csv"], 1, "no rows of pixel values"),
    ("binary garbage", [*P, "garbage.dat"], 1, "not a recognised input"),
    # images
    (
        "decompression bomb",
        [*P, "bomb.png"],
        1,
        "not read: 10000x10000 pixels (1) decode to 95 MB, more than the 64 MB allowed",
    ),
    ("truncated PNG", [*P, "truncated.png"], 1, "truncated or corrupt image"),
    ("text named .png", [*P, "text.png"], 1, "not an image nnmnist reads"),
    ("unsupported format", [*P, "photoshop.tiff"], 1, "not an image nnmnist reads"),
    ("blank image", [*P, "blank.png"], 1, "blank image"),
    # arguments and files
    (
        "--batch-size 0",
        [*P, "seven.png", "--batch-size", "0"],
        2,
        "--batch-size: must be at least 1",
    ),
    (
        "--batch-size negative",
        ["evaluate", "--batch-size", "-5"],
        2,
        "--batch-size: must be at least 1",
    ),
    (
        "--batch-size non-numeric",
        ["evaluate", "--batch-size", "ten"],
        2,
        "--batch-size: must be a whole number",
    ),
    (
        "--batch-size absurd",
        ["evaluate", "--batch-size", "1000000000000"],
        2,
        "--batch-size: must be at most 1000000",
    ),
    ("--top-k 0", [*P, "seven.png", "--top-k", "0"], 2, "--top-k: must be at least 1"),
    (
        "--split unknown",
        ["evaluate", "--split", "validation"],
        2,
        "--split: 'validation' is not one of 'test', 'notebook'",
    ),
    ("input missing", [*P, "missing.png"], 1, "missing.png: no such file"),
    ("input folder without inputs", [*P, "folder-empty"], 1, "no image or array files found"),
    (
        "init over an existing file",
        ["init", "-o", "existing.pkl"],
        1,
        "existing.pkl: already exists; pass --force",
    ),
    ("init into a folder", ["init", "-o", "a-folder"], 1, "a-folder: is a folder"),
    ("train into a folder", ["train", "-o", "a-folder"], 1, "a-folder: is a folder"),
    (
        "train over an existing file",
        ["train", "-o", "existing.pkl"],
        1,
        "existing.pkl: already exists",
    ),
    (
        "save-preprocessed is a file",
        [*P, "seven.png", "--save-preprocessed", "existing.pkl"],
        1,
        "exists and is not a folder",
    ),
    (
        "train data missing",
        ["train", "--data", "no-such-folder", "-o", "new.npz"],
        3,
        "no such folder of MNIST IDX files",
    ),
    (
        "offline without a cache",
        ["evaluate", "--offline", "--split", "notebook", "--data", "openml", "-w", "existing.pkl"],
        3,
        "offline, and no OpenML copy of MNIST is cached",
    ),
    (
        "resume without checkpoint",
        ["train", "--resume", "-o", "new.npz"],
        1,
        "no checkpoint to resume from",
    ),
]


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    status: int
    fragment: str
    stdin: str | None = None  # a file in the corpus folder (or an absolute path) fed to stdin
    env: dict[str, str] = field(default_factory=dict)  # "{corpus}" is replaced by the folder
    seconds: float = MAX_SECONDS
    stdout: str | None = None  # what stdout starts with, when other inputs are predicted


EXTRA: list[Case] = [
    # --- pickles that only use globals the old allow-list accepted (issue 10)
    Case(
        "void scalar over chosen bytes",
        [*EV, "void-scalar.pkl"],
        1,
        "asks for numpy.core.multiarray.scalar (GLOBAL at byte 2)",
    ),
    Case(
        "BUILD on a datetime dtype",
        [*EV, "datetime-build.pkl"],
        1,
        "dtype 'M8', which is not a plain numeric dtype",
    ),
    Case("ndarray with zero strides", [*EV, "zero-strides.pkl"], 1, "REDUCE of numpy.ndarray"),
    Case("memo index 0x06000000", [*EV, "memo-index.pkl"], 1, "holds a NoneType, not a dict"),
    Case(
        "150,000 dict keys", [*EV, "many-keys.pkl"], 1, "more than 100,000 items in one container"
    ),
    Case("colliding integer keys", [*EV, "colliding-int-keys.pkl"], 1, "an integer of 65 bits"),
    Case("lists 5,000 deep", [*EV, "deep-list.pkl"], 1, "containers nested more than 32 deep"),
    Case(
        "persistent id",
        [*EV, "persistent-id.pkl"],
        1,
        "refused: a persistent id (PERSID at byte 7)",
    ),
    Case("NEWOBJ", [*EV, "newobj.pkl"], 1, "refused: an object construction (NEWOBJ at byte"),
    Case("out-of-band buffer", [*EV, "out-of-band.pkl"], 1, "refused: an out-of-band buffer"),
    Case("127-bit integer", [*EV, "big-int.pkl"], 1, "an integer of 127 bits"),
    Case("list containing itself", [*EV, "self-loop.pkl"], 1, "a container that contains itself"),
    Case("structured dtype", [*EV, "structured-dtype.pkl"], 1, "dtype 'V8', which is not a plain"),
    Case("dtype BUILD state", [*EV, "dtype-state.pkl"], 1, "a BUILD state NumPy does not write"),
    Case("array data too short", [*EV, "short-data.pkl"], 1, "needs 20 bytes but holds 16"),
    Case(
        "escape sequences in meta",
        [*EV, "escape-meta.pkl"],
        1,
        "unknown hidden activation '\\x1b[2J\\x1b[31mhacked\\nerror: forged'",
    ),
    Case(
        "weights too large to compute with",
        [*EV, "huge-weights.pkl"],
        1,
        "huge-weights.pkl: the weights give NaN or infinite outputs for image 0",
    ),
    Case(
        "predict with weights too large",
        [*P, "seven.png", "-w", "huge-weights.pkl", "--format", "jsonl"],
        1,
        "NaN or infinite outputs for seven.png",
    ),
    # --- weight archives and files that are not files
    Case(
        "weights npz member inflates 1000x",
        [*EV, "weights-inflate-bomb.npz"],
        1,
        "inflate to 200 MB, more than the 100 MB allowed",
    ),
    Case(
        "weights npz unexpected member",
        [*EV, "weights-extra-member.npz"],
        1,
        "refused: an unexpected member 'evil.npy'",
    ),
    Case(
        "weights npz member not .npy",
        [*EV, "weights-not-npy-member.npz"],
        1,
        "refused: an unexpected member 'W3.txt'",
    ),
    Case(
        "weights are /dev/zero",
        [*EV, "/dev/zero"],
        1,
        "/dev/zero: refused: a device, not a regular file",
    ),
    Case(
        "weights link to /dev/zero",
        [*EV, "devzero-link.pkl"],
        1,
        "refused: a device, not a regular file",
    ),
    Case(
        "weights are a FIFO", [*EV, "fifo.pkl"], 1, "fifo.pkl: refused: a FIFO, not a regular file"
    ),
    Case("weights 1 GB", [*EV, "sparse-1g.pkl"], 1, "1,024 MB is more than the 100 MB allowed"),
    # --- inputs that are not files, or never end
    Case("predict /dev/zero", [*P, "/dev/zero"], 1, "refused: a device, not a regular file"),
    Case("predict a FIFO", [*P, "fifo.csv"], 1, "fifo.csv: refused: a FIFO"),
    Case("predict an image that is a FIFO", [*P, "fifo.png"], 1, "fifo.png: refused: a FIFO"),
    Case(
        "folder holding a FIFO",
        [*P, "folder-with-fifo"],
        1,
        "folder-with-fifo/x.png: refused: a FIFO",
        stdout="folder-with-fifo/a.png\t7\t",
    ),
    Case(
        "stdin is /dev/zero",
        [*P, "-"],
        1,
        "stdin: line 1 is longer than 65,536 characters",
        stdin="/dev/zero",
    ),
    Case(
        "stdin CSV without newline",
        [*P, "-"],
        1,
        "stdin: line 1 is longer than 65,536 characters",
        stdin="long-line.csv",
    ),
    Case(
        "stdin .npy over 100 MB",
        [*P, "-"],
        1,
        "stdin: refused: more than 100 MB",
        stdin="sparse-150m.npy",
    ),
    Case(
        "stdin paths with a NUL",
        [*P, "-"],
        1,
        "stdin: no rows of pixel values",
        stdin="paths-with-nul.txt",
    ),
    Case(
        "CSV without newline, 1 GB",
        [*P, "sparse-1g.csv"],
        1,
        "line 1 is longer than 65,536 characters",
    ),
    Case("CSV line of 200 kB", [*P, "long-line.csv"], 1, "line 1 is longer than 65,536 characters"),
    Case("CSV not UTF-8", [*P, "latin1.csv"], 1, "not a recognised input"),
    Case(
        "IDX of 1 GB, wrong count",
        [*P, "sparse-1g.idx"],
        1,
        "but the file holds 1,073,741,824 bytes",
    ),
    Case(
        "gzip IDX claims too much",
        [*P, "gzip-claims-too-much.idx.gz"],
        1,
        "more than 38 bytes of gzip data can hold",
    ),
    Case(
        "npz input inflates 1000x",
        [*P, "inflate-bomb.npz"],
        1,
        "inflate to 200 MB, more than the 100 MB allowed",
    ),
    Case(
        "npz input unexpected member",
        [*P, "input-extra-member.npz"],
        1,
        "unexpected member 'payload'",
    ),
    Case(
        "npz input member not .npy",
        [*P, "input-not-npy-member.npz"],
        1,
        "unexpected member 'notes.txt'",
    ),
    Case("npy zero-size dtype", [*P, "zero-size-dtype.npy"], 1, "pixels have dtype |V0"),
    Case(
        "npy zero-size dtype on Dask",
        [*P, "zero-size-dtype.npy", "--engine", "dask"],
        1,
        "pixels have dtype |V0",
    ),
    Case(
        "truncated gzip IDX on Dask",
        [*P, "truncated.idx.gz", "--engine", "dask"],
        1,
        "corrupt or truncated gzip data",
    ),
    Case(
        "gzip images vs labels counts",
        ["evaluate", "--data", "folder-gzip-mismatch", "-w", "existing.pkl"],
        1,
        "133746 test images but 3 labels",
    ),
    Case(
        "130,000 images",
        ["evaluate", "--data", "folder-too-many", "-w", "existing.pkl"],
        1,
        "at most 120,000 at once",
    ),
    Case(
        "IDX folder file is a FIFO",
        ["evaluate", "--data", "folder-fifo", "-w", "existing.pkl"],
        1,
        "refused: a FIFO",
    ),
    # --- images
    Case("ICO around a 13000x13000 PNG", [*P, "icon-bomb.ico"], 1, "not a recognised input"),
    Case("the ICO named .png", [*P, "icon-bomb.png"], 1, "not an image nnmnist reads"),
    Case(
        "TIFF 10000x10000",
        [*P, "bomb.tiff"],
        1,
        "10000x10000 pixels (L) decode to 95 MB, more than the 64 MB allowed",
    ),
    Case(
        "GIF screen 65535x65535",
        [*P, "bomb.gif"],
        1,
        "not read: Image size (4294836225 pixels) exceeds limit",
    ),
    Case("image of 1 GB", [*P, "sparse-1g.png"], 1, "1,024 MB is more than the 64 MB allowed"),
    # --- outputs
    Case(
        "--force over a symlink",
        ["init", "-o", "link.pkl", "--force"],
        1,
        "link.pkl: is a symbolic link",
    ),
    Case(
        "--save-preprocessed into a folder of inputs",
        [*P, "seven.png", "--save-preprocessed", "."],
        1,
        "is not empty; give --save-preprocessed a new or empty folder",
    ),
    Case(
        "--save-preprocessed over the input",
        [*P, "seven.png", "--save-preprocessed", ".", "--force"],
        1,
        "seven.png: is one of this run's inputs",
    ),
    Case(
        "--save-preprocessed link",
        [*P, "seven.png", "--save-preprocessed", "folder-link"],
        1,
        "folder-link: is a symbolic link",
    ),
    Case(
        "Dask --output not empty",
        [*P, "seven.png", "--engine", "dask", "--output", "a-folder"],
        1,
        "a-folder: is not empty",
    ),
    Case(
        "init over a link to a device",
        ["init", "-o", "devzero-link.pkl", "--force"],
        1,
        "is a symbolic link",
    ),
    # --- tampered state and environment
    Case(
        "checkpoint config unknown key",
        ["train", "--resume", "-o", "unknown-key.npz", "--data", "train-folder"],
        1,
        "the config has an unknown key 'evil'",
    ),
    Case(
        "checkpoint config wrong type",
        ["train", "--resume", "-o", "wrong-type.npz", "--data", "train-folder"],
        1,
        "lr must be a number",
    ),
    Case(
        "checkpoint config out of range",
        ["train", "--resume", "-o", "huge-batch.npz", "--data", "train-folder"],
        1,
        "batch_size must be a whole number from 1 to 60000",
    ),
    Case(
        "checkpoint array shape",
        ["train", "--resume", "-o", "bad-shape.npz", "--data", "train-folder"],
        1,
        "param0 is missing or does not fit this network",
    ),
    Case(
        "checkpoint array that would broadcast",
        ["train", "--resume", "-o", "broadcast.npz", "--data", "train-folder"],
        1,
        "param1 is missing or does not fit",
    ),
    Case(
        "checkpoint generator state",
        ["train", "--resume", "-o", "bad-rng.npz", "--data", "train-folder"],
        1,
        "the saved generator state or history is damaged",
    ),
    Case(
        "checkpoint not a zip",
        ["train", "--resume", "-o", "garbage.npz", "--data", "train-folder"],
        1,
        "not a readable .npz file",
    ),
    Case(
        "checkpoint extra member",
        ["train", "--resume", "-o", "extra-member.npz", "--data", "train-folder"],
        1,
        "unexpected member 'evil.npy'",
    ),
    Case(
        "cache labels above 9",
        [*EV, "existing.pkl", "--data", "openml", "--offline"],
        1,
        "a label above 9 (12); delete it",
        env={"NNMNIST_CACHE": "{corpus}/cache-labels"},
    ),
    Case(
        "cache float pixels",
        [*EV, "existing.pkl", "--data", "openml", "--offline"],
        1,
        "inflate to 209 MB, more than the 100 MB allowed",
        env={"NNMNIST_CACHE": "{corpus}/cache-float"},
    ),
    Case(
        "cache labels int64",
        [*EV, "existing.pkl", "--data", "openml", "--offline"],
        1,
        "labels are int64 (70000,), not uint8",
        env={"NNMNIST_CACHE": "{corpus}/cache-int-labels"},
    ),
    Case(
        "cache not an archive",
        [*EV, "existing.pkl", "--data", "openml", "--offline"],
        1,
        "not a readable .npz file",
        env={"NNMNIST_CACHE": "{corpus}/cache-garbage"},
    ),
    Case(
        "NNMNIST_TIMEOUT=nan",
        [*EV, "existing.pkl", "--data", "openml"],
        1,
        "NNMNIST_TIMEOUT must be a number of seconds",
        env={"NNMNIST_TIMEOUT": "nan", "NNMNIST_CACHE": "{corpus}/no-cache"},
    ),
    Case(
        "NNMNIST_TIMEOUT=-1",
        [*EV, "existing.pkl", "--data", "openml"],
        1,
        "not '-1'",
        env={"NNMNIST_TIMEOUT": "-1", "NNMNIST_CACHE": "{corpus}/no-cache"},
    ),
    Case(
        "malformed --scheduler",
        [*P, "seven.png", "--scheduler", "tcp://host:port:x"],
        2,
        "is not a scheduler address",
    ),
    Case(
        "hostile name, unreadable",
        [*P, "evil\x1b]0;title\x07.png"],
        1,
        "evil\\x1b]0;title\\x07.png: not an image nnmnist reads",
    ),
    # --- safetensors headers that lie (issue 17)
    Case("safetensors header of 1 TB", [*EV, "header-1tb.safetensors"], 1, "header claims"),
    Case(
        "safetensors tensor past the end",
        [*EV, "tensor-past-end.safetensors"],
        1,
        "tensor 'W1' needs 31,360 bytes",
    ),
    Case(
        "safetensors tensor of 16 GB declared",
        [*EV, "tensor-2gb-shape.safetensors"],
        1,
        "of shape [65536, 32768]: more than 16,000,000 values",
    ),
    Case("safetensors tensors overlap", [*EV, "tensors-overlap.safetensors"], 1, "overlap"),
    Case(
        "safetensors object dtype", [*EV, "object-dtype.safetensors"], 1, "must be F16, F32 or F64"
    ),
]

# Large inputs stream: a line per image, and memory stays within the same bound (the .npy's
# images are all blank: each gets a line without a label, and one error line counts them).
STREAMING: list[Case] = [
    Case(
        "a .npy of 100,000 blank images streams",
        [*P, "sparse-100k.npy", "--format", "csv", "--model", "mlp"],
        1,
        "sparse-100k.npy: 100,000 rows are blank, every pixel 0 (rows 0, 1, 2, ...)",
        seconds=60,
    ),
    Case("a 12000x9000 JPEG decodes in draft mode", [*P, "big.jpg"], 0, "", seconds=30),
]

ALL: list[Case] = [Case(c[0], c[1], c[2], c[3]) for c in CASES + round_three.CASES] + EXTRA
STREAMING += [Case(name, args, 0, "") for name, args in round_three.VALID]


def _sparse(path: Path, size: int, head: bytes = b"") -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


def make_generated(folder: Path) -> None:
    """Files git cannot hold, or that are too big to commit: made in the copy for each run."""
    os.mkfifo(folder / "fifo.pkl")
    os.mkfifo(folder / "fifo.csv")
    os.mkfifo(folder / "fifo.png")
    (folder / "folder-with-fifo").mkdir()
    shutil.copy(folder / "seven.png", folder / "folder-with-fifo" / "a.png")
    os.mkfifo(folder / "folder-with-fifo" / "x.png")
    (folder / "folder-fifo").mkdir()
    os.mkfifo(folder / "folder-fifo" / "t10k-images-idx3-ubyte")
    shutil.copy(folder / "folder-bad-label" / "t10k-labels-idx1-ubyte", folder / "folder-fifo")
    (folder / "devzero-link.pkl").symlink_to("/dev/zero")
    (folder / "victim.txt").write_text("a file a link points at\n")
    (folder / "link.pkl").symlink_to(folder / "victim.txt")
    (folder / "folder-link").symlink_to(folder / "a-folder")
    (folder / "evil\x1b]0;title\x07.png").write_text("not an image")
    _sparse(folder / "sparse-1g.pkl", GB, b"\x80\x04")
    _sparse(folder / "sparse-1g.png", GB, b"\x89PNG\r\n\x1a\n")
    _sparse(folder / "sparse-1g.csv", GB)
    _sparse(
        folder / "sparse-1g.idx",
        GB,
        b"\x00\x00\x08\x03" + (1000).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2,
    )
    n = 100_000
    _sparse(folder / "sparse-100k.npy", len(_npy_header((n, 784))) + n * 784, _npy_header((n, 784)))
    m = 150 * (1 << 20) // 784
    _sparse(folder / "sparse-150m.npy", len(_npy_header((m, 784))) + m * 784, _npy_header((m, 784)))
    from PIL import Image, ImageDraw

    big = Image.new("L", (12000, 9000), 255)
    ImageDraw.Draw(big).line((6000, 1000, 6000, 8000), fill=0, width=900)
    big.save(folder / "big.jpg", quality=60)
    round_three.make(folder)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry's kind and content (a hash for small files, size and mtime for big ones)."""
    out: dict[str, object] = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        key = str(p.relative_to(folder))
        if p.is_symlink():
            out[key] = ("link", os.readlink(p))
        elif p.is_fifo():
            out[key] = "fifo"
        elif p.is_dir():
            out[key] = "dir"
        elif st.st_size > 4 << 20:
            out[key] = ("big", st.st_size, st.st_mtime_ns, st.st_mode)
        else:
            out[key] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_mode)
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copytree(FILES, folder, dirs_exist_ok=True)
    make_generated(folder)
    return folder


FIGURES: list[tuple[str, float, float]] = []


def _env(case: Case, corpus: Path, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "NNMNIST_CACHE": str(tmp_path / "cache"),
        "NNMNIST_TIMEOUT": "2",
    }
    for name in ("NNMNIST_WEIGHTS", "NNMNIST_DATA", "NNMNIST_SCHEDULER"):
        env.pop(name, None)
    env.update({k: v.replace("{corpus}", str(corpus)) for k, v in case.env.items()})
    return env


def test_the_corpus_is_big_enough():
    assert len(ALL) >= 120
    assert len({c.id for c in ALL + STREAMING}) == len(ALL) + len(STREAMING)


def _no_results(stdout: str) -> bool:
    """No result: at most a CSV header and one line for the input that failed, with no label,
    no probability and the reason (predict keeps one line per input)."""
    lines = [line for line in stdout.splitlines() if not line.startswith("input,")]

    def unread(line: str) -> bool:
        why = "could not be read" in line or "refused: " in line
        return why and ("\t?\t-\t" in line or ",,," in line or '"label": null' in line)

    return len(lines) <= 1 and all(unread(line) for line in lines)


@pytest.mark.parametrize("case", ALL, ids=[c.id for c in ALL])
def test_bad_input(corpus, tmp_path, case):
    SENTINEL.unlink(missing_ok=True)
    before = snapshot(corpus)
    run = run_measured(case.args, corpus, _env(case, corpus, tmp_path), case.stdin, 120)
    FIGURES.append((case.id, run.peak_mb, run.seconds))
    assert run.signal is None, f"killed by signal {signal.Signals(run.signal).name}"
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert "\x1b" not in run.stderr and "\x1b" not in run.stdout
    assert run.status == case.status, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith(("error: ", "refused: "))]
    assert len(errors) == 1, run.stderr
    assert case.fragment in errors[0], errors[0]
    if case.status == 2:  # a usage error: the line, and at most one line of hint
        assert len(run.stderr.splitlines()) <= 2, run.stderr
    if case.stdout is None:  # nothing, or the bad input's own line without a label
        assert _no_results(run.stdout), run.stdout[:300]
    else:
        first, _, rest = run.stdout.partition("\n")
        assert first.startswith(case.stdout) and _no_results(rest), run.stdout[:300]
    assert snapshot(corpus) == before  # nothing changed, appeared or was left half-written
    assert not SENTINEL.exists()  # nothing in a pickle ran
    assert run.peak_mb < MAX_PEAK_MB, f"peak memory {run.peak_mb:.0f} MB"
    assert run.seconds < case.seconds, f"took {run.seconds:.1f} s"


@pytest.mark.parametrize("case", STREAMING, ids=[c.id for c in STREAMING])
def test_valid_large_inputs_stream_within_the_memory_bound(corpus, tmp_path, case):
    run = run_measured(case.args, corpus, _env(case, corpus, tmp_path), None, 120)
    FIGURES.append((case.id, run.peak_mb, run.seconds))
    assert run.status == case.status and run.signal is None, run.stderr
    assert case.fragment in run.stderr
    assert run.stdout.strip()
    assert run.peak_mb < MAX_PEAK_MB, f"peak memory {run.peak_mb:.0f} MB"


def test_report_the_figures():
    """Write the per-case figures where NNMNIST_CORPUS_REPORT says (for the README)."""
    if report := os.environ.get("NNMNIST_CORPUS_REPORT"):
        lines = [f"{name}\t{peak:.0f}\t{seconds:.2f}" for name, peak, seconds in FIGURES]
        Path(report).write_text("case\tpeak_mb\tseconds\n" + "\n".join(lines) + "\n")
    assert all(peak < MAX_PEAK_MB for _, peak, _ in FIGURES)


def test_a_byte_order_mark_is_accepted(corpus):
    result = subprocess.run([EXE, "predict", "bom.csv"], cwd=corpus, capture_output=True, text=True)
    assert result.stdout.startswith("bom.csv:0\t")  # read as a row (an all-zero one, so exit 1)
    assert result.stderr.endswith(
        "refused: bom.csv: 1 row is blank, every pixel 0 (row 0): no label given\n"
    )


def test_a_terminal_on_stdin_gets_help_not_a_wait(corpus):
    import pty

    parent, child = pty.openpty()
    try:
        result = subprocess.run(
            [EXE, "predict", "-"],
            cwd=corpus,
            stdin=child,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        os.close(parent)
        os.close(child)
    assert result.returncode == 2
    assert "standard input is a terminal" in result.stderr
