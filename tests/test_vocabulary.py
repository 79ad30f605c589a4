"""One vocabulary across commands, old spellings with a note, usage errors in the house style,
and saying what is being used. Through the installed command: exit codes and streams."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

from nnmnist.cli.options import UNTRAINED
from nnmnist.core.network import init_network
from nnmnist.io import idx
from nnmnist.io import mnist as data
from nnmnist.models.weights import save_weights

EXE = str(Path(sys.executable).parent / "nnmnist")


def run(args: list[str], cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}
    for name in ("NNMNIST_WEIGHTS", "NNMNIST_OUT", "NNMNIST_DATA"):
        env.pop(name, None)
    return subprocess.run(
        [EXE, *args], cwd=cwd, env=env, input=stdin, capture_output=True, timeout=120
    )


def lines(stream: bytes) -> list[str]:
    return stream.decode().splitlines()


def test_out_writes_and_weights_reads(tmp_path):
    made = run(["init", "-o", "w.pkl", "--init", "xavier", "--seed", "3"], tmp_path)
    assert made.returncode == 0 and lines(made.stderr) == [
        "wrote w.pkl: 784-50-50-10 sigmoid, xavier init, seed 3"
    ]
    used = run(["evaluate", "-w", "w.pkl", "--limit", "50", "-f", "json"], tmp_path)
    assert used.returncode == 0 and json.loads(used.stdout)["total"] == 50


def test_old_spellings_still_work_with_one_note_each(tmp_path):
    made = run(["init", "--weights", "w.pkl", "--scheme", "he"], tmp_path)
    assert made.returncode == 0 and (tmp_path / "w.pkl").is_file()
    notes = [line for line in lines(made.stderr) if line.startswith("note: ")]
    assert len(notes) == 2
    assert "--weights for the file to write is now --out (-o)" in notes[0]
    assert "--scheme is now --init" in notes[1]
    old = run(["evaluate", "-w", "w.pkl", "--limit", "20", "--json"], tmp_path)
    assert old.returncode == 0 and json.loads(old.stdout)["total"] == 20
    assert "note: --json is now --format json" in old.stderr.decode()


def test_usage_errors_are_one_line_and_a_hint(tmp_path):
    typo = run(["evaluate", "--batch-sise", "3"], tmp_path)
    assert typo.returncode == 2 and typo.stdout == b""
    assert lines(typo.stderr) == [
        "error: nnmnist evaluate has no option --batch-sise",
        "did you mean --batch-size?",
    ]
    zero = run(["evaluate", "--batch-size", "0"], tmp_path)
    assert zero.returncode == 2
    assert lines(zero.stderr) == [
        "error: --batch-size: must be at least 1",
        "try 'nnmnist evaluate --help'",
    ]
    fmt = run(["predict", "x.png", "--format", "tsv"], tmp_path)
    assert fmt.returncode == 2
    assert lines(fmt.stderr)[0] == "error: --format: 'tsv' is not one of 'text', 'csv', 'jsonl'"
    unknown = run(["evalute"], tmp_path)
    assert unknown.returncode == 2
    assert lines(unknown.stderr) == [
        "error: no such command 'evalute'",
        "did you mean 'evaluate'?",
    ]
    for result in (typo, zero, fmt, unknown):
        assert "╭" not in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def test_help_keeps_the_full_panel(tmp_path):
    result = run(["evaluate", "--help"], tmp_path)
    assert result.returncode == 0 and "Usage: nnmnist evaluate" in result.stdout.decode()


def test_predict_says_which_weights_it_runs(tmp_path):
    np.save(tmp_path / "x.npy", data.load("bundled", "test").images[:3])
    run(["init"], tmp_path)
    result = run(["predict", "x.npy"], tmp_path)
    assert result.returncode == 0
    assert lines(result.stderr) == [
        "predicting with weights/sample_weight.pkl (784-50-50-10 sigmoid)",
        UNTRAINED,
    ]
    assert all(len(line) <= 80 for line in lines(result.stderr))


def test_a_book_pickle_runs_as_sigmoid_and_says_so_and_activation_overrides(tmp_path):
    net = init_network((784, 16, 10), scheme="he", rng=np.random.default_rng(0))
    book = {}
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        book[f"W{i}"], book[f"b{i}"] = w, b
    (tmp_path / "book.pkl").write_bytes(pickle.dumps(book))  # no meta, as the book's files
    np.save(tmp_path / "x.npy", data.load("bundled", "test").images[:5])
    plain = run(["predict", "x.npy", "-w", "book.pkl", "-f", "jsonl", "-k", "10"], tmp_path)
    assert plain.returncode == 0
    assert lines(plain.stderr) == [
        "note: book.pkl does not say its activation: run as the book's sigmoid network "
        "(--activation to change)",
        "predicting with book.pkl (784-16-10 sigmoid)",
    ]
    relu = run(
        ["predict", "x.npy", "-w", "book.pkl", "-f", "jsonl", "-k", "10", "--activation", "relu"],
        tmp_path,
    )
    assert lines(relu.stderr) == ["predicting with book.pkl (784-16-10 relu)"]
    assert relu.stdout != plain.stdout


def test_the_notebook_split_warns_when_the_network_saw_those_images(tmp_path):
    ds = data.load("bundled", "test")
    folder = tmp_path / "mnist"
    folder.mkdir()
    for part, rows in (("train", slice(0, 300)), ("t10k", slice(300, 400))):
        idx.write_idx(folder / f"{part}-images-idx3-ubyte", ds.images[rows].reshape(-1, 28, 28))
        idx.write_idx(folder / f"{part}-labels-idx1-ubyte", ds.labels[rows])
    net = init_network((784, 8, 10), scheme="he", rng=np.random.default_rng(0))
    save_weights(net, tmp_path / "trained.npz", {"data": {"source": "x", "split": "train"}})
    save_weights(net, tmp_path / "fresh.npz")
    args = ["evaluate", "--split", "notebook", "--data", "mnist", "-f", "json", "-w"]
    warned = run([*args, "trained.npz"], tmp_path)
    assert warned.returncode == 0
    assert any(line.startswith("warning: the notebook split") for line in lines(warned.stderr))
    quiet = run([*args, "fresh.npz"], tmp_path)
    assert not any(line.startswith("warning:") for line in lines(quiet.stderr))


def test_arrays_already_scaled_to_0_1_are_read_as_such_with_a_note(tmp_path):
    x = data.load("bundled", "test").images[:20]
    np.save(tmp_path / "raw.npy", x)
    np.save(tmp_path / "scaled.npy", x / 255.0)
    raw = run(["predict", "raw.npy", "-f", "csv"], tmp_path)
    scaled = run(["predict", "scaled.npy", "-f", "csv", "-b", "5"], tmp_path)
    assert scaled.returncode == 0
    notes = [line for line in lines(scaled.stderr) if line.startswith("note:")]
    assert notes == [
        "note: scaled.npy: pixel values are within 0-1: read as already scaled to [0, 1] "
        "(multiply by 255 if they are meant as 0-255)"
    ]  # once, though there are four batches
    labels = [row.split(",")[1] for row in lines(raw.stdout)[1:]]
    assert [row.split(",")[1] for row in lines(scaled.stdout)[1:]] == labels


def test_stdin_is_read_by_content(tmp_path):
    numbers = run(["predict", "-"], tmp_path, stdin=b"1,2,3\n")
    assert numbers.returncode == 1
    assert lines(numbers.stderr)[-1] == (
        "error: stdin: line 1 has 3 values; expected 784 (or 785 with a label)"
    )
    root = Path(__file__).resolve().parent.parent
    picture = (root / "examples" / "photos" / "drawn-seven.png").read_bytes()
    png = run(["predict", "-"], tmp_path, stdin=picture)
    assert png.returncode == 0 and lines(png.stdout)[0].startswith("stdin\t7\t")
    array = (root / "examples" / "digits.npy").read_bytes()
    npy = run(["predict", "-"], tmp_path, stdin=array)
    assert npy.returncode == 0 and len(lines(npy.stdout)) == 10


def test_help_screens_describe_every_option_without_flag_placeholders():
    import typer

    from nnmnist.cli import app

    command = typer.main.get_command(app)
    for name, sub in command.commands.items():  # type: ignore[attr-defined]
        for param in sub.params:
            if param.param_type_name == "option" and not param.hidden:
                assert param.help, f"nnmnist {name} {param.opts[0]} has no description"
    for args in (["--help"], ["evaluate", "--help"], ["predict", "--help"], ["train", "--help"]):
        result = run(args, Path("."))
        text = result.stdout.decode()
        assert result.returncode == 0 and "<bool>" not in text and "range>" not in text
        assert "../shared" not in text  # examples work from any folder


def test_all_zero_rows_keep_their_line_without_a_label(tmp_path):
    """An all-zero row of an array or CSV is a blank image: no label, one line on stderr, exit 1;
    its result line stays so that row numbers line up with the input."""
    x = data.load("bundled", "test").images[:5].copy()
    x[[1, 3]] = 0
    np.save(tmp_path / "x.npy", x)
    rows = "\n".join(",".join(map(str, r)) for r in x.tolist()) + "\n"
    (tmp_path / "x.csv").write_text(rows)
    for name in ("x.npy", "x.csv"):
        got = run(["predict", name, "-f", "csv"], tmp_path)
        assert got.returncode == 1
        assert lines(got.stderr)[-1] == (
            f"refused: {name}: 2 rows are blank, every pixel 0 (rows 1, 3): no label given"
        )
        labels = [r.split(",")[1] for r in lines(got.stdout)[1:]]
        assert labels == ["7", "", "1", "", "4"]
    text = run(["predict", "x.npy"], tmp_path)
    assert [r.split("\t")[1] for r in lines(text.stdout)] == ["7", "?", "1", "?", "4"]
    jsonl = run(["predict", "x.npy", "-f", "jsonl"], tmp_path)
    assert [json.loads(r)["label"] for r in lines(jsonl.stdout)] == [7, None, 1, None, 4]
    np.save(tmp_path / "one.npy", np.zeros((28, 28), np.uint8))
    one = run(["predict", "one.npy"], tmp_path)
    assert one.returncode == 1 and lines(one.stderr)[-1] == (
        "refused: one.npy: the image is blank, every pixel 0: no label given"
    )
