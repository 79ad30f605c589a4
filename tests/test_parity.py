"""The notebook's own numbers, reproduced through the CLI on the full MNIST data."""

import json

import numpy as np
import pytest

from nnmnist import data
from nnmnist.cli import app
from nnmnist.weights import load_weights
from tests.conftest import MNIST_DIR, needs_mnist

NOTEBOOK_FIRST_TEN = [
    0.1100,
    0.1000,
    0.0833,
    0.1025,
    0.1060,
    0.0983,
    0.0986,
    0.0975,
    0.0956,
    0.0950,
]


def book_predict(network, x):
    """The book's predict(), verbatim apart from names: float64, 1/(1+exp(-x)), softmax by row."""
    W1, W2, W3 = network["W1"], network["W2"], network["W3"]
    b1, b2, b3 = network["b1"], network["b2"], network["b3"]
    a1 = np.dot(x, W1) + b1
    z1 = 1 / (1 + np.exp(-a1))
    a2 = np.dot(z1, W2) + b2
    z2 = 1 / (1 + np.exp(-a2))
    a3 = np.dot(z2, W3) + b3
    return a3  # argmax of softmax(a3) == argmax of a3


@pytest.fixture
def notebook_weights(runner, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["init", "--seed", "42"]).exit_code == 0
    return tmp_path / "weights" / "sample_weight.pkl"


@needs_mnist
def test_notebook_parity_running_accuracy(runner, notebook_weights):
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--batch-size",
            "100",
            "--split",
            "notebook",
            "--data",
            str(MNIST_DIR),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["total"] == 14_000 and report["batches"] == 140
    assert [round(a, 4) for a in report["running_accuracy"][:10]] == NOTEBOOK_FIRST_TEN
    assert round(report["accuracy"], 4) == 0.0959


@needs_mnist
def test_books_own_code_agrees_on_the_notebook_split(notebook_weights):
    import pickle

    ds = data.load(str(MNIST_DIR), "notebook")
    with open(notebook_weights, "rb") as f:
        network = pickle.load(f)
    book = np.argmax(book_predict(network, ds.images / 255.0), axis=1)
    from nnmnist.core.network import predict

    ours, _ = predict(load_weights(notebook_weights), ds.images)
    assert np.count_nonzero(book == ds.labels) == np.count_nonzero(ours == ds.labels)


def test_test_split_accuracy_of_the_notebook_weights(runner, notebook_weights):
    result = runner.invoke(app, ["evaluate", "--batch-size", "100", "--json"])
    assert round(json.loads(result.stdout)["accuracy"], 4) == 0.0980
