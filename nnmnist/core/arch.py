"""Architecture specs: a network's layer sequence as one short, readable string.

    conv16k3p1-relu-conv16k3p1-relu-pool2-affine50-relu-affine10

Layers are joined by "-"; the input is one 28x28 grey image and the output (softmax, or the
file's own output activation) follows the last layer, which must be affine10.

    convFkK[xK2][sS][pP]  F filters of K x K (or K x K2: height x width), stride S (1), zero
                          padding P (0) on every side
    poolK[sS]             max pooling over K x K windows, stride S (K)
    affineN               fully connected, N units (a 3-D input is flattened in (C, H, W) order)
    relu, sigmoid, tanh, identity, step
                          elementwise activations
    dropoutP[book]        dropout of a fraction P (0 <= P < 1): inverted by default (scaled while
                          training); with "book", the book's convention (x (1 - P) at inference)

Parameters are the book's W1, b1, W2, b2, ... in the order of the conv and affine layers.

Every shape is known from the spec before anything runs, and so is the memory a pass needs: a
spec is refused when its parameters pass MAX_PARAMETERS or when one image's working set (the
largest layer's input, padded copy, unrolled patches and output, counted in float64) passes
BLOCK_BYTES; inference then runs as many images a block as fit in BLOCK_BYTES, and training
as many as fit their forward and backward arrays in TRAIN_BATCH_BYTES (training.budget_problem
refuses what cannot: one image too big, or an MLP batch, which runs whole, past the bound).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence

from nnmnist.core.activations import HIDDEN_ACTIVATIONS
from nnmnist.core.layers import Activation, Affine, Conv, Dropout, Layer, Pool

INPUT_SHAPE = (28, 28, 1)  # (H, W, C): channels-last, as the layers compute
N_CLASSES = 10
MAX_LAYERS = 64
MAX_SPEC_CHARS = 1024
MB = 1 << 20
MAX_PARAMETERS = 16_000_000  # 64 MB in float32: inference stays under 300 MB (README)
BLOCK_BYTES = 32 * MB  # the activations of one inference block
TRAIN_BATCH_BYTES = 160 * MB  # the arrays of one training batch, forward and backward
WIDEST = 8  # bytes per value in the refusal rule: float64, the widest dtype a file may hold

_CONV = re.compile(r"conv([0-9]+)k([0-9]+)(?:x([0-9]+))?(?:s([0-9]+))?(?:p([0-9]+))?")
_POOL = re.compile(r"pool([0-9]+)(?:s([0-9]+))?")
_AFFINE = re.compile(r"affine([0-9]+)")
_DROPOUT = re.compile(r"dropout(0?\.[0-9]+|0)(book)?")


class SpecError(ValueError):
    """A spec that cannot be parsed, or that does not fit 28x28 images or the arrays given."""


def _int(text: str | None, default: int, lo: int, hi: int, what: str, token: str) -> int:
    value = default if text is None else int(text)
    if not lo <= value <= hi:
        raise SpecError(f"{token}: {what} must be from {lo} to {hi}")
    return value


def _layer(token: str) -> Layer:
    if m := _CONV.fullmatch(token):
        f = _int(m.group(1), 0, 1, 4096, "the number of filters", token)
        kh = _int(m.group(2), 0, 1, 64, "the kernel size", token)
        kw = _int(m.group(3), kh, 1, 64, "the kernel width", token)
        s = _int(m.group(4), 1, 1, 64, "the stride", token)
        p = _int(m.group(5), 0, 0, 64, "the padding", token)
        return Conv(f, kh, kw, s, p)
    if m := _POOL.fullmatch(token):
        k = _int(m.group(1), 0, 1, 64, "the window", token)
        return Pool(k, _int(m.group(2), k, 1, 64, "the stride", token))
    if m := _AFFINE.fullmatch(token):
        return Affine(_int(m.group(1), 0, 1, 100_000, "the number of units", token))
    if m := _DROPOUT.fullmatch(token):
        fraction = float(m.group(1))
        if not 0 <= fraction < 1:
            raise SpecError(f"{token}: the dropout fraction must be at least 0 and below 1")
        return Dropout(fraction, book=m.group(2) is not None)
    if token in HIDDEN_ACTIVATIONS:
        return Activation(token)
    raise SpecError(
        f"{token!r} is not a layer (conv16k3p1, pool2, affine10, relu, sigmoid, tanh, identity, "
        "step, dropout0.5)"
    )


def parse(spec: str, outputs: int = N_CLASSES) -> tuple[Layer, ...]:
    """The layers of a spec, checked to run on 28x28 images and to end in affine10 (one output
    per digit; outputs: another number, for a network that answers something else)."""
    if len(spec) > MAX_SPEC_CHARS:
        raise SpecError(f"the spec is longer than {MAX_SPEC_CHARS} characters")
    tokens = spec.strip().lower().split("-")
    if not spec.strip() or len(tokens) > MAX_LAYERS:
        raise SpecError(f"a spec holds 1 to {MAX_LAYERS} layers joined by '-'")
    layers = tuple(_layer(t) for t in tokens)
    if shapes(layers)[-1] != (outputs,):  # and every layer fits the one before
        what = " (one output per digit)" if outputs == N_CLASSES else ""
        raise SpecError(
            f"the network must end in affine{outputs}{what}, "
            "optionally followed by activations or dropout"
        )
    check_budget(layers)
    return layers


def _layer_work(layer: Layer, shape: tuple[int, ...], out: tuple[int, ...]) -> tuple[int, int]:
    """(values alive while the layer runs at inference, values it keeps for training), per image:
    its input, the padded copy, the unrolled patches and its output; for training the cache."""
    size_in, size_out = math.prod(shape), math.prod(out)
    if isinstance(layer, Conv):
        h, w, c = shape
        padded = (h + 2 * layer.pad) * (w + 2 * layer.pad) * c if layer.pad else 0
        cols = out[0] * out[1] * layer.kh * layer.kw * c
        return size_in + padded + cols + size_out, cols + padded
    if isinstance(layer, Affine):
        flat = size_in if len(shape) == 3 else 0  # the (C, H, W) reordered copy
        return size_in + flat + size_out, size_in
    if isinstance(layer, Pool):
        return size_in + size_out, size_in + size_out
    return size_in + size_out, size_out  # activations, dropout: a new array (relu: in place)


def image_values(layers: Sequence[Layer]) -> int:
    """The most values one image needs alive at once in an inference pass."""
    s = shapes(layers)
    return math.prod(INPUT_SHAPE) + max(
        _layer_work(layer, s[i], s[i + 1])[0] for i, layer in enumerate(layers)
    )


def train_image_values(layers: Sequence[Layer]) -> int:
    """Values one image of a training batch needs: every layer's output and cache, kept for the
    backward pass, plus the largest layer's gradients (input, padded, output) while it runs."""
    s = shapes(layers)
    kept = sum(
        _layer_work(layer, s[i], s[i + 1])[1] + math.prod(s[i + 1])
        for i, layer in enumerate(layers)
    )
    return math.prod(INPUT_SHAPE) + kept + 2 * image_values(layers)


def mlp_row_values(sizes: Sequence[int]) -> int:
    """Values one image needs in an MLP's pass: its pixels, then two layers' units at a time."""
    return sizes[0] + max(a + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


@functools.lru_cache(maxsize=64)
def block_images(layers: tuple[Layer, ...], itemsize: int, most: int, train: bool = False) -> int:
    """Images per block of an inference pass (train: of a training step) of these layers."""
    if train:
        return max(1, min(most, largest_training_batch(train_image_values(layers), itemsize)))
    return images_per_block(image_values(layers), itemsize, most)


def parameter_count(layers: Sequence[Layer]) -> int:
    return sum(math.prod(shape) for _, shape, _ in param_shapes(layers))


def images_per_block(values: int, itemsize: int, most: int) -> int:
    """How many images, each needing `values` values of itemsize bytes, fit in BLOCK_BYTES
    (at least 1, at most `most`)."""
    return max(1, min(most, BLOCK_BYTES // max(1, values * itemsize)))


def check_budget(layers: Sequence[Layer]) -> None:
    """SpecError when the parameters or one image's working set pass the bounds."""
    params = parameter_count(layers)
    if params > MAX_PARAMETERS:
        raise SpecError(
            f"the network has {params:,} parameters; nnmnist allows at most {MAX_PARAMETERS:,}"
        )
    s = shapes(layers)
    for i, layer in enumerate(layers):
        need = (math.prod(INPUT_SHAPE) + _layer_work(layer, s[i], s[i + 1])[0]) * WIDEST
        if need > BLOCK_BYTES:
            raise SpecError(
                f"layer {i + 1} ({token(layer)}) needs {need / MB:,.0f} MB for one image "
                f"(its input is {'x'.join(map(str, s[i]))}); nnmnist allows "
                f"{BLOCK_BYTES // MB} MB per image"
            )


def largest_training_batch(values: int, itemsize: int) -> int:
    """The largest batch whose training arrays fit in TRAIN_BATCH_BYTES (0 if not one image)."""
    return TRAIN_BATCH_BYTES // max(1, values * itemsize)


def token(layer: Layer) -> str:
    if isinstance(layer, Conv):
        k = f"{layer.kh}" if layer.kh == layer.kw else f"{layer.kh}x{layer.kw}"
        s = f"s{layer.stride}" if layer.stride != 1 else ""
        p = f"p{layer.pad}" if layer.pad else ""
        return f"conv{layer.filters}k{k}{s}{p}"
    if isinstance(layer, Pool):
        return f"pool{layer.size}" + (f"s{layer.stride}" if layer.stride != layer.size else "")
    if isinstance(layer, Affine):
        return f"affine{layer.units}"
    if isinstance(layer, Dropout):
        return f"dropout{layer.p:g}" + ("book" if layer.book else "")
    return layer.name


def to_spec(layers: Sequence[Layer]) -> str:
    return "-".join(token(layer) for layer in layers)


def shapes(layers: Sequence[Layer]) -> list[tuple[int, ...]]:
    """The input shape of every layer and, last, the output's; SpecError where one cannot run."""
    shape: tuple[int, ...] = INPUT_SHAPE
    out = [shape]
    for i, layer in enumerate(layers, start=1):
        if isinstance(layer, Conv | Pool) and len(shape) != 3:
            raise SpecError(f"layer {i} ({token(layer)}) needs an image, but follows affine units")
        shape = layer.out_shape(shape)
        if min(shape) < 1:
            raise SpecError(
                f"layer {i} ({token(layer)}) leaves nothing of the image: it needs a larger input"
            )
        out.append(shape)
    return out


def param_shapes(layers: Sequence[Layer]) -> list[tuple[str, tuple[int, ...], int]]:
    """(layer token, array shape, layer number) for W1, b1, W2, b2, ... in order."""
    out = []
    for i, (layer, shape) in enumerate(zip(layers, shapes(layers), strict=False), start=1):
        for s in layer.param_shapes(shape):
            out.append((token(layer), s, i))
    return out


def mlp_spec(sizes: Sequence[int], activation: str) -> str:
    """The spec of an MLP: 784-512-256-10 relu -> affine512-relu-affine256-relu-affine10."""
    parts = []
    for units in sizes[1:-1]:
        parts += [f"affine{units}", activation]
    return "-".join([*parts, f"affine{sizes[-1]}"])


def as_mlp(layers: Sequence[Layer]) -> tuple[tuple[int, ...], str | None] | None:
    """(sizes, activation) when the layers are a plain MLP (affine, one activation, ...,
    affine), the case the fast MLP path runs; None otherwise. The activation is None for a
    single affine layer, which has none."""
    units = [784]
    activation = None
    for i, layer in enumerate(layers):
        want_affine = i % 2 == 0
        if want_affine and isinstance(layer, Affine):
            units.append(layer.units)
        elif not want_affine and isinstance(layer, Activation):
            if activation not in (None, layer.name):
                return None
            activation = layer.name
        else:
            return None
    if len(layers) % 2 == 0:
        return None
    return tuple(units), activation


# The book's two ConvNets, known by the shapes of their arrays (their files carry no spec).
BOOK_NETWORKS = {
    "SimpleConvNet": "conv30k5-relu-pool2-affine100-relu-affine10",
    "DeepConvNet": (
        "conv16k3p1-relu-conv16k3p1-relu-pool2-conv32k3p1-relu-conv32k3p2-relu-pool2-"
        "conv64k3p1-relu-conv64k3p1-relu-pool2-affine50-relu-dropout0.5book-affine10-"
        "dropout0.5book"
    ),
}
