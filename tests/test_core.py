import warnings

import numpy as np
import pytest

from nnmnist.core.activations import HIDDEN_ACTIVATIONS, relu, sigmoid, softmax, step
from nnmnist.core.metrics import confusion_matrix, precision_recall
from nnmnist.core.network import Network, forward, init_network, predict


def book_network() -> Network:
    """The book's 3-layer example (section 3.4.3)."""
    f = np.array
    return Network(
        weights=(
            f([[0.1, 0.3, 0.5], [0.2, 0.4, 0.6]]),
            f([[0.1, 0.4], [0.2, 0.5], [0.3, 0.6]]),
            f([[0.1, 0.3], [0.2, 0.4]]),
        ),
        biases=(f([0.1, 0.2, 0.3]), f([0.1, 0.2]), f([0.1, 0.2])),
        hidden="sigmoid",
        output="identity",
    )


def test_book_golden_value():
    y = forward(book_network(), np.array([1.0, 0.5]))
    np.testing.assert_allclose(y[0], [0.31682708, 0.69627909], rtol=0, atol=1e-8)


def test_softmax_is_finite_for_large_inputs():
    y = softmax(np.array([1010.0, 1000.0, 990.0]))
    assert np.isfinite(y).all()
    assert y.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(y, [9.99954600e-01, 4.53978686e-05, 2.06106005e-09], rtol=1e-6)


def test_softmax_normalises_each_row_on_its_own():
    batch = np.array([[1010.0, 1000.0, 990.0], [1.0, 2.0, 3.0], [-5.0, 0.0, 5.0]])
    y = softmax(batch)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    # each row equals the softmax of that row alone (the notebook's global max/sum breaks this)
    for row, out in zip(batch, y, strict=True):
        np.testing.assert_allclose(out, softmax(row))


def test_sigmoid_float32_does_not_overflow():
    x = np.array([-1000.0, -100.0, -88.8, 0.0, 88.8, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(x)
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    assert y[0] < 1e-37 and y[3] == 0.5 and y[-1] == 1.0


def test_sigmoid_matches_the_textbook_formula():
    x = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-12, atol=1e-15)


def test_step_and_relu():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(step(x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu(x), [0.0, 0.0, 2.0])


@pytest.mark.parametrize("hidden", [(50, 50), (50, 100), (32, 32, 32, 16), ()])
def test_forward_takes_sizes_from_the_arrays(hidden):
    net = init_network((784, *hidden, 10), scheme="he", rng=np.random.RandomState(1))
    assert net.sizes == (784, *hidden, 10)
    y = forward(net, np.zeros((7, 784), dtype=np.uint8))
    assert y.shape == (7, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)


@pytest.mark.parametrize("activation", list(HIDDEN_ACTIVATIONS))
def test_every_hidden_activation_runs(activation, digits):
    net = init_network(
        (784, 20, 10), scheme="xavier", rng=np.random.RandomState(2), hidden=activation
    )
    net = Network(net.weights, net.biases, hidden=activation)
    y = forward(net, digits[0][:5])
    assert y.shape == (5, 10) and np.isfinite(y).all()


def test_float32_weights_run_in_float32_and_float64_in_float64(digits):
    net64 = init_network((784, 20, 10), scheme="xavier", rng=np.random.RandomState(3))
    net32 = init_network(
        (784, 20, 10), scheme="xavier", rng=np.random.RandomState(3), dtype=np.float32
    )
    assert forward(net64, digits[0]).dtype == np.float64
    assert forward(net32, digits[0]).dtype == np.float32
    np.testing.assert_allclose(forward(net32, digits[0]), forward(net64, digits[0]), atol=1e-5)


def test_uint8_input_equals_scaled_float_input(small_net, digits):
    x = digits[0][:20]
    np.testing.assert_allclose(forward(small_net, x), forward(small_net, x / 255.0), rtol=1e-12)


def test_predictions_do_not_depend_on_batch_size(small_net, digits):
    x = digits[0]
    whole_labels, whole = predict(small_net, x)
    for size in (1, 7, 100):
        parts = [predict(small_net, x[i : i + size])[1] for i in range(0, len(x), size)]
        np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-12)
    assert whole_labels.shape == (len(x),)


def test_init_notebook_parity():
    np.random.seed(42)
    expected = [
        np.random.randn(784, 50) * 0.01,
        np.zeros(50),
        np.random.randn(50, 50) * 0.01,
        np.zeros(50),
        np.random.randn(50, 10) * 0.01,
        np.zeros(10),
    ]
    net = init_network((784, 50, 50, 10), scheme="notebook", rng=np.random.RandomState(42))
    got = [a for pair in zip(net.weights, net.biases, strict=True) for a in pair]
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float64
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize(
    ("scheme", "std"), [("xavier", np.sqrt(1 / 784)), ("he", np.sqrt(2 / 784))]
)
def test_init_scales(scheme, std):
    net = init_network((784, 400, 10), scheme=scheme, rng=np.random.RandomState(0))
    assert net.weights[0].std() == pytest.approx(std, rel=0.02)


def test_init_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_network((784, 10), scheme="zeros", rng=np.random.RandomState(0))


def test_confusion_matrix_and_precision_recall():
    cm = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), n_classes=3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    precision, recall = precision_recall(cm)
    np.testing.assert_allclose(precision, [1.0, 0.5, 1.0])
    np.testing.assert_allclose(recall, [0.5, 1.0, 1.0])
    precision, recall = precision_recall(np.zeros((3, 3), dtype=np.int64))
    assert (precision == 0).all() and (recall == 0).all()


@pytest.mark.parametrize("name", ["sigmoid", "relu", "tanh", "step", "identity", "softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_activations_give_the_same_bits(name, dtype):
    from nnmnist.core.activations import IN_PLACE, OUTPUT_ACTIVATIONS

    rng = np.random.default_rng(3)
    z = (rng.standard_normal((64, 10)) * 40).astype(dtype)
    z[0, :3] = [1000, -1000, 0]  # beyond exp's range both ways
    fn = OUTPUT_ACTIVATIONS.get(name) or HIDDEN_ACTIVATIONS[name][0]
    with np.errstate(over="ignore"):
        expected = fn(z.copy())
        got = z.copy()
        IN_PLACE[name](got)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


def _plain_forward(net: Network, x: np.ndarray) -> np.ndarray:
    """The textbook's forward pass, whole batch at once, in the network's precision."""
    a = x.astype(net.dtype) / 255
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        a = a @ w + b
        a = sigmoid(a) if i < len(net.weights) - 1 else softmax(a)
    return a


@pytest.mark.parametrize("n", [1, 7, 1024, 1025, 3000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_in_blocks_equals_the_plain_pass(n, dtype):
    from nnmnist.core import network

    net = init_network((784, 50, 100, 10), scheme="xavier", rng=np.random.RandomState(5))
    net = Network(
        tuple(w.astype(dtype) for w in net.weights), tuple(b.astype(dtype) for b in net.biases)
    )
    x = np.random.default_rng(n).integers(0, 256, (n, 784), dtype=np.uint8)
    got = forward(net, x)
    plain = _plain_forward(net, x)
    assert got.shape == (n, 10) and got.dtype == dtype
    np.testing.assert_array_equal(got.argmax(axis=1), plain.argmax(axis=1))
    np.testing.assert_allclose(got, plain, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=0)
    # each block is the pass over its own rows: blocking changes nothing but the rows at once
    size = -(-n // max(1, -(-n // network.MLP_BLOCK)))
    for lo in range(0, n, size):
        np.testing.assert_array_equal(got[lo : lo + size], forward(net, x[lo : lo + size]))
