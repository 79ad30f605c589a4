"""What files say never reaches the terminal or a result line raw; every output format parses."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnmnist.core.network import init_network
from nnmnist.io.formats import printable
from nnmnist.models.weights import save_weights

EXE = str(Path(sys.executable).parent / "nnmnist")


def _digit(path: Path | bytes) -> None:
    digit = np.zeros((28, 28), np.uint8)
    digit[5:23, 12:16] = 255
    buf = io.BytesIO()
    Image.fromarray(digit).save(buf, format="PNG")
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, timeout=60, env={**os.environ, "NO_COLOR": "1"}
    )


def test_printable_shows_control_characters_and_raw_bytes():
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("tab\there\nnew") == "tab\\x09here\\x0anew"
    assert printable("bad\udcffname") == "bad\\xffname"
    assert printable("\u202egnp.exe") == "\\u202egnp.exe"
    assert printable("plain-ÄÖ-名前.png") == "plain-ÄÖ-名前.png"


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl"])
def test_hostile_file_names_are_escaped_in_every_format(tmp_path, fmt):
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["esc\x1b[31mred.png", "new\nline.png", "tab\tname.png", 'comma,"quote".png']
    for name in names:
        _digit(folder / name)
    _digit(os.path.join(os.fsencode(folder), b"latin1-\xe9.png"))
    result = run(["predict", "in", "--format", fmt], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode("utf-8")  # strict: every byte is UTF-8
    lines = out.splitlines()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(out)))[1:]
        inputs = [r[0] for r in rows]
    elif fmt == "jsonl":
        inputs = [json.loads(line)["input"] for line in lines]
    else:
        inputs = [line.split("\t")[0] for line in lines]
    assert len(inputs) == 5
    assert "in/esc\\x1b[31mred.png" in inputs
    assert "in/new\\x0aline.png" in inputs
    assert "in/tab\\x09name.png" in inputs
    assert 'in/comma,"quote".png' in inputs
    assert "in/latin1-\\xe9.png" in inputs
    assert "\x1b" not in out


def test_hostile_names_are_escaped_in_error_lines(tmp_path):
    (tmp_path / "x\x1b]0;pwned\x07.png").write_text("not an image")
    result = run(["predict", "x\x1b]0;pwned\x07.png"], tmp_path)
    assert result.returncode == 1
    err = result.stderr.decode()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.count("\n") == 2  # the weights used, and the error
    assert "\x1b" not in err and "\x07" not in err
    assert "x\\x1b]0;pwned\\x07.png" in err


def test_weights_too_large_to_compute_with_are_an_error_not_nan(tmp_path):
    net = init_network((784, 8, 10), scheme="he", rng=np.random.default_rng(0), dtype=np.float32)
    huge = type(net)(
        tuple(w * np.float32(3e37) for w in net.weights), net.biases, hidden="relu", meta={}
    )
    save_weights(huge, tmp_path / "huge.npz")
    _digit(tmp_path / "d.png")
    result = run(["predict", "d.png", "-w", "huge.npz", "--format", "jsonl"], tmp_path)
    assert result.returncode == 1
    assert result.stdout == b""
    err = result.stderr.decode()
    (line,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "huge.npz: the weights give NaN or infinite outputs" in line and "d.png" in line
