"""ConvNets end to end: the book's two trained files exactly, the architecture travelling with
the weights, and training one through the CLI (reproducible, resumable, every path)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.core import arch
from nnmnist.core.network import forward, init_layers
from nnmnist.errors import WeightsError
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, save_weights
from nnmnist.training.augment import add_noise, change_thickness, distort_images
from nnmnist.training.trainer import TrainConfig, Trainer

from .test_training import interrupt_at

DLFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlfs"
EXE = str(Path(sys.executable).parent / "nnmnist")
BOOK = {
    "ch07-params.pkl": ("SimpleConvNet", 0.9600),
    "ch08-deep_convnet_params.pkl": ("DeepConvNet", 0.9797),
}


def _book_file(name: str) -> Path:
    path = DLFS / name
    if not path.is_file():
        pytest.skip(f"the book's weight files are not at {DLFS}")
    return path


@pytest.mark.parametrize("name", list(BOOK))
def test_the_books_convnets_score_what_the_book_computes(name):
    path = _book_file(name)
    book_name, accuracy = BOOK[name]
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("NNMNIST_WEIGHTS", None)
    run = subprocess.run(
        [EXE, "evaluate", "-w", str(path), "-f", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert f"recognised as the book's {book_name}" in run.stderr
    report = json.loads(run.stdout)
    assert report["accuracy"] == accuracy and report["total"] == 10_000
    assert report["arch"] == arch.BOOK_NETWORKS[book_name]


def test_the_simple_convnet_gives_the_same_labels_at_any_batch_size():
    net = load_weights(_book_file("ch07-params.pkl"))
    ds = data.load("bundled", "test")
    labels = forward(net, ds.images).argmax(axis=1)
    assert int((labels == ds.labels).sum()) == 9600
    for batch, n in ((1, 200), (7, 200), (100, 1000), (1000, 1000)):
        part = ds.images[:n]
        got = np.concatenate([forward(net, part[i : i + batch]) for i in range(0, n, batch)])
        np.testing.assert_array_equal(got.argmax(axis=1), labels[:n])


def test_the_deep_convnet_halves_its_logits_as_the_book_does():
    """The book's dropout multiplies by 1 - 0.5 at inference, twice at the end: the softmax of
    the network's last affine output, halved."""
    net = load_weights(_book_file("ch08-deep_convnet_params.pkl"))
    assert isinstance(net.layers[-1], type(net.layers[-3]))  # dropout0.5book after affine10
    x = data.load("bundled", "test").images[:20]
    probs = forward(net, x)
    from dataclasses import replace

    without = replace(net, layers=net.layers[:-1])  # the final dropout removed
    from nnmnist.core.activations import softmax
    from nnmnist.core.network import run_layers

    np.testing.assert_allclose(probs, softmax(run_layers(without, x) * 0.5), rtol=1e-12)


def _book_dict(net):
    """The arrays alone, as the book's files hold them: W1, b1, W2, b2, ..."""
    out = {}
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        out[f"W{i}"], out[f"b{i}"] = w, b
    return out


def _random_convnet(spec: str = "conv4k5s2-relu-pool2-affine16-relu-affine10"):
    return init_layers(arch.parse(spec), rng=np.random.default_rng(0), dtype=np.float32)


@pytest.mark.parametrize("suffix", [".npz", ".pkl"])
def test_the_spec_travels_with_the_weights(tmp_path, suffix):
    net = _random_convnet()
    path = tmp_path / f"c{suffix}"
    save_weights(net, path)
    back = load_weights(path)
    assert back.spec == net.spec and back.meta["arch"] == net.spec
    for a, b in zip(net.weights + net.biases, back.weights + back.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    x = data.load("bundled", "test").images[:10]
    np.testing.assert_array_equal(forward(net, x), forward(back, x))


def test_a_convnet_file_without_a_spec_asks_for_arch(runner, tmp_path):
    net = _random_convnet()
    path = tmp_path / "bare.pkl"
    arrays = _book_dict(net)
    path.write_bytes(pickle.dumps(arrays))
    with pytest.raises(WeightsError, match=r"W1 has shape \(4, 1, 5, 5\).*--arch SPEC"):
        load_weights(path)
    result = runner.invoke(app, ["predict", str(path), "--arch", net.spec], input="")
    assert "--arch" not in result.stderr or result.exit_code != 1
    np.save(tmp_path / "x.npy", data.load("bundled", "test").images[:3])
    result = runner.invoke(
        app, ["predict", str(tmp_path / "x.npy"), "-w", str(path), "--arch", net.spec]
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "conv4k3s2-relu-pool2-affine16-relu-affine10",
            r"W1 has shape \(4, 1, 5, 5\) but layer 1 \(conv4k3s2\) needs \(4, 1, 3, 3\)",
        ),
        (
            "conv4k5s2-relu-pool2-affine32-relu-affine10",
            r"W2 has shape \(144, 16\) but layer 4 \(affine32\) needs \(144, 32\)",
        ),
        (
            "conv4k5s2-relu-affine10",
            "the layer spec has 2 conv and affine layers but the file holds W1..W3",
        ),
        ("conv4k5s2-relu-pool2", "must end in affine10"),
    ],
)
def test_a_spec_that_does_not_fit_names_the_layer_and_sizes(tmp_path, spec, message):
    path = tmp_path / "c.npz"
    save_weights(_random_convnet(), path)
    with pytest.raises(WeightsError, match=message):
        load_weights(path, spec)


def test_a_spec_in_a_file_is_checked_like_any_other_input(tmp_path):
    net = _random_convnet()
    path = tmp_path / "c.npz"
    arrays = _book_dict(net)
    meta = {"arch": "conv4k5s2-relu-pool2-affine16-relu-affine10\x1b[31m"}
    np.savez(path, **arrays, meta=np.array(json.dumps(meta)))
    with pytest.raises(WeightsError, match=r"\\x1b\[31m.*is not a layer"):
        load_weights(path)  # named, escaped for the terminal, refused
    meta = {"arch": 42}
    np.savez(path, **arrays, meta=np.array(json.dumps(meta)))
    with pytest.raises(WeightsError, match="the arch entry of meta must be a layer spec"):
        load_weights(path)


def test_distortions_keep_images_in_range_and_are_reproducible():
    x = data.load("bundled", "test").images[:50]
    a = distort_images(x, 10, 0.1, 6, np.random.default_rng(3))
    b = distort_images(x, 10, 0.1, 6, np.random.default_rng(3))
    assert a.dtype == np.float32 and a.shape == (50, 784)
    assert np.array_equal(a, b) and a.min() >= 0 and a.max() <= 1
    same = distort_images(x, 0, 0, 0, np.random.default_rng(3))
    np.testing.assert_allclose(same, x / 255, atol=1e-6)  # no distortion: the images themselves
    moved = np.abs(a - x / 255).mean(axis=1)
    assert (moved > 0.01).mean() > 0.9  # nearly every image changed


def test_thickness_changes_stroke_width_both_ways_and_keeps_contrast():
    x = data.load("bundled", "test").images[:200]

    class Fixed:  # every image gets the same amount
        def __init__(self, amount: float) -> None:
            self.amount = amount

        def uniform(self, lo: float, hi: float, n: int) -> np.ndarray:
            return np.full(n, self.amount)

    ink = {a: (change_thickness(x, 1.5, Fixed(a)) > 0.5).sum() for a in (-1.0, 0.0, 1.0)}
    assert ink[-1.0] < 0.75 * ink[0.0] and ink[1.0] > 1.4 * ink[0.0]
    thinner = change_thickness(x, 1.5, Fixed(-1.0))
    np.testing.assert_allclose(thinner.max(axis=1), x.max(axis=1) / 255, atol=1e-6)
    np.testing.assert_allclose(change_thickness(x, 1.5, Fixed(0.0)), x / 255, atol=1e-6)
    a = change_thickness(x, 1.5, np.random.default_rng(1))
    assert np.array_equal(a, change_thickness(x, 1.5, np.random.default_rng(1)))
    noisy = add_noise(x, 0.1, np.random.default_rng(1))
    assert noisy.min() >= 0 and noisy.max() <= 1 and noisy.dtype == np.float32
    assert 0.01 < float(np.abs(noisy - x / 255).mean()) < 0.06


TINY = [
    "--arch",
    "conv4k5s2-relu-pool2-affine16-relu-dropout0.25-affine10",
    "--epochs",
    "2",
    "--batch-size",
    "50",
    "--val-size",
    "300",
    "--augment",
    "1",
    "--rotate",
    "8",
    "--scale",
    "0.1",
    "--elastic",
    "4",
    "--thickness",
    "1",
    "--noise",
    "0.05",
]


def test_training_a_convnet_is_reproducible_and_resumable(
    runner, bundled_train_folder, tmp_path, monkeypatch
):
    args = [*TINY, "--data", str(bundled_train_folder)]
    for name in ("a.npz", "b.npz"):
        result = runner.invoke(app, ["train", *args, "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
    a, b = load_weights(tmp_path / "a.npz"), load_weights(tmp_path / "b.npz")
    assert a.spec == TINY[1] and a.meta["rotate"] == 8 and a.meta["elastic"] == 4
    assert a.meta["thickness"] == 1 and a.meta["noise"] == 0.05
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(x, y)
    part = tmp_path / "part.npz"
    with monkeypatch.context() as m:
        interrupt_at(m, 24 + 5)  # in epoch 2
        result = runner.invoke(app, ["train", *args, "-o", str(part)])
    assert result.exit_code == 130
    refused = runner.invoke(
        app, ["train", "--resume", "--arch", "conv8k5-affine10", "-o", str(part)]
    )
    assert refused.exit_code == 2 and "contradicts the checkpoint" in refused.stderr
    result = runner.invoke(app, ["train", "--resume", "-o", str(part)])
    assert result.exit_code == 0, result.output
    c = load_weights(part)
    for x, y in zip(a.weights + a.biases, c.weights + c.biases, strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_small_convnet_learns(bundled_train_folder):
    ds = data.load("bundled", "test")
    config = TrainConfig(
        arch="conv8k5-relu-pool2-affine10", epochs=3, batch_size=32, val_size=0, seed=1
    )
    trainer = Trainer(config, ds.images[:2000], ds.labels[:2000])
    trainer.run()
    net = trainer.best_network()
    accuracy = float(np.mean(forward(net, ds.images[5000:6000]).argmax(1) == ds.labels[5000:6000]))
    assert accuracy > 0.85


def test_every_path_takes_a_convnet(runner, tmp_path, monkeypatch):
    """predict on arrays and pictures with --show and --top-k, evaluate on MNIST and on labelled
    data: all run a ConvNet file, and agree with the core's forward pass."""
    monkeypatch.chdir(tmp_path)
    net = _random_convnet()
    save_weights(net, tmp_path / "c.npz")
    x = data.load("bundled", "test").images[:40]
    labels = data.load("bundled", "test").labels[:40]
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "own.npz", x=x, y=labels)
    want = forward(net, x).argmax(axis=1)
    got = runner.invoke(app, ["predict", "x.npy", "-w", "c.npz", "-f", "csv", "-k", "3"])
    assert got.exit_code == 0, got.output
    rows = [line.split(",") for line in got.stdout.splitlines()[1:]]
    assert [int(r[1]) for r in rows] == want.tolist() and len(rows[0]) == 8
    shown = runner.invoke(app, ["predict", "x.npy", "-w", "c.npz", "--show"])
    assert shown.exit_code == 0 and "▀" in shown.stdout + shown.stderr or "█" in shown.stdout
    own = runner.invoke(app, ["evaluate", "own.npz", "-w", "c.npz", "-f", "json"])
    assert json.loads(own.stdout)["accuracy"] == float(np.mean(want == labels))
    mnist = runner.invoke(app, ["evaluate", "-w", "c.npz", "--limit", "200", "-f", "json"])
    assert json.loads(mnist.stdout)["arch"] == net.spec


def test_the_dask_engine_runs_a_convnet_byte_for_byte(runner, tmp_path, monkeypatch):
    pytest.importorskip("distributed", reason="the dask extra is not installed")
    monkeypatch.chdir(tmp_path)
    save_weights(_random_convnet(), tmp_path / "c.npz")
    np.save(tmp_path / "x.npy", data.load("bundled", "test").images[:700])
    args = ["predict", "x.npy", "-w", "c.npz", "-f", "csv", "-k", "2", "--batch-size", "100"]
    local = runner.invoke(app, args)
    dask = runner.invoke(app, [*args, "--engine", "dask", "--chunk-size", "300"])
    assert local.exit_code == dask.exit_code == 0, dask.output
    assert dask.stdout == local.stdout
    evaluated = [
        json.loads(
            runner.invoke(
                app, ["evaluate", "-w", "c.npz", "--limit", "500", "-f", "json", *extra]
            ).stdout
        )
        for extra in ([], ["--engine", "dask", "--chunk-size", "200"])
    ]
    assert evaluated[0]["accuracy"] == evaluated[1]["accuracy"]
    assert evaluated[0]["confusion_matrix"] == evaluated[1]["confusion_matrix"]


def _reference_simple_convnet(params, x):
    """The book's SimpleConvNet written independently: NCHW arrays, the convolution as an
    einsum per output position, pooling by reshape, flattening in (C, H, W) order."""
    a = (x.astype(np.float32) / 255).reshape(-1, 1, 28, 28)
    w1 = params["W1"]
    conv = np.empty((len(a), 30, 24, 24))
    for y in range(24):
        for z in range(24):
            conv[:, :, y, z] = np.einsum("nchw,fchw->nf", a[:, :, y : y + 5, z : z + 5], w1)
    conv += params["b1"][None, :, None, None]
    h = np.maximum(conv, 0).reshape(len(a), 30, 12, 2, 12, 2).max(axis=(3, 5))
    h = np.maximum(h.reshape(len(a), -1) @ params["W2"] + params["b2"], 0)
    logits = h @ params["W3"] + params["b3"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_simple_convnet_matches_an_independent_implementation():
    from nnmnist.io.picklefile import parse_pickle

    path = _book_file("ch07-params.pkl")
    params = parse_pickle(path.read_bytes())
    x = data.load("bundled", "test").images[:200]
    want = _reference_simple_convnet(params, x)
    got = forward(load_weights(path), x)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))


def test_arch_and_hidden_do_not_mix(runner, tmp_path):
    result = runner.invoke(
        app,
        ["train", "--arch", "conv4k5-affine10", "--hidden", "32", "-o", str(tmp_path / "w.npz")],
    )
    assert result.exit_code == 2
    assert "--arch gives every layer; drop --hidden and --activation" in result.stderr
