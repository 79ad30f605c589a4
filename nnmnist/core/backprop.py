"""Cross-entropy loss and its gradients through any number of affine layers."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core import arch
from nnmnist.core.activations import HIDDEN_ACTIVATIONS, softmax
from nnmnist.core.layers import Mode
from nnmnist.core.network import Network, as_images, as_input, layer_params

Array = NDArray[np.floating]


def cross_entropy(probs: Array, labels: NDArray[np.integer]) -> float:
    """Mean -log p[label] over the batch; finite even where a probability is exactly 0."""
    picked = probs[np.arange(len(labels)), labels]
    tiny = np.finfo(probs.dtype).tiny  # log(tiny) is about -708 in float64, -87 in float32
    return float(-np.log(np.maximum(picked, tiny)).mean())


def loss_and_gradients(
    net: Network,
    x: NDArray[Any],
    labels: NDArray[np.integer],
    weight_decay: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[float, list[Array], list[Array], Array]:
    """Loss (cross-entropy + L2), its gradients dL/dW_i and dL/db_i, and the softmax outputs.

    x: (batch, 784) pixels, labels: (batch,) digits; returns probabilities of shape (batch, 10).
    The output layer is always softmax here. rng: where dropout layers draw their masks.
    """
    if net.layers is not None:
        return _layer_gradients(net, x, labels, weight_decay, rng)
    act, d_act = HIDDEN_ACTIVATIONS[net.hidden]
    if d_act is None:
        raise ValueError(f"the {net.hidden} activation has no derivative; it cannot be trained")
    a = as_input(np.atleast_2d(x), net.dtype)  # (batch, 784)
    outputs = [a]  # the input of each layer: (batch, n_0), (batch, n_1), ...
    for w, b in zip(net.weights[:-1], net.biases[:-1], strict=True):
        a = act(a @ w + b)  # (batch, n_i)
        outputs.append(a)
    probs = softmax(outputs[-1] @ net.weights[-1] + net.biases[-1])  # (batch, 10)
    loss = cross_entropy(probs, labels) + _l2(net, weight_decay)
    delta = _output_delta(probs, labels)  # (batch, 10)

    grads_w: list[Array] = [np.empty(0)] * len(net.weights)
    grads_b: list[Array] = [np.empty(0)] * len(net.weights)
    for i in range(len(net.weights) - 1, -1, -1):
        grads_w[i] = outputs[i].T @ delta  # (n_{i-1}, batch) @ (batch, n_i) -> (n_{i-1}, n_i)
        grads_b[i] = delta.sum(axis=0)  # (n_i,)
        if weight_decay:
            grads_w[i] += weight_decay * net.weights[i]
        if i > 0:
            # back through W_i, then through the activation, whose derivative is written from
            # the layer's output outputs[i].
            delta = (delta @ net.weights[i].T) * d_act(outputs[i])  # (batch, n_{i-1})
    return loss, grads_w, grads_b, probs


def _l2(net: Network, weight_decay: float) -> float:
    """The L2 penalty 0.5 * weight_decay * sum of the squared weights (0 without decay)."""
    if not weight_decay:
        return 0.0
    return 0.5 * weight_decay * float(sum(np.sum(w * w) for w in net.weights))


def _output_delta(probs: Array, labels: NDArray[np.integer]) -> Array:
    """dL/dz for softmax + cross-entropy averaged over the batch: (p - onehot(y)) / n.

    Softmax followed by cross-entropy has the simplest of gradients with respect to the logits
    z: dL/dz = p - onehot(y). The softmax Jacobian diag(p) - p p^T, multiplied by the
    cross-entropy gradient -onehot/p, collapses to it, so neither is ever formed (and there is
    no division by a probability that may be 0). Divided by n because the loss is a mean."""
    n = len(labels)
    delta = probs.copy()
    delta[np.arange(n), labels] -= 1
    delta /= n
    return delta


# Images per block in a layer network's training step: each block runs forward and backward on
# its own, its gradients added up, so its patches and caches stay in the processor's cache.
TRAIN_BLOCK = 16  # measured: 16 fastest of 16, 32, 64, 128 images for the shipped ConvNet


def _layer_gradients(
    net: Network,
    x: NDArray[Any],
    labels: NDArray[np.integer],
    weight_decay: float,
    rng: np.random.Generator | None,
    block: int | None = None,
) -> tuple[float, list[Array], list[Array], Array]:
    """The same for a layer network, block by block of the batch: each layer's forward keeps a
    cache, its backward uses it; the blocks' gradients (of the batch's mean loss) are summed.
    Blocks of TRAIN_BLOCK images, or as many as fit in arch.TRAIN_BATCH_BYTES if fewer."""
    assert net.layers is not None
    params = layer_params(net)
    if block is None:
        block = arch.block_images(net.layers, net.dtype.itemsize, TRAIN_BLOCK, train=True)
    n = len(labels)
    total: list[list[Array]] = []
    probs_parts = []
    loss = 0.0
    for lo in range(0, n, block):
        part = slice(lo, lo + block)
        grads, probs = _block_gradients(net, params, x[part], labels[part], n, rng)
        probs_parts.append(probs)
        loss += cross_entropy(probs, labels[part]) * len(probs) / n
        if not total:
            total = [list(g) for g in grads]
        else:
            for acc, g in zip(total, grads, strict=True):
                acc[0] += g[0]
                acc[1] += g[1]
    grads_w = [g[0] for g in total]
    grads_b = [g[1] for g in total]
    loss += _l2(net, weight_decay)
    if weight_decay:
        for gw, w in zip(grads_w, net.weights, strict=True):
            gw += weight_decay * w
    return loss, grads_w, grads_b, np.concatenate(probs_parts)


def _block_gradients(
    net: Network,
    params: list[tuple[Array, ...]],
    x: NDArray[Any],
    labels: NDArray[np.integer],
    batch: int,
    rng: np.random.Generator | None,
) -> tuple[list[tuple[Array, ...]], Array]:
    """One block's gradients of the whole batch's mean loss, and its softmax outputs."""
    assert net.layers is not None
    mode = Mode(train=True, rng=rng)
    a = as_images(x, net.dtype)
    caches = []
    for layer, p in zip(net.layers, params, strict=True):
        a, cache = layer.forward(a, p, mode)
        caches.append(cache)
    probs = softmax(a)  # (block, 10)
    delta: Any = _output_delta(probs, labels) * (len(labels) / batch)
    grads: list[tuple[Array, ...]] = []
    first_with_params = next(i for i, p in enumerate(params) if p)
    for i in range(len(net.layers) - 1, first_with_params - 1, -1):
        # the first parameterised layer's input gradient is never used: not computed
        back = Mode(train=True, rng=rng, need_input_grad=i > first_with_params)
        delta, g = net.layers[i].backward(delta, caches[i], params[i], back)
        if g:
            grads.append(g)
    grads.reverse()
    return grads, probs
