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
    """1 / (1 + exp(-x)), the textbook formula, with exp's argument capped so it cannot overflow.

    exp(-x) overflows float32 for x < -88.7 (and warns); capping -x at 88 (708 in float64)
    changes nothing visible (the result is 0 either way, to within 1e-38) and keeps every other
    value bit-identical to the textbook's 1 / (1 + np.exp(-x)).
    """
    return _sigmoid_of_negated(np.negative(x))


def _sigmoid_of_negated(out: Array) -> Array:
    limit = 88.0 if out.dtype == np.float32 else 708.0
    np.minimum(out, limit, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)
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


# The same functions computed in place, overwriting their argument with bit-identical values
# (the forward pass of inference, which owns its intermediate arrays, saves a pass and an
# allocation per layer this way).
def _sigmoid_inplace(z: Array) -> None:
    _sigmoid_of_negated(np.negative(z, out=z))


def _relu_inplace(z: Array) -> None:
    np.maximum(z, 0, out=z)


def _tanh_inplace(z: Array) -> None:
    np.tanh(z, out=z)


def _step_inplace(z: Array) -> None:
    np.greater(z, 0, out=z)


def _identity_inplace(z: Array) -> None:
    pass


def _softmax_inplace(z: Array) -> None:
    with np.errstate(over="ignore"):  # as softmax: max - min beyond float range
        z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)


IN_PLACE: dict[str, Callable[[Array], None]] = {
    "sigmoid": _sigmoid_inplace,
    "relu": _relu_inplace,
    "tanh": _tanh_inplace,
    "step": _step_inplace,
    "identity": _identity_inplace,
    "softmax": _softmax_inplace,
}
