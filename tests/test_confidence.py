"""--min-confidence: labels withheld below the threshold in every format; coverage figures."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.core.network import forward
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, shipped_model_path


@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNMNIST_WEIGHTS", raising=False)
    x = data.load("bundled", "test").images[:300]
    np.save(tmp_path / "x.npy", x)
    best = forward(load_weights(shipped_model_path()), x).max(axis=1)
    return x, best


def test_labels_below_the_threshold_are_withheld_in_every_format(runner, images):
    _, best = images
    p = float(np.sort(best)[30])  # about one image in ten falls below
    below = set(np.flatnonzero(best < p).tolist())
    assert 0 < len(below) < 300
    text = runner.invoke(app, ["predict", "x.npy", "--min-confidence", str(p)]).stdout
    jsonl = runner.invoke(app, ["predict", "x.npy", "--min-confidence", str(p), "-f", "jsonl"])
    table = runner.invoke(app, ["predict", "x.npy", "--min-confidence", str(p), "-f", "csv"])
    rows = list(csv.reader(io.StringIO(table.stdout)))[1:]
    objs = [json.loads(line) for line in jsonl.stdout.splitlines()]
    for i, (line, row, obj) in enumerate(zip(text.splitlines(), rows, objs, strict=True)):
        withheld = i in below
        assert (line.split("\t")[1] == "?") == withheld
        assert (row[1] == "") == withheld
        assert (obj["label"] is None) == withheld
        assert row[2] and obj["probability"] > 0  # the probability is still shown


def test_evaluate_reports_coverage_and_the_tradeoff(runner, images):
    x, best = images
    result = runner.invoke(
        app, ["evaluate", "--limit", "300", "--min-confidence", "0.99", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["coverage"] == pytest.approx(float(np.mean(best >= 0.99)))
    assert report["accepted_accuracy"] >= report["accuracy"]
    thresholds = [row["min_confidence"] for row in report["tradeoff"]]
    assert thresholds == [0.5, 0.9, 0.99, 0.999]
    coverages = [row["coverage"] for row in report["tradeoff"]]
    assert coverages == sorted(coverages, reverse=True)
    text = runner.invoke(app, ["evaluate", "--limit", "300", "--min-confidence", "0.95"])
    assert "answers at or above a confidence" in text.stdout and "0.95" in text.stdout


def test_the_threshold_is_a_probability(runner, images):
    result = runner.invoke(app, ["predict", "x.npy", "--min-confidence", "1.5"])
    assert result.exit_code == 2 and "--min-confidence: must be at most 1" in result.stderr
