"""Tests that kill the plausible bugs a mutation audit of the trust layer found unguarded
(issue 26, item 8). Each names the mutant it is there for; `make mutate` runs a mutation
tool over the same modules."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest

from nnmnist.errors import DataError
from nnmnist.io import formats, npyfile
from nnmnist.io.outputs import FileNames


@pytest.mark.parametrize("char", ["\x9b", "\x85", "\x1b", "\x7f", "\u202e", "\u2028", "\udcff"])
def test_c1_controls_and_line_separators_are_escaped(char):
    """Mutant: C1 controls (U+009B, a terminal's CSI; U+0085, a next-line) dropped from the
    escaping. Each must come out as visible text with no control character left."""
    shown = formats.printable(f"a{char}b")
    assert char not in shown and shown.startswith("a\\") and shown.endswith("b")
    assert formats.printable_names([f"x{char}"]) == [shown.replace("a", "x", 1)[:-1]]


def _lines(names, fmt, probs=None):
    n = len(names)
    probs = np.full((n, 1), 0.5) if probs is None else probs
    return formats.prediction_lines(names, np.zeros((n, 1), int), probs, fmt)


@pytest.mark.parametrize("name", ['a"b.npy', "a,b.npy", "a\nb.npy", 'plain"', "x\rz"])
def test_csv_quotes_every_name_that_needs_it(name):
    """Mutant: the CSV quote check (_csv_special) removed: the fast column path would then
    write a comma or a quote into the line as it is."""
    for probs in (np.full((1, 1), 0.5), np.full((1, 1), 2.0)):  # column path, then row path
        (line,) = _lines([name], "csv", probs)
        (row,) = list(csv.reader(io.StringIO(line + "\n")))
        assert row[0] == formats.printable(name)


@pytest.mark.parametrize("name", ["a\\b.npy", 'q"uote.png', "caf\u00e9.png", "tab\there"])
def test_jsonl_escapes_every_name_json_would(name):
    """Mutant: the JSONL backslash escape (_JSON_ESCAPED) removed."""
    (line,) = _lines([name], "jsonl")
    assert json.loads(line)["input"] == formats.printable(name)
    assert line == json.dumps({"input": formats.printable(name), "label": 0, "probability": 0.5})


def test_three_colliding_names_get_three_files():
    """Mutant: the one-to-one name loop reduced to one retry (the third name would share
    the second's file)."""
    names = FileNames()
    given = [names(n) for n in ("a/b.png", "a_b.png", "a:b.png", "./a/b.png")]
    assert given == ["a_b.png", "a_b-2.png", "a_b-3.png", "a_b-4.png"]
    assert names("a/b.png") == "a_b.png"  # the same input keeps its name


def _npy(shape, extra: bytes = b"", short: int = 0) -> io.BytesIO:
    buf = io.BytesIO()
    np.save(buf, np.zeros(shape, np.uint8))
    data = buf.getvalue()
    return io.BytesIO((data[: len(data) - short] if short else data) + extra)


def test_an_npy_with_more_bytes_than_its_header_says_is_refused():
    """Mutant: a .npy holding more bytes than its header says accepted (and read short)."""
    good = _npy((2, 784))
    assert npyfile.check_npy(good, len(good.getvalue()), "x.npy", DataError).shape == (2, 784)
    for f in (_npy((2, 784), extra=b"\0"), _npy((2, 784), short=1)):
        with pytest.raises(DataError, match="but the file holds"):
            npyfile.check_npy(f, len(f.getvalue()), "x.npy", DataError)


def test_the_number_splitter_takes_marks_of_60_percent_of_the_height_as_digits():
    """Mutant: the side-by-side height ratio moved from 0.6 to 0.9 (a 7 beside a 1 that is
    a little shorter would then be one digit)."""
    from nnmnist.vision.marks import _side_by_side

    def mark(top: int, bottom: int, left: int, right: int) -> tuple[slice, slice]:
        return slice(top, bottom), slice(left, right)

    tall = mark(0, 100, 0, 40)
    assert _side_by_side(tall, mark(30, 100, 50, 90), 100)  # 70% of the height
    assert _side_by_side(tall, mark(40, 100, 50, 90), 100)  # exactly 60%
    assert not _side_by_side(tall, mark(41, 100, 50, 90), 100)  # just under
    assert not _side_by_side(tall, mark(0, 100, 30, 90), 100)  # overlapping columns


def test_dask_style_parts_with_a_last_partial_batch_combine_to_the_local_figures():
    """Mutant: Evaluation.combine sizing a part's last, partial batch as a full one (its only
    test used whole batches)."""
    from nnmnist.core.evaluation import Evaluation, evaluate
    from nnmnist.core.network import init_network
    from nnmnist.io.mnist import load

    ds = load("bundled", "test")
    x, y = ds.images[:170], ds.labels[:170]
    net = init_network((784, 20, 10), rng=np.random.RandomState(0), hidden="relu")
    whole = evaluate(net, x, y, 30)  # batches of 30: the last one of 20
    parts = [evaluate(net, x[:90], y[:90], 30), evaluate(net, x[90:], y[90:], 30)]  # 90 + 80
    combined = Evaluation.combine(parts, 30, 0.0)
    assert combined.total == whole.total == 170
    assert combined.running_accuracy == whole.running_accuracy
    assert combined.batch_correct == whole.batch_correct


def test_training_shuffles_every_epoch_differently(monkeypatch):
    """Mutant: no shuffling at all (the other tests compare two runs of the same code)."""
    from nnmnist.training import trainer as training

    n = 200
    images = np.zeros((n, 784), np.uint8)
    images[:, 0] = np.arange(n) % 256  # each row says which it is
    labels = (np.arange(n) % 10).astype(np.uint8)
    seen: list[list[int]] = []
    real = training.loss_and_gradients

    def spy(net, x, y, *args, **kwargs):
        seen.append(x[:, 0].astype(int).tolist())
        return real(net, x, y, *args, **kwargs)

    monkeypatch.setattr(training, "loss_and_gradients", spy)
    config = training.TrainConfig(hidden=(8,), batch_size=50, epochs=2, val_size=20)
    trainer = training.Trainer(config, images, labels)
    trainer.run()
    epochs = [sum(seen[:4], []), sum(seen[4:], [])]  # 180 training rows: 4 batches an epoch
    for order in epochs:
        assert sorted(order) == sorted(trainer.train_rows.tolist())  # each row once
        assert order != sorted(order)
    assert epochs[0] != epochs[1]


def test_a_temporary_has_a_name_no_one_can_predict(tmp_path):
    """Mutant: a fixed temporary name without O_EXCL (two writers would truncate each other's
    file): names differ every time and an existing one is never opened."""
    from nnmnist.io import atomic

    def write(f):
        f.write(b"x")

    names = []
    real = atomic.tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, path = real(*args, **kwargs)
        names.append(os.path.basename(path))
        return fd, path

    import unittest.mock

    with unittest.mock.patch.object(atomic.tempfile, "mkstemp", spy):
        for i in range(5):
            atomic.write_file(tmp_path / f"w{i}.bin", write)
            atomic.write_file(tmp_path / "same.bin", write, overwrite=True)
    same = [n for n in names if n.startswith(".same.bin")]
    assert len(set(same)) == 5 and all(n.startswith(".same.bin.nnmnist-") for n in same)
