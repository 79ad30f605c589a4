"""Layers: golden values from an independent route (plain loops over NCHW arrays, as the book
writes its convolution), gradient checks in float64 for every layer type, and the spec grammar."""

from __future__ import annotations

import numpy as np
import pytest

from nnmnist.core import arch
from nnmnist.core.backprop import loss_and_gradients
from nnmnist.core.layers import INFERENCE, Activation, Affine, Conv, Dropout, Mode, Pool
from nnmnist.core.network import Network, forward, init_layers, init_network
from tests.gradcheck import central_differences


def naive_conv(x, w, b, stride, pad):
    """Cross-correlation by loops: x (N, C, H, W), w (F, C, KH, KW) -> (N, F, OH, OW)."""
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(n):
        for k in range(f):
            for y in range(oh):
                for z in range(ow):
                    patch = xp[i, :, y * stride : y * stride + kh, z * stride : z * stride + kw]
                    out[i, k, y, z] = np.sum(patch * w[k]) + b[k]
    return out


def naive_pool(x, size, stride):
    n, c, h, w = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for y in range(oh):
        for z in range(ow):
            window = x[:, :, y * stride : y * stride + size, z * stride : z * stride + size]
            out[:, :, y, z] = window.max(axis=(2, 3))
    return out


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


@pytest.mark.parametrize(
    ("kh", "kw", "stride", "pad"), [(3, 3, 1, 0), (3, 3, 1, 1), (5, 3, 2, 2), (2, 4, 3, 1)]
)
@pytest.mark.parametrize("channels", [1, 3])
def test_convolution_matches_loops(kh, kw, stride, pad, channels):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, channels, 9, 8))
    w = rng.standard_normal((4, channels, kh, kw))
    b = rng.standard_normal(4)
    layer = Conv(4, kh, kw, stride, pad)
    expected = nhwc(naive_conv(x, w, b, stride, pad))
    for train in (False, True):
        y, _ = layer.forward(nhwc(x), (w, b), Mode(train=train))
        np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_convolution_by_hand():
    """A 3x3 image, one 2x2 filter: each output is the sum of the window times the filter."""
    x = np.arange(9.0).reshape(1, 3, 3, 1)  # [[0 1 2] [3 4 5] [6 7 8]]
    w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # top-left minus bottom-right
    y, _ = Conv(1, 2, 2).forward(x, (w, np.array([0.5])), INFERENCE)
    assert y[0, :, :, 0].tolist() == [[-3.5, -3.5], [-3.5, -3.5]]


@pytest.mark.parametrize(("size", "stride"), [(2, 2), (3, 2), (2, 1), (3, 3)])
def test_pooling_matches_loops(size, stride):
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 7))
    for train in (False, True):
        y, _ = Pool(size, stride).forward(nhwc(x), (), Mode(train=train))
        np.testing.assert_array_equal(y, nhwc(naive_pool(x, size, stride)))


def test_pooling_ties_send_the_gradient_to_the_first_largest_value():
    x = np.array([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)
    y, cache = Pool(2, 2).forward(x, (), Mode(train=True))
    assert y.ravel().tolist() == [3.0]
    dx, _ = Pool(2, 2).backward(np.ones((1, 1, 1, 1)), cache, (), Mode(train=True))
    assert dx.ravel().tolist() == [0.0, 1.0, 0.0, 0.0]  # row-major first of the three 3s


def test_dropout_conventions():
    x = np.ones((2, 5))
    assert np.array_equal(Dropout(0.5).forward(x, (), INFERENCE)[0], x)  # inverted: nothing
    assert np.array_equal(Dropout(0.5, book=True).forward(x, (), INFERENCE)[0], x * 0.5)
    rng = np.random.default_rng(0)
    y, mask = Dropout(0.25).forward(np.ones((400, 100)), (), Mode(train=True, rng=rng))
    assert set(np.unique(y).tolist()) == {0.0, 1 / 0.75}
    assert abs((y == 0).mean() - 0.25) < 0.01
    y_book, _ = Dropout(0.25, book=True).forward(x, (), Mode(train=True, rng=rng))
    assert set(np.unique(y_book).tolist()) <= {0.0, 1.0}


def test_flatten_order_is_the_books():
    """An affine layer after a convolution flattens (C, H, W), as the book's reshape does."""
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5))  # NCHW
    w = np.random.default_rng(4).standard_normal((60, 7))
    b = np.zeros(7)
    y, _ = Affine(7).forward(nhwc(x), (w, b), INFERENCE)
    np.testing.assert_allclose(y, x.reshape(2, -1) @ w)


def _relative_error(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def _gradient_check(spec, seed=0, x=None, decay=1e-3):
    """Compare every analytic gradient with central differences (float64); returns the worst
    relative error over all arrays. Dropout draws the same mask each time (same seed)."""
    rng = np.random.default_rng(seed)
    net = init_layers(arch.parse(spec), scheme="xavier", rng=rng, dtype=np.float64)
    net = Network(
        tuple(w + 0.01 * rng.standard_normal(w.shape) for w in net.weights),
        tuple(b + 0.1 * rng.standard_normal(b.shape) for b in net.biases),
        layers=net.layers,
    )
    if x is None:
        x = rng.random((3, 784))
    y = rng.integers(0, 10, len(x))

    def loss():
        return loss_and_gradients(net, x, y, decay, np.random.default_rng(99))[0]

    _, gw, gb, _ = loss_and_gradients(net, x, y, decay, np.random.default_rng(99))
    worst = 0.0
    for arrays, grads in ((net.weights, gw), (net.biases, gb)):
        for a, g in zip(arrays, grads, strict=True):
            picks = np.random.default_rng(seed).choice(a.size, min(a.size, 40), False)
            numeric = central_differences(a, picks, loss, 1e-5)
            worst = max(worst, _relative_error(numeric, g.reshape(-1)[picks]))
    return worst


@pytest.mark.parametrize(
    "spec",
    [
        "conv3k3-sigmoid-affine10",  # convolution, stride 1, no padding
        "conv3k3s2p1-tanh-affine10",  # stride and padding
        "conv2k5x3s2p2-tanh-conv3k2-sigmoid-affine10",  # a non-square kernel, two convolutions
        "conv3k3s3-tanh-pool2-affine8-sigmoid-affine10",  # pooling, then affine layers
        "conv2k5s3-identity-pool3s2-affine10",  # overlapping pooling windows
        "affine12-tanh-dropout0.3-affine10",  # inverted dropout with a fixed mask
        "affine12-sigmoid-dropout0.4book-affine10",  # the book's dropout
        "conv2k4s4-relu-affine10",  # ReLU
    ],
)
def test_gradients_match_central_differences(spec):
    assert _gradient_check(spec) < 1e-6


def test_pooling_gradient_where_the_input_has_ties():
    """Ties make the max non-differentiable: where the inputs tie, the gradient must still be a
    valid one-sided choice. Here the tied values come after a ReLU of a constant image (all
    windows tie at the bias); the check runs at a point nudged off the tie."""
    x = np.full((2, 784), 0.5)
    x[:, ::7] += np.linspace(0, 0.3, 112)
    assert _gradient_check("conv2k3s3-tanh-pool2-affine10", x=x) < 1e-6


def test_spec_round_trip_and_shapes():
    for spec in [*arch.BOOK_NETWORKS.values(), "conv8k5x3s2p1-relu-pool3s2-affine10"]:
        assert arch.to_spec(arch.parse(spec)) == spec
    shapes = [s for _, s, _ in arch.param_shapes(arch.parse(arch.BOOK_NETWORKS["SimpleConvNet"]))]
    assert shapes == [(30, 1, 5, 5), (30,), (4320, 100), (100,), (100, 10), (10,)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("conv8k3-relu", "must end in affine10"),
        ("conv8k3-relu-affine10-affine12", "must end in affine10"),
        ("convolution8-affine10", "'convolution8' is not a layer"),
        ("conv8k30-affine10", "leaves nothing of the image"),
        ("affine20-pool2-affine10", "needs an image, but follows affine units"),
        ("conv0k3-affine10", "the number of filters must be from 1 to 4096"),
        ("dropout1.5-affine10", "is not a layer"),
        ("", "1 to 64 layers"),
        ("-".join(["relu"] * 70) + "-affine10", "1 to 64 layers"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, message):
    with pytest.raises(arch.SpecError, match=message):
        arch.parse(spec)


def test_an_mlp_spec_runs_the_mlp_path_with_the_same_results():
    rng = np.random.default_rng(5)
    mlp = init_network((784, 30, 20, 10), scheme="he", rng=rng, hidden="tanh")
    spec = arch.mlp_spec(mlp.sizes, "tanh")
    assert spec == "affine30-tanh-affine20-tanh-affine10" and mlp.spec == spec
    assert arch.as_mlp(arch.parse(spec)) == ((784, 30, 20, 10), "tanh")
    assert arch.as_mlp(arch.parse("affine10")) == ((784, 10), None)
    layered = Network(mlp.weights, mlp.biases, layers=arch.parse(spec))
    x = rng.integers(0, 256, (50, 784)).astype(np.uint8)
    # the layer path divides pixels by 255 in float32 (as the book's code does): 1e-7 apart
    np.testing.assert_allclose(forward(layered, x), forward(mlp, x), rtol=1e-6)
    np.testing.assert_array_equal(forward(layered, x).argmax(1), forward(mlp, x).argmax(1))


def test_forward_blocks_do_not_change_results():
    rng = np.random.default_rng(6)
    net = init_layers(arch.parse("conv4k3p1-relu-pool2-affine10"), rng=rng, dtype=np.float64)
    x = rng.integers(0, 256, (300, 784)).astype(np.uint8)
    whole = forward(net, x)
    parts = np.concatenate([forward(net, x[i : i + 7]) for i in range(0, 300, 7)])
    np.testing.assert_allclose(whole, parts, rtol=1e-12, atol=1e-15)  # BLAS rounding, at most
    np.testing.assert_array_equal(whole.argmax(axis=1), parts.argmax(axis=1))


def test_activation_layers_cover_the_table():
    x = np.linspace(-2, 2, 9).reshape(1, 9)
    for name in ("sigmoid", "relu", "tanh", "identity", "step"):
        y, _ = Activation(name).forward(x.copy(), (), INFERENCE)
        assert y.shape == x.shape
    with pytest.raises(ValueError, match="no derivative"):
        Activation("step").backward(x, x, (), Mode(train=True))
