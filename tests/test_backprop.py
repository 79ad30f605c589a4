import numpy as np
import pytest

from nnmnist.core.backprop import cross_entropy, loss_and_gradients
from nnmnist.core.network import Network, forward, init_network
from nnmnist.core.optim import OPTIMIZERS
from tests.gradcheck import central_differences


def tiny_network(hidden, activation, rng):
    """784 inputs are required by Network; keep them, but make the hidden layers tiny."""
    net = init_network((784, *hidden, 10), scheme="xavier", rng=rng, hidden=activation)
    # non-zero biases so that their gradients are exercised too
    biases = tuple(rng.standard_normal(b.shape) * 0.1 for b in net.biases)
    return Network(net.weights, biases, hidden=activation)


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh", "identity"])
@pytest.mark.parametrize("hidden", [(5,), (5, 4), (5, 4, 3)])
def test_gradients_match_central_differences(activation, hidden):
    rng = np.random.default_rng(0)
    net = tiny_network(hidden, activation, rng)
    x = rng.random((6, 784))  # float64 in [0, 1]
    y = rng.integers(0, 10, size=6)
    wd = 1e-3
    _, gw, gb, _ = loss_and_gradients(net, x, y, weight_decay=wd)

    def loss():
        return loss_and_gradients(net, x, y, weight_decay=wd)[0]

    for params, grads in ((net.weights, gw), (net.biases, gb)):
        for p, g in zip(params, grads, strict=True):
            picks = rng.choice(p.size, size=min(p.size, 30), replace=False)
            numeric = central_differences(p, picks, loss, 1e-5)
            analytic = g.reshape(-1)[picks]
            error = np.linalg.norm(numeric - analytic) / (
                np.linalg.norm(numeric) + np.linalg.norm(analytic)
            )
            assert error < 1e-6, (p.shape, error)


def test_loss_is_finite_when_a_probability_is_zero():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    loss = cross_entropy(probs, np.array([1, 0]))
    assert np.isfinite(loss) and loss > 300
    probs32 = probs.astype(np.float32)
    assert np.isfinite(cross_entropy(probs32, np.array([1, 0])))


def test_step_activation_cannot_be_trained():
    net = init_network((784, 4, 10), scheme="he", rng=np.random.default_rng(0), hidden="step")
    with pytest.raises(ValueError, match="no derivative"):
        loss_and_gradients(net, np.zeros((1, 784)), np.array([0]))


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimisers_lower_the_loss_and_keep_float32(name, digits):
    x, y = digits
    net = init_network(
        (784, 32, 10), scheme="he", rng=np.random.default_rng(1), hidden="relu", dtype=np.float32
    )
    params = [a for pair in zip(net.weights, net.biases, strict=True) for a in pair]
    opt = OPTIMIZERS[name](params, lr={"sgd": 0.1, "momentum": 0.05, "adam": 1e-3}[name])
    first = loss_and_gradients(net, x, y)[0]
    for _ in range(30):
        _, gw, gb, _ = loss_and_gradients(net, x, y)
        opt.step([g for pair in zip(gw, gb, strict=True) for g in pair])
    assert loss_and_gradients(net, x, y)[0] < first * 0.7
    assert all(p.dtype == np.float32 for p in params)
    assert forward(net, x).dtype == np.float32


def test_optimiser_state_round_trip():
    rng = np.random.default_rng(0)
    p1 = [rng.standard_normal(3)]
    p2 = [p1[0].copy()]
    a, b = OPTIMIZERS["adam"](p1, lr=0.1), OPTIMIZERS["adam"](p2, lr=0.1)
    g = [np.ones(3)]
    a.step(g)
    b.load_state({k: v.copy() for k, v in a.state().items()})
    p2[0][...] = p1[0]
    a.step(g)
    b.step(g)
    np.testing.assert_array_equal(p1[0], p2[0])
