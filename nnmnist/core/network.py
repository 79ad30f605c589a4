"""The multilayer perceptron: affine layers W1..Wn, b1..bn, and its batch forward pass.

Layer sizes come from the arrays themselves: 784-50-50-10 (the notebook), 784-50-100-10
(the book) or anything deeper all run through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS

N_INPUTS = 784
N_CLASSES = 10
INIT_SCHEMES = ("notebook", "xavier", "he")


@dataclass(frozen=True)
class Network:
    """Weights W_i of shape (n_{i-1}, n_i) and biases b_i of shape (n_i,), plus how to run them."""

    weights: tuple[NDArray[np.floating], ...]
    biases: tuple[NDArray[np.floating], ...]
    hidden: str = "sigmoid"
    output: str = "softmax"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer, inputs first: (784, 50, 50, 10)."""
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    @property
    def dtype(self) -> np.dtype[Any]:
        """float64 if any array is float64, else float32: the precision the forward pass runs in."""
        if any(a.dtype == np.float64 for a in (*self.weights, *self.biases)):
            return np.dtype(np.float64)
        return np.dtype(np.float32)

    def describe(self) -> str:
        return f"{'-'.join(map(str, self.sizes))} {self.hidden}"


def as_input(x: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[np.floating]:
    """Pixels to floats in [0, 1]: integer images are divided by 255, floats are taken as they are."""
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(dtype, copy=False)
    out = x.astype(dtype)
    out /= 255
    return out


def forward(net: Network, x: NDArray[Any]) -> NDArray[np.floating]:
    """Batch forward pass: (batch, 784) uint8 or [0, 1] floats -> (batch, 10) outputs.

    (batch, 784) -> (batch, n1) -> ... -> (batch, 10); hidden layers use net.hidden and the last
    layer net.output (softmax: each row is a probability distribution).
    """
    hidden_fn = HIDDEN_ACTIVATIONS[net.hidden][0]
    x = np.atleast_2d(x)
    scale = None
    if np.issubdtype(x.dtype, np.floating):
        a = x.astype(net.dtype, copy=False)  # (batch, 784), already in [0, 1]
    else:
        # Pixels 0-255: divide the first layer's (batch, n1) products by 255 rather than the
        # (batch, 784) input, a pass over n1 columns instead of 784.
        a = x.astype(net.dtype)
        scale = 255
    last = len(net.weights) - 1
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        z = a @ w  # (batch, n_{i-1}) @ (n_{i-1}, n_i) -> (batch, n_i)
        if i == 0 and scale is not None:
            z /= scale
        z += b
        a = hidden_fn(z) if i < last else z
    return OUTPUT_ACTIVATIONS[net.output](a)  # (batch, 10)


def predict(net: Network, x: NDArray[Any]) -> tuple[NDArray[np.intp], NDArray[np.floating]]:
    """Labels (batch,) and the full output rows (batch, 10)."""
    probs = forward(net, x)
    return probs.argmax(axis=1), probs


def init_network(
    sizes: tuple[int, ...],
    *,
    scheme: str = "notebook",
    rng: np.random.RandomState | np.random.Generator,
    hidden: str = "sigmoid",
    dtype: type[np.floating] = np.float64,
) -> Network:
    """Random weights, zero biases, drawn layer by layer from one generator.

    notebook: 0.01 * randn (with RandomState(42) this equals the notebook's np.random.seed(42)
    arrays exactly); xavier: randn * sqrt(1 / fan_in); he: randn * sqrt(2 / fan_in).
    """
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        scale = {"notebook": 0.01, "xavier": np.sqrt(1 / fan_in), "he": np.sqrt(2 / fan_in)}[scheme]
        w = rng.standard_normal((fan_in, fan_out)) * scale  # (fan_in, fan_out)
        weights.append(w.astype(dtype, copy=False))
        biases.append(np.zeros(fan_out, dtype=dtype))
    return Network(tuple(weights), tuple(biases), hidden=hidden)
