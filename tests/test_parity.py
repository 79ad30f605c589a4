"""The notebook's own numbers, reproduced through the CLI on the full MNIST data."""

import json

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights
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
            "-f",
            "json",
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
    result = runner.invoke(app, ["evaluate", "--batch-size", "100", "-f", "json"])
    assert round(json.loads(result.stdout)["accuracy"], 4) == 0.0980


# --- the arithmetic, not only the labels: every probability against an independent forward pass

DLFS = MNIST_DIR.parent / "dlfs"


def reference_probs(arrays: dict, x: np.ndarray, hidden: str = "sigmoid") -> np.ndarray:
    """A float64 forward pass written here from the formulas, sharing no code with nnmnist."""
    act = {
        "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
        "relu": lambda z: np.maximum(z, 0.0),
        "tanh": np.tanh,
    }[hidden]
    a = x.astype(np.float64) / 255.0
    n = sum(1 for k in arrays if k.startswith("W"))
    for i in range(1, n + 1):
        z = a @ arrays[f"W{i}"].astype(np.float64) + arrays[f"b{i}"].astype(np.float64)
        a = act(z) if i < n else z
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _arrays(net) -> dict:
    out = {}
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        out[f"W{i}"], out[f"b{i}"] = w, b
    return out


def _compare(net, images: np.ndarray, atol: float) -> np.ndarray:
    from nnmnist.core.network import forward

    ours = forward(net, images)
    want = reference_probs(_arrays(net), images, net.hidden)
    assert ours.shape == want.shape == (len(images), 10)
    np.testing.assert_allclose(ours, want, rtol=0, atol=atol)
    return want


def test_the_seed_42_network_computes_the_same_probabilities(notebook_weights, digits):
    images, _ = digits
    net = load_weights(notebook_weights)
    want = _compare(net, images, atol=1e-12)  # float64 throughout
    # all-zero predictions are what this network does; its probabilities still differ by image
    assert np.ptp(want[:, 0]) > 1e-6


def test_the_books_trained_network_computes_the_same_probabilities(digits):
    path = DLFS / "ch03-sample_weight.pkl"
    if not path.is_file():
        pytest.skip(f"the book's weight files are not at {DLFS}")
    images, labels = digits
    net = load_weights(path)
    want = _compare(net, images, atol=2e-6)  # float32 weights, float32 arithmetic
    assert np.mean(want.argmax(axis=1) == labels) > 0.9  # a network that tells digits apart


def test_a_small_trained_network_computes_the_same_probabilities(digits):
    from nnmnist.training.trainer import TrainConfig, Trainer

    ds = data.load("bundled", "test")
    config = TrainConfig(hidden=(24,), activation="relu", epochs=2, val_size=0, batch_size=64)
    trainer = Trainer(config, ds.images[1000:4000], ds.labels[1000:4000])
    trainer.run()
    images, labels = digits
    want = _compare(trainer.best_network(), images, atol=2e-6)
    assert np.mean(want.argmax(axis=1) == labels) > 0.7


@pytest.mark.parametrize("which", ["seed-42 (float64)", "the book's (float32)"])
def test_the_cli_prints_those_probabilities(runner, notebook_weights, tmp_path, which):
    """predict --top-k 10 through the CLI: every printed probability, to its 6 decimals."""
    ds = data.load("bundled", "test")
    images = ds.images[:50]
    np.save(tmp_path / "x.npy", images)
    if which.startswith("seed"):
        weights, tolerance = notebook_weights, 5.01e-7  # the rounding alone
    else:
        weights, tolerance = DLFS / "ch03-sample_weight.pkl", 5e-7 + 2e-6  # and float32
        if not weights.is_file():
            pytest.skip(f"the book's weight files are not at {DLFS}")
    result = runner.invoke(
        app, ["predict", str(tmp_path / "x.npy"), "-w", str(weights), "-f", "jsonl", "-k", "10"]
    )
    assert result.exit_code == 0, result.output
    want = reference_probs(_arrays(load_weights(weights)), images)
    for i, line in enumerate(result.stdout.splitlines()):
        row = json.loads(line)
        got = {t["label"]: t["probability"] for t in row["top_k"]}
        assert sorted(got) == list(range(10))
        for label, p in got.items():
            assert abs(p - want[i, label]) <= tolerance, (i, label, p, want[i, label])
