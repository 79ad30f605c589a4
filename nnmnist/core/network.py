"""The multilayer perceptron: affine layers W1..Wn, b1..bn, and its batch forward pass.

Layer sizes come from the arrays themselves: 784-50-50-10 (the notebook), 784-50-100-10
(the book) or anything deeper all run through the same code.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core import arch
from nnmnist.core.activations import IN_PLACE, OUTPUT_ACTIVATIONS
from nnmnist.core.inference import Plan, make_plan
from nnmnist.core.layers import INFERENCE, Affine, Conv, Layer, Mode

N_INPUTS = 784
N_CLASSES = 10
INIT_SCHEMES = ("notebook", "xavier", "he")


@dataclass(frozen=True)
class Network:
    """Weights W_i and biases b_i, plus how to run them.

    layers None: an MLP, W_i of shape (n_{i-1}, n_i) with the activation `hidden` between them
    (the fast path). Otherwise a sequence of layers (core.layers), whose conv and affine layers
    take W1, b1, W2, b2, ... in order.
    """

    weights: tuple[NDArray[np.floating], ...]
    biases: tuple[NDArray[np.floating], ...]
    hidden: str = "sigmoid"
    output: str = "softmax"
    meta: dict[str, Any] = field(default_factory=dict)
    layers: tuple[Layer, ...] | None = None

    @property
    def sizes(self) -> tuple[int, ...]:
        """Units per layer of an MLP, inputs first: (784, 50, 50, 10); () for a ConvNet."""
        if self.layers is not None:
            return ()
        return (self.weights[0].shape[0], *(w.shape[1] for w in self.weights))

    @property
    def spec(self) -> str:
        """The layer sequence as a spec string (core.arch), for MLPs too."""
        if self.layers is not None:
            return arch.to_spec(self.layers)
        return arch.mlp_spec(self.sizes, self.hidden)

    @property
    def dtype(self) -> np.dtype[Any]:
        """float64 if any array is float64, else float32: the precision the forward pass runs in."""
        if any(a.dtype == np.float64 for a in (*self.weights, *self.biases)):
            return np.dtype(np.float64)
        return np.dtype(np.float32)

    def describe(self) -> str:
        if self.layers is not None:
            return self.spec
        return f"{'-'.join(map(str, self.sizes))} {self.hidden}"


def as_input(x: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[np.floating]:
    """Pixels to floats in [0, 1]: integer images are divided by 255, floats are taken as they are."""
    if np.issubdtype(x.dtype, np.floating):
        return x.astype(dtype, copy=False)
    out = x.astype(dtype)
    out /= 255
    return out


# Rows per block in an MLP's forward pass: a block's input, activations and output stay in
# cache from the conversion of its pixels to its softmax. Measured on the book's 784-50-100-10
# network (float32): blocks of 1024 ran 1.3x the unblocked pass at 10,000 rows, and from 512
# rows up OpenBLAS computes every row bit for bit as in one product over the whole batch
# (blocks of 256 or fewer rows take another kernel, whose float32 sums differ in the last bit).
MLP_BLOCK = 1024


def forward(net: Network, x: NDArray[Any]) -> NDArray[np.floating]:
    """Batch forward pass: (batch, 784) uint8 or [0, 1] floats -> (batch, 10) outputs.

    (batch, 784) -> (batch, n1) -> ... -> (batch, 10); hidden layers use net.hidden and the last
    layer net.output (softmax: each row is a probability distribution). An MLP runs in blocks
    of at most MLP_BLOCK rows (a batch that size or smaller is one block; fewer rows for a
    network so wide that they would pass arch.BLOCK_BYTES), each computed in place from its
    converted pixels to its output rows.
    """
    if net.layers is not None:
        return OUTPUT_ACTIVATIONS[net.output](run_layers(net, x))
    x = np.atleast_2d(x)
    n = len(x)
    out = np.empty((n, net.weights[-1].shape[1]), net.dtype)
    most = arch.images_per_block(arch.mlp_row_values(net.sizes), net.dtype.itemsize, MLP_BLOCK)
    blocks = max(1, -(-n // most))
    size = -(-n // blocks)  # equal blocks: no small remainder
    pixels = (
        None if np.issubdtype(x.dtype, np.floating) else np.empty((size, x.shape[1]), net.dtype)
    )
    for lo in range(0, n, size):
        _forward_block(net, x[lo : lo + size], out[lo : lo + size], pixels)
    return out


def _forward_block(
    net: Network, x: NDArray[Any], out: NDArray[np.floating], pixels: NDArray[np.floating] | None
) -> None:
    """One block of the MLP forward pass, written into out (its rows of the result)."""
    hidden = IN_PLACE[net.hidden]
    if pixels is None:
        a = x.astype(net.dtype, copy=False)  # (rows, 784), already in [0, 1]
    else:
        # Pixels 0-255: divide the first layer's (rows, n1) products by 255 rather than the
        # (rows, 784) input, a pass over n1 columns instead of 784.
        a = pixels[: len(x)]
        np.copyto(a, x, casting="unsafe")
    last = len(net.weights) - 1
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        # (rows, n_{i-1}) @ (n_{i-1}, n_i) -> (rows, n_i)
        z = np.matmul(a, w, out=out) if i == last else a @ w
        if i == 0 and pixels is not None:
            z /= 255
        z += b
        if i < last:
            hidden(z)
        a = z
    IN_PLACE[net.output](out)


# Images per block in a layer network's forward pass: each block's unrolled patches stay small
# (a 3x3 convolution over 16 channels at 28x28 unrolls 450 kB per image); with the planned pass
# (core.inference) 16 measured fastest of 8, 16, 32 and 64 for the shipped ConvNet.
FORWARD_BLOCK = 16


def as_images(x: NDArray[Any], dtype: np.dtype[Any]) -> NDArray[np.floating]:
    """(batch, 784) pixels -> (batch, 28, 28, 1) floats in [0, 1], a new array. Whole numbers
    are divided by 255 in float32, then widened: the values the book's code feeds its nets."""
    x = np.atleast_2d(x)
    if np.issubdtype(x.dtype, np.floating):
        a = x.astype(dtype, copy=True)
    else:
        a = (x.astype(np.float32) / np.float32(255)).astype(dtype, copy=False)
    return a.reshape(len(a), *arch.INPUT_SHAPE)


def layer_params(net: Network) -> list[tuple[NDArray[np.floating], ...]]:
    """Each layer's arrays: (W_k, b_k) for conv and affine layers, () for the others."""
    assert net.layers is not None
    out: list[tuple[NDArray[np.floating], ...]] = []
    k = 0
    for layer in net.layers:
        if isinstance(layer, Conv | Affine):
            out.append((net.weights[k], net.biases[k]))
            k += 1
        else:
            out.append(())
    return out


def run_layers(
    net: Network, x: NDArray[Any], mode: Mode = INFERENCE, block: int | None = None
) -> NDArray[np.floating]:
    """The layers' outputs before the output activation, (batch, 10), block by block: blocks of
    FORWARD_BLOCK images, or as many as fit in arch.BLOCK_BYTES if that is fewer. Inference
    runs the network's plan (core.inference); a training mode the layers one by one."""
    assert net.layers is not None
    if block is None:
        block = arch.block_images(net.layers, net.dtype.itemsize, FORWARD_BLOCK)
    x = np.atleast_2d(x)
    if not mode.train:
        plan = inference_plan(net)
        size = max(1, -(-len(x) // max(1, -(-len(x) // block))))  # equal blocks: one workspace
        out = np.empty((len(x), plan.outputs), net.dtype)
        for lo in range(0, len(x), size):
            out[lo : lo + size] = plan.run(x[lo : lo + size])
        return out
    params = layer_params(net)
    outs = []
    for lo in range(0, len(x), block):
        a = as_images(x[lo : lo + block], net.dtype)
        for layer, p in zip(net.layers, params, strict=True):
            a, _ = layer.forward(a, p, mode)
        outs.append(a)
    if not outs:
        return np.zeros((0, N_CLASSES), net.dtype)
    return outs[0] if len(outs) == 1 else np.concatenate(outs)


# Plans of networks whose arrays are all read-only (as load_weights returns them): made once.
# A network whose arrays may change (one being trained) gets a new plan on every call.
_PLANS: dict[int, tuple[weakref.ref[Network], Plan]] = {}


def inference_plan(net: Network) -> Plan:
    """The network's inference steps (core.inference), kept while the network lives when none
    of its arrays can be written."""
    assert net.layers is not None
    fixed = not any(a.flags.writeable for a in (*net.weights, *net.biases))
    key = id(net)
    if fixed and (hit := _PLANS.get(key)) is not None and hit[0]() is net:
        return hit[1]
    plan = make_plan(net.layers, layer_params(net), arch.shapes(net.layers), net.dtype)
    if fixed:
        _PLANS[key] = (weakref.ref(net, lambda _: _PLANS.pop(key, None)), plan)
    return plan


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


def init_layers(
    layers: tuple[Layer, ...],
    *,
    scheme: str = "he",
    rng: np.random.Generator,
    dtype: type[np.floating] = np.float32,
) -> Network:
    """A layer network with random weights (drawn in layer order from rng) and zero biases.
    Scales as in init_network, with a convolution's fan-in C * KH * KW."""
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; choose from {', '.join(INIT_SCHEMES)}")
    weights, biases = [], []
    for layer, shape in zip(layers, arch.shapes(layers), strict=False):
        shapes = layer.param_shapes(shape)
        if not shapes:
            continue
        fan_in = int(np.prod(shapes[0][1:])) if len(shapes[0]) == 4 else shapes[0][0]
        scale = {"notebook": 0.01, "xavier": np.sqrt(1 / fan_in), "he": np.sqrt(2 / fan_in)}[scheme]
        weights.append((rng.standard_normal(shapes[0]) * scale).astype(dtype))
        biases.append(np.zeros(shapes[1], dtype=dtype))
    return Network(tuple(weights), tuple(biases), hidden="relu", layers=layers)
