"""The planned inference pass (core.inference) against the layers run one by one (layers.py, as
training runs them): the same labels, probabilities within 1e-5, on the shipped models, the
book's networks and random networks of every layer kind; plans kept only for read-only weights;
workspaces that threads do not share."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from nnmnist.core import arch
from nnmnist.core.activations import OUTPUT_ACTIVATIONS
from nnmnist.core.layers import INFERENCE
from nnmnist.core.network import (
    as_images,
    forward,
    inference_plan,
    init_layers,
    layer_params,
)
from nnmnist.io import mnist
from nnmnist.models.weights import SHIPPED_MODELS, load_weights, shipped_model_path

DLFS = Path(__file__).resolve().parents[2] / "shared" / "data" / "dlfs"


def layer_by_layer(net, x):
    """What forward computed before plans: each layer's own inference pass, in blocks of 32."""
    params = layer_params(net)
    outs = []
    for lo in range(0, len(x), 32):
        a = as_images(x[lo : lo + 32], net.dtype)
        for layer, p in zip(net.layers, params, strict=True):
            a, _ = layer.forward(a, p, INFERENCE)
        outs.append(a)
    return OUTPUT_ACTIVATIONS[net.output](np.concatenate(outs))


def agree(net, x, atol=1e-5):
    want = layer_by_layer(net, x)
    got = forward(net, x)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)
    floats = forward(net, x.astype(np.float32) / np.float32(255))  # [0, 1] floats as input
    np.testing.assert_allclose(floats, want, rtol=0, atol=atol)


@pytest.fixture(scope="module")
def test_images():
    return mnist.load("bundled", "test").images


@pytest.mark.parametrize("name", SHIPPED_MODELS)
def test_shipped_models_read_the_10000_test_digits_as_before(name, test_images):
    net = load_weights(shipped_model_path(name))
    if net.layers is None:
        pytest.skip("an MLP: no plan")
    agree(net, test_images)


@pytest.mark.parametrize("name", ["ch07-params.pkl", "ch08-deep_convnet_params.pkl"])
def test_the_books_networks_read_the_test_digits_as_before(name, test_images):
    path = DLFS / name
    if not path.is_file():
        pytest.skip(f"the book's weight files are not at {DLFS}")
    net = load_weights(path)
    agree(net, test_images[:2000], atol=1e-12)  # float64: the book's own values


@pytest.mark.parametrize(
    "spec",
    [
        "conv8k3p1-relu-pool2-conv16k3s2-relu-affine20-relu-affine10",
        "conv6k5-sigmoid-pool2-affine10",  # not ReLU: pooled after its activation
        "conv6k5-pool2-relu-conv4k3p1-tanh-affine10",  # pooled straight after the GEMM
        "conv4k3-relu-pool3s2-dropout0.3book-affine10",  # overlapping windows, book dropout
        "affine30-relu-affine10",  # no convolution at all
        "conv5k4s2p2-relu-affine12-sigmoid-dropout0.5-affine10",
    ],
)
def test_every_layer_kind_gives_the_layers_results(spec):
    rng = np.random.default_rng(7)
    net = init_layers(arch.parse(spec), scheme="he", rng=rng)
    net = type(net)(
        tuple(w + rng.normal(0, 0.05, w.shape).astype(w.dtype) for w in net.weights),
        tuple(rng.normal(0, 0.1, b.shape).astype(b.dtype) for b in net.biases),
        hidden=net.hidden,
        layers=net.layers,
    )  # biases not zero, so that pooling before the bias is tested
    x = rng.integers(0, 256, (77, 784), dtype=np.uint8)
    for n in (1, 2, 16, 17, 77):
        agree(net, x[:n])


def test_pooling_before_the_bias_and_relu_is_exact():
    """With whole-number weights and pixels every sum is exact, in any order: the fused
    step's outputs equal the layers' bit for bit, so the reordering itself changes nothing."""
    rng = np.random.default_rng(1)
    layers = arch.parse("conv4k3-relu-pool2-conv3k3-relu-pool2-affine10")
    net = init_layers(layers, rng=rng)
    net = type(net)(
        tuple(rng.integers(-3, 4, w.shape).astype(np.float32) for w in net.weights),
        tuple(rng.integers(-50, 50, b.shape).astype(np.float32) for b in net.biases),
        hidden="relu",
        output="identity",
        layers=layers,
    )
    x = rng.integers(0, 256, (20, 784)).astype(np.float32)  # floats: taken as they are
    np.testing.assert_array_equal(forward(net, x), layer_by_layer(net, x))


def test_a_plan_is_kept_only_for_read_only_weights():
    loaded = load_weights(shipped_model_path("cnn"))
    assert not any(a.flags.writeable for a in loaded.weights)
    assert inference_plan(loaded) is inference_plan(loaded)
    training = init_layers(arch.parse("conv4k3-relu-pool2-affine10"), rng=np.random.default_rng(0))
    assert inference_plan(training) is not inference_plan(training)
    x = np.random.default_rng(0).integers(0, 256, (5, 784), dtype=np.uint8)
    before = forward(training, x)
    training.weights[0][...] *= 2  # a training step, in place: the next pass sees it
    training.biases[-1][...] += 1
    assert not np.allclose(forward(training, x), before)
    np.testing.assert_allclose(forward(training, x), layer_by_layer(training, x), atol=1e-6)


def test_threads_do_not_share_a_workspace(test_images):
    """Dask's threaded scheduler runs chunks of one network side by side."""
    net = load_weights(shipped_model_path("cnn"))
    parts = [test_images[i * 300 : (i + 1) * 300] for i in range(4)]
    want = [forward(net, p) for p in parts]
    got: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        for _ in range(3):
            got[i] = forward(net, parts[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(got[i], want[i])


def test_each_call_returns_its_own_array(test_images):
    net = load_weights(shipped_model_path("cnn"))
    a = forward(net, test_images[:3])
    kept = a.copy()
    forward(net, test_images[3:6])  # the same block size: the same workspace
    np.testing.assert_array_equal(a, kept)
    assert forward(net, test_images[:0]).shape == (0, 10)
