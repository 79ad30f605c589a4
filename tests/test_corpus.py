"""The bad-input corpus, run through the installed `nnmnist` command.

Each case: the arguments (run in a fresh copy of tests/corpus/files), the exit status, and a
fragment of the one `error:` line expected on stderr. Every case also checks: no traceback,
exactly one stderr line (unless noted), and no file in the folder changed, appeared or vanished.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parent / "corpus" / "files"
SENTINEL = Path("/tmp/nnmnist-corpus-pwned")
EXE = str(Path(sys.executable).parent / "nnmnist")

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
        "refused: 10000x10000 pixels (1) decode to 95 MB, more than the 64 MB allowed",
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
        "Invalid value for '--batch-size'",
    ),
    (
        "--batch-size negative",
        ["evaluate", "--batch-size", "-5"],
        2,
        "Invalid value for '--batch-size'",
    ),
    (
        "--batch-size non-numeric",
        ["evaluate", "--batch-size", "ten"],
        2,
        "Invalid value for '--batch-size'",
    ),
    (
        "--batch-size absurd",
        ["evaluate", "--batch-size", "1000000000000"],
        2,
        "Invalid value for '--batch-size'",
    ),
    ("--top-k 0", [*P, "seven.png", "--top-k", "0"], 2, "Invalid value for '--top-k'"),
    ("--split unknown", ["evaluate", "--split", "validation"], 2, "Invalid value for '--split'"),
    ("input missing", [*P, "missing.png"], 1, "missing.png: no such file"),
    ("input folder without inputs", [*P, "folder-empty"], 1, "no image or array files found"),
    (
        "init over an existing file",
        ["init", "--weights", "existing.pkl"],
        1,
        "existing.pkl: already exists; pass --force",
    ),
    ("init into a folder", ["init", "--weights", "a-folder"], 1, "a-folder: is a folder"),
    ("train into a folder", ["train", "--weights", "a-folder"], 1, "a-folder: is a folder"),
    (
        "train over an existing file",
        ["train", "--weights", "existing.pkl"],
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
        ["train", "--data", "no-such-folder", "--weights", "new.npz"],
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
        ["train", "--resume", "--weights", "new.npz"],
        1,
        "no checkpoint to resume from",
    ),
]


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else "dir"
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    shutil.copytree(FILES, folder, dirs_exist_ok=True)
    return folder


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 40
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    ("args", "status", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input(corpus, tmp_path, args, status, fragment):
    SENTINEL.unlink(missing_ok=True)
    before = snapshot(corpus)
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "NNMNIST_CACHE": str(tmp_path / "cache"),
        "NNMNIST_TIMEOUT": "2",
    }
    env.pop("NNMNIST_WEIGHTS", None)
    env.pop("NNMNIST_DATA", None)
    result = subprocess.run(
        [EXE, *args],
        cwd=corpus,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    if status == 2:  # usage errors: Click's usage box, which names the option
        assert fragment in result.stderr
    else:
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert result.stdout in ("", "input,label,probability\n")
    assert snapshot(corpus) == before  # nothing changed, appeared or was left half-written
    assert not SENTINEL.exists()  # nothing in a pickle ran


def test_a_byte_order_mark_is_accepted(corpus):
    result = subprocess.run([EXE, "predict", "bom.csv"], cwd=corpus, capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("bom.csv:0\t")


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
