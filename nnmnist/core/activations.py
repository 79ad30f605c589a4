"""Activation functions, each beside its derivative, looked up by name.

Every function takes a float array and returns a new array of the same dtype and shape.
Derivatives are written from the layer's *output* y = f(z), the way backprop has it at hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


def step(x: Array) -> Array:
    """Heaviside step: 1 where x > 0, else 0 (the perceptron's activation; not differentiable)."""
    return (x > 0).astype(x.dtype)


def sigmoid(x: Array) -> Array:
    """1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2.

    The tanh form never overflows: exp(-x) does for x < -88 in float32 (and warns),
    tanh saturates cleanly at -1 and 1.
    """
    out = np.multiply(x, 0.5, dtype=x.dtype)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def relu(x: Array) -> Array:
    return np.maximum(x, 0)


def tanh(x: Array) -> Array:
    return np.tanh(x)


def identity(x: Array) -> Array:
    return x


def softmax(x: Array) -> Array:
    """Softmax over the last axis, row by row.

    Subtracting each row's own maximum keeps exp() finite (softmax([1010, 1000, 990]) works);
    one maximum and one sum over the whole batch, as the notebook does, mixes rows together.
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    with np.errstate(over="ignore"):  # max - min beyond float range: -inf, whose exp is 0
        shifted = x - x.max(axis=-1, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=-1, keepdims=True)
    result: Array = shifted
    return result


def _d_sigmoid(y: Array) -> Array:
    return y * (1 - y)


def _d_relu(y: Array) -> Array:
    return (y > 0).astype(y.dtype)


def _d_tanh(y: Array) -> Array:
    return 1 - y * y


def _d_identity(y: Array) -> Array:
    return np.ones_like(y)


Activation = Callable[[Array], Array]

# name -> (function, derivative written from the output). The CLI's --activation choices come
# from this table. The step function has no useful derivative, so it is for inference only.
HIDDEN_ACTIVATIONS: dict[str, tuple[Activation, Activation | None]] = {
    "sigmoid": (sigmoid, _d_sigmoid),
    "relu": (relu, _d_relu),
    "tanh": (tanh, _d_tanh),
    "identity": (identity, _d_identity),
    "step": (step, None),
}

OUTPUT_ACTIVATIONS: dict[str, Activation] = {
    "softmax": softmax,
    "identity": identity,
}
