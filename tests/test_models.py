"""Shipped models by name: nnmnist models, --model, and the default (the most accurate)."""

from __future__ import annotations

import json

import pytest

from nnmnist.cli import app
from nnmnist.models.weights import SHIPPED_MODELS, load_weights, shipped_model_path, shipped_models


def test_the_default_is_the_most_accurate_shipped_model():
    found = shipped_models()
    if len(found) < len(SHIPPED_MODELS):
        pytest.skip("this installation does not have every shipped model")
    accuracy = {name: load_weights(path).meta["test_accuracy"] for name, path in found.items()}
    assert list(found) == sorted(accuracy, key=accuracy.__getitem__, reverse=True)
    assert shipped_model_path() == found[next(iter(found))]


def test_models_lists_layers_size_accuracy_and_speed(runner):
    result = runner.invoke(app, ["models", "-f", "json", "--speed"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["models"]
    assert [r["name"] for r in rows] == list(shipped_models())
    for r in rows:
        net = load_weights(shipped_model_path(r["name"]))
        assert r["arch"] == net.spec
        assert r["parameters"] == sum(a.size for a in (*net.weights, *net.biases))
        assert r["test_accuracy"] == net.meta["test_accuracy"]
        assert r["images_per_second"] > 0
    assert [r["default"] for r in rows] == [True] + [False] * (len(rows) - 1)
    quick = json.loads(runner.invoke(app, ["models", "-f", "json"]).stdout)["models"]
    assert [r["images_per_second"] for r in quick] == [None] * len(rows)  # not measured
    assert [{**r, "images_per_second": None} for r in rows] == quick
    text = runner.invoke(app, ["models"])
    assert text.exit_code == 0
    assert "images/s" not in text.stdout
    assert "images/s" in runner.invoke(app, ["models", "--speed"]).stdout
    assert all(
        f"{r['name']}: {r['arch']}" in text.stdout or f"{r['name']}:\n  {r['arch']}" in text.stdout
        for r in rows
    )
    assert all(len(line) <= 80 for line in text.stdout.splitlines())


def test_model_picks_a_shipped_model(runner, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNMNIST_WEIGHTS", raising=False)
    result = runner.invoke(app, ["evaluate", "--model", "mlp", "--limit", "100", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["arch"] == "affine512-relu-affine256-relu-affine10"
    assert "the shipped model mnist-mlp.npz" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--model", "resnet"],
            "'resnet' is not a shipped model; choose from writers, photos, cnn, mlp",
        ),
        (["--model", "mlp", "-w", "x.pkl"], "give --weights or --model, not both"),
    ],
)
def test_model_usage_errors(runner, args, message):
    result = runner.invoke(app, ["evaluate", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_model_on_the_command_line_beats_the_environment(runner, monkeypatch, tmp_path):
    monkeypatch.setenv("NNMNIST_WEIGHTS", str(tmp_path / "mine.pkl"))
    result = runner.invoke(app, ["evaluate", "--model", "mlp", "--limit", "10", "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["arch"] == "affine512-relu-affine256-relu-affine10"


def test_the_model_cards_name_the_shipped_files_hashes():
    """Every sha256 in weights/README.md is that of the file whose card it is in."""
    import hashlib
    import re

    from tests.conftest import ROOT

    cards = (ROOT / "weights" / "README.md").read_text().split("\n## ")
    checked = 0
    for card in cards:
        title = re.match(r"`([a-z0-9-]+\.npz)`", card)
        digest = re.search(r"^\| sha256 \| `([0-9a-f]{64})` \|$", card, re.M)
        if title and digest:
            data = (ROOT / "weights" / title.group(1)).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest.group(1), title.group(1)
            checked += 1
    assert checked == 5
