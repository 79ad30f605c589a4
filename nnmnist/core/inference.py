"""A layer network's inference pass, planned once: the layers as steps that each do one GEMM and
as few passes over memory as the layers allow, on arrays made once and reused.

What a plan changes against running the layers one by one (layers.py, which training uses):

- A convolution followed by ReLU and max pooling is pooled first, then given its bias and its
  ReLU, on a quarter of the values. This is exact, not close: rounding x + b is monotone in x,
  so the largest of a window plus b is the largest of the window's sums, and ReLU is monotone.
- Patches are unrolled by one copy from a strided view: a one-channel input kernel offset by
  kernel offset, (KH*KW, N*OH*OW), whose transpose the GEMM reads as it is; more channels as
  (N*OH*OW, KH*KW*C), where a patch row's (KW, C) values are side by side in the input. The
  division of 0-255 pixels by 255 comes after the first pooling, on a quarter of the values.
- Weights are laid out for their GEMM once (filters as (KH*KW*C, F); the first affine layer's
  rows permuted from the book's (C, H, W) order to the activations' (H, W, C), so that a block
  is flattened with no copy).
- Every array a block needs, and every view of them, is made once per block size and thread
  (a Workspace, about 6 MB for the shipped ConvNet's blocks of 16), so that a call with one
  image costs the GEMMs and a few dozen NumPy calls, not the allocations and views.

The sums are the same products added in another order than layers.py's: outputs agree to
float32 rounding (tests/test_inference.py: labels identical, probabilities within 1e-5, on the
shipped models and the book's networks). Pure NumPy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided
from numpy.typing import NDArray

from nnmnist.core.layers import INFERENCE, Activation, Affine, Conv, Dropout, Layer, Pool

Array = NDArray[np.floating]
Op = Callable[[], Any]
WORKSPACES_PER_THREAD = 2  # block sizes kept: a call's blocks are all one size (core.network)


class Workspace:
    """The arrays of one block size: the input, every step's output, the ops that fill them."""

    def __init__(self, plan: Plan, n: int) -> None:
        self.n = n
        self.divide = False  # the input holds whole numbers 0-255 (set for each block)
        self.pixels = np.zeros((n, 784), plan.dtype)
        a: Array = self.pixels.reshape(n, 28, 28, 1)
        self.ops: list[Op] = []
        for step in plan.steps:
            a = step.bind(a, self, plan.dtype)
        self.out = a.reshape(n, -1)

    def run(self, x: NDArray[Any]) -> Array:
        """x (n, 784) -> the layers' outputs (n, outputs): a view of this workspace's array,
        overwritten by the next block."""
        np.copyto(self.pixels, x, casting="unsafe")
        for op in self.ops:
            op()
        return self.out


def _pool_ops(y: Array, pool: Pool, out: Array) -> list[Op]:
    """Max pooling of y (N, H, W, C) into out (N, OH, OW, C): one maximum per window offset."""
    k, s = pool.size, pool.stride
    oh, ow = out.shape[1], out.shape[2]
    views = [y[:, i : i + s * oh : s, j : j + s * ow : s, :] for i in range(k) for j in range(k)]

    def larger(v: Array) -> Op:
        return lambda: np.maximum(out, v, out=out)

    return [lambda: np.copyto(out, views[0]), *map(larger, views[1:])]


@dataclass
class _ConvStep:
    """A convolution, with the ReLU and the max pooling that follow it when they do."""

    conv: Conv
    w2: Array  # (KH*KW*C, F): the GEMM's right-hand side
    b: Array
    relu: bool
    pool: Pool | None
    first: bool  # reads the network's input (0-255 pixels divided by 255 after pooling)

    def bind(self, a: Array, ws: Workspace, dtype: Any) -> Array:
        c, ops = self.conv, ws.ops
        n, h, w, ch = a.shape
        p, s = c.pad, c.stride
        oh, ow = (h + 2 * p - c.kh) // s + 1, (w + 2 * p - c.kw) // s + 1
        src = a
        if p:  # a zero border, kept; the inside written block after block
            src = np.zeros((n, h + 2 * p, w + 2 * p, ch), dtype)
            inside = src[:, p : p + h, p : p + w, :]
            ops.append(lambda: np.copyto(inside, a))
        sn, sh, sw, sc = src.strides
        rows = n * oh * ow
        y = np.empty((rows, c.filters), dtype)
        if ch == 1:  # (KH, KW, N, OH, OW): each kernel offset's shifted rows
            cols = np.empty((c.kh, c.kw, n, oh, ow), dtype)
            view = as_strided(src, cols.shape, (sh, sw, sn, sh * s, sw * s), writeable=False)
            lhs = cols.reshape(c.kh * c.kw, rows).T
        else:  # (N, OH, OW, KH, KW, C)
            cols = np.empty((n, oh, ow, c.kh, c.kw, ch), dtype)
            view = as_strided(src, cols.shape, (sn, sh * s, sw * s, sh, sw, sc), writeable=False)
            lhs = cols.reshape(rows, -1)
        ops.append(lambda: np.copyto(cols, view))
        ops.append(lambda: np.matmul(lhs, self.w2, out=y))
        out = y.reshape(n, oh, ow, c.filters)
        if self.pool is not None:
            k, ps = self.pool.size, self.pool.stride
            pooled = np.empty((n, (oh - k) // ps + 1, (ow - k) // ps + 1, c.filters), dtype)
            ops += _pool_ops(out, self.pool, pooled)
            out = pooled
        if self.first:
            scale = dtype.type(255)
            ops.append(lambda: ws.divide and np.divide(out, scale, out=out))
        ops.append(lambda: np.add(out, self.b, out=out))
        if self.relu:
            ops.append(lambda: np.maximum(out, 0, out=out))
        return out


@dataclass
class _AffineStep:
    w: Array  # (inputs, units), rows in the order the input is flattened
    b: Array
    relu: bool

    def bind(self, a: Array, ws: Workspace, dtype: Any) -> Array:
        flat = a.reshape(len(a), -1)
        y = np.empty((len(a), self.w.shape[1]), dtype)
        if ws.ops == []:  # the network's first layer: the pixels' division comes after
            scale = dtype.type(255)
            ws.ops.append(lambda: np.matmul(flat, self.w, out=y))
            ws.ops.append(lambda: ws.divide and np.divide(y, scale, out=y))
        else:
            ws.ops.append(lambda: np.matmul(flat, self.w, out=y))
        ws.ops.append(lambda: np.add(y, self.b, out=y))
        if self.relu:
            ws.ops.append(lambda: np.maximum(y, 0, out=y))
        return y


@dataclass
class _LayerStep:
    """Any other layer, run as layers.py runs it at inference, into an array of its own."""

    layer: Layer
    params: tuple[Array, ...]

    def bind(self, a: Array, ws: Workspace, dtype: Any) -> Array:
        if not ws.ops:  # a first layer of this kind takes [0, 1] values
            scale = dtype.type(255)
            ws.ops.append(lambda: ws.divide and np.divide(a, scale, out=a))
        if isinstance(self.layer, Dropout) and not self.layer.book:
            return a  # nothing at inference
        out = np.empty((len(a), *self.layer.out_shape(a.shape[1:])), dtype)
        ops = ws.ops
        ops.append(lambda: np.copyto(out, self.layer.forward(a, self.params, INFERENCE)[0]))
        return out


Step = _ConvStep | _AffineStep | _LayerStep


class Plan:
    """A network's inference steps, with a workspace per thread and block size."""

    def __init__(self, steps: list[Step], dtype: np.dtype[Any], outputs: int) -> None:
        self.steps = steps
        self.dtype = dtype
        self.outputs = outputs  # values per image out of the last layer
        self._local = threading.local()

    def workspace(self, n: int) -> Workspace:
        kept: dict[int, Workspace] = getattr(self._local, "kept", None) or {}
        self._local.kept = kept
        ws = kept.get(n)
        if ws is None:
            if len(kept) >= WORKSPACES_PER_THREAD:
                kept.pop(next(iter(kept)))
            ws = kept[n] = Workspace(self, n)
        return ws

    def run(self, x: NDArray[Any]) -> Array:
        """(N, 784) pixels (0-255, or [0, 1] floats) -> (N, outputs) before the output
        activation: a view of the workspace, overwritten by the next block of this size."""
        ws = self.workspace(len(x))
        whole = not np.issubdtype(x.dtype, np.floating)
        if whole and self.dtype == np.float64:  # the book's networks: the book's values
            x = x.astype(np.float32) / np.float32(255)
            whole = False
        ws.divide = whole
        return ws.run(x)


def make_plan(
    layers: tuple[Layer, ...],
    params: list[tuple[Array, ...]],
    shapes: list[tuple[int, ...]],
    dtype: np.dtype[Any],
) -> Plan:
    """The steps of these layers (params: each layer's arrays; shapes: each layer's input
    shape, (H, W, C) or (units,))."""
    steps: list[Step] = []
    i = 0
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, Conv):
            w, b = params[i]
            relu = _is_relu(layers, i + 1)
            after = _at(layers, i + 1 + relu)
            pool = after if isinstance(after, Pool) else None
            w2 = np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(-1, layer.filters))
            steps.append(_ConvStep(layer, w2.astype(dtype), b.astype(dtype), relu, pool, i == 0))
            i += 1 + relu + (pool is not None)
        elif isinstance(layer, Affine):
            w, b = params[i]
            shape = shapes[i]
            if len(shape) == 3:  # the book's (C, H, W) rows, for an (H, W, C) block
                h, wd, c = shape
                w = w.reshape(c, h, wd, -1).transpose(1, 2, 0, 3).reshape(h * wd * c, -1)
            relu = _is_relu(layers, i + 1)
            steps.append(_AffineStep(np.ascontiguousarray(w, dtype=dtype), b.astype(dtype), relu))
            i += 1 + relu
        else:
            steps.append(_LayerStep(layer, params[i]))
            i += 1
    return Plan(steps, dtype, int(np.prod(shapes[-1])))


def _at(layers: tuple[Layer, ...], i: int) -> Layer | None:
    return layers[i] if i < len(layers) else None


def _is_relu(layers: tuple[Layer, ...], i: int) -> bool:
    layer = _at(layers, i)
    return isinstance(layer, Activation) and layer.name == "relu"
