"""Models to and from other tools: ONNX graphs, safetensors files, PyTorch state dicts and
scikit-learn's MLPClassifier (models/sklearn_mlp.py).

Writing: `onnx_model(net)` builds an ONNX graph of the whole network with the `onnx` package
and `safetensors_bytes(arrays, meta)` a safetensors file with the `safetensors` package (both in the
optional extra `nnmnist[interchange]`, imported only here). Reading safetensors needs neither:
`read_safetensors` parses the format itself (8 bytes of header length, a JSON header, then the
raw little-endian arrays), checking the header against the file's size before it reads an
array, as every reader in nnmnist does. Nothing here runs code from a file.
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import numpy as np

from nnmnist.core import arch
from nnmnist.core.layers import Activation, Affine, Conv, Dropout, Pool
from nnmnist.core.network import N_CLASSES, N_INPUTS, Network
from nnmnist.errors import WeightsError
from nnmnist.io.formats import printable
from nnmnist.io.reading import parse_json

# ONNX operator set 13 (2021) is read by ONNX Runtime from 1.6 on, onnxruntime-web, TensorRT
# and OpenVINO; IR version 7 is the oldest format that carries it.
ONNX_OPSET = 13
ONNX_IR_VERSION = 7
ONNX_INPUT = "pixels"  # (N, 784) float32, values 0-255, as MNIST files and nnmnist hold them
ONNX_OUTPUT = "probabilities"  # (N, 10) float32, each row summing to 1

MAX_HEADER_BYTES = 1 << 20  # a header lists tensors by name: a megabyte is thousands of them
_DTYPES: dict[str, np.dtype[Any]] = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
}
META_SPEC = "nnmnist_arch"  # the key of the layer spec in a safetensors file's metadata
META_JSON = "nnmnist_meta"


def _missing(package: str) -> WeightsError:
    return WeightsError(
        f"this needs the {package} package: pip install 'nnmnist[interchange]' "
        f"(or pip install {package})"
    )


# ---------------------------------------------------------------------------------------------
# ONNX


def onnx_model(net: Network) -> Any:
    """The network as an onnx.ModelProto: input `pixels` (N, 784) float32 of values 0-255,
    output `probabilities` (N, 10). Weights are stored in float32 whatever the file's precision
    (runtimes compute ConvNets in float32 only)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise _missing("onnx") from None

    nodes: list[Any] = []
    inits: list[Any] = []
    count = [0]

    def name(kind: str) -> str:
        count[0] += 1
        return f"{kind}_{count[0]}"

    def const(values: np.ndarray[Any, Any], kind: str) -> str:
        tensor_name = name(kind)
        inits.append(numpy_helper.from_array(np.asarray(values), tensor_name))
        return tensor_name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    x = node("Div", [ONNX_INPUT, const(np.array(255, np.float32), "scale")])
    layers = net.layers if net.layers is not None else _mlp_layers(net)
    if any(isinstance(layer, Conv | Pool) for layer in layers):
        x = node("Reshape", [x, const(np.array([-1, 1, 28, 28], np.int64), "shape")])
    k = 0
    flat = False
    for layer in layers:
        if isinstance(layer, Conv):
            w, b = net.weights[k].astype(np.float32), net.biases[k].astype(np.float32)
            k += 1
            x = node(
                "Conv",
                [x, const(w, "W"), const(b, "b")],
                kernel_shape=[layer.kh, layer.kw],
                strides=[layer.stride, layer.stride],
                pads=[layer.pad] * 4,
            )
        elif isinstance(layer, Pool):
            x = node("MaxPool", [x], kernel_shape=[layer.size] * 2, strides=[layer.stride] * 2)
        elif isinstance(layer, Affine):
            w, b = net.weights[k].astype(np.float32), net.biases[k].astype(np.float32)
            k += 1
            if not flat:
                x = node("Flatten", [x], axis=1)  # (N, C, H, W) -> (N, C*H*W): the book's order
                flat = True
            x = node("Add", [node("MatMul", [x, const(w, "W")]), const(b, "b")])
        elif isinstance(layer, Activation):
            x = _onnx_activation(layer.name, x, node, const)
        elif isinstance(layer, Dropout) and layer.book:  # the book's: times (1 - p) at inference
            x = node("Mul", [x, const(np.array(1 - layer.p, np.float32), "keep")])
    if net.output == "softmax":
        x = node("Softmax", [x], axis=1)
    nodes.append(helper.make_node("Identity", [x], [ONNX_OUTPUT]))
    graph = helper.make_graph(
        nodes,
        "nnmnist",
        [helper.make_tensor_value_info(ONNX_INPUT, TensorProto.FLOAT, ["N", N_INPUTS])],
        [helper.make_tensor_value_info(ONNX_OUTPUT, TensorProto.FLOAT, ["N", N_CLASSES])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="nnmnist",
        doc_string=f"{net.spec}; input: pixels (N, 784) float32 0-255; output: probabilities",
    )
    model.ir_version = ONNX_IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def _mlp_layers(net: Network) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, w in enumerate(net.weights):
        out.append(Affine(int(w.shape[1])))
        if i < len(net.weights) - 1:
            out.append(Activation(net.hidden))
    return tuple(out)


def _onnx_activation(kind: str, x: str, node: Any, const: Any) -> str:
    if kind == "relu":
        return str(node("Relu", [x]))
    if kind == "sigmoid":
        return str(node("Sigmoid", [x]))
    if kind == "tanh":
        return str(node("Tanh", [x]))
    if kind == "step":  # 1 where x > 0, else 0
        zero = const(np.array(0, np.float32), "zero")
        return str(node("Cast", [node("Greater", [x, zero])], to=1))  # 1: FLOAT
    return x  # identity


def onnx_bytes(net: Network) -> bytes:
    return bytes(onnx_model(net).SerializeToString())


# ---------------------------------------------------------------------------------------------
# safetensors


def safetensors_bytes(arrays: dict[str, Any], meta: dict[str, Any]) -> bytes:
    """A weight file's arrays (W1, b1, ...) and meta (weights.network_to_dict) as safetensors:
    the arrays under their own names, the layer spec and the rest of the model's record in the
    header's metadata (strings, as the format wants)."""
    try:
        from safetensors.numpy import save
    except ImportError:
        raise _missing("safetensors") from None
    tensors = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    data: bytes = save(tensors, metadata={META_SPEC: meta["arch"], META_JSON: json.dumps(meta)})
    return data


def looks_like_safetensors(data: bytes, total: int | None = None) -> bool:
    """8 bytes of little-endian header length, then a JSON object (data: the file's first
    bytes at least; total: the file's size, if data is not all of it)."""
    total = len(data) if total is None else total
    if len(data) < 9 or total < 10:
        return False
    (size,) = struct.unpack("<Q", data[:8])
    return 2 <= size <= total - 8 and data[8:9] == b"{"


def read_safetensors(
    data: bytes, name: str
) -> tuple[dict[str, np.ndarray[Any, Any]], dict[str, str]]:
    """The arrays and the metadata of a safetensors file, every entry checked first: the
    header's length against the file's, each array's dtype, shape and byte range against the
    data that follows (no overlaps, no gaps, nothing past the end). The arrays are copies."""
    if len(data) < 8:
        raise WeightsError(f"{name}: too short for a safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8 or size > MAX_HEADER_BYTES:
        raise WeightsError(
            f"{name}: the safetensors header claims {size:,} bytes; the file has {len(data) - 8:,}"
        )
    try:
        header = parse_json(data[8 : 8 + size].decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError too
        raise WeightsError(f"{name}: the safetensors header is not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{name}: the safetensors header is not a JSON object")
    start = 8 + size  # where the arrays begin
    body_size = len(data) - start
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise WeightsError(f"{name}: the safetensors metadata must map strings to strings")
    entries = []
    for key, entry in header.items():
        shown = printable(str(key)[:60])
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise WeightsError(
                f"{name}: tensor {shown!r} is not described by dtype, shape, offsets"
            )
        dtype = _DTYPES.get(entry["dtype"]) if isinstance(entry["dtype"], str) else None
        if dtype is None:
            raise WeightsError(
                f"{name}: tensor {shown!r} has dtype {printable(str(entry['dtype'])[:20])}; "
                "weights must be F16, F32 or F64"
            )
        shape, offsets = entry["shape"], entry["data_offsets"]
        if not (
            isinstance(shape, list)
            and len(shape) <= 4
            and all(type(d) is int and 0 <= d < 1 << 31 for d in shape)
            and isinstance(offsets, list)
            and len(offsets) == 2
            and all(type(o) is int for o in offsets)
        ):
            raise WeightsError(f"{name}: tensor {shown!r} has a malformed shape or offsets")
        if math.prod(max(d, 1) for d in shape) > arch.MAX_PARAMETERS:  # zero-size ones too
            raise WeightsError(
                f"{name}: tensor {shown!r} of shape {shape}: more than "
                f"{arch.MAX_PARAMETERS:,} values"
            )
        begin, end = offsets
        need = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        if not 0 <= begin <= end <= body_size or end - begin != need:
            raise WeightsError(
                f"{name}: tensor {shown!r} needs {need:,} bytes at {begin:,}..{end:,}; "
                f"the data is {body_size:,} bytes"
            )
        entries.append((begin, end, str(key), dtype, tuple(shape)))
    total = sum(math.prod(e[4]) for e in entries)
    if total > arch.MAX_PARAMETERS:
        raise WeightsError(
            f"{name}: holds {total:,} parameters; nnmnist allows at most {arch.MAX_PARAMETERS:,}"
        )
    _check_tiling(sorted(entries), body_size, name)
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for begin, end, key, dtype, shape in entries:  # every entry checked: now copy them out
        count = (end - begin) // dtype.itemsize
        flat = np.frombuffer(data, dtype=dtype, count=count, offset=start + begin)
        arrays[key] = flat.reshape(shape).copy()
    return arrays, meta


def _check_tiling(spans: list[tuple[Any, ...]], body_size: int, name: str) -> None:
    """The tensors' byte ranges, in offset order, cover the data exactly: no overlap, no gap,
    nothing after the last one."""
    position = 0
    for begin, end, *_ in spans:
        if begin < position:
            raise WeightsError(f"{name}: two tensors of the safetensors file overlap")
        if begin > position:
            raise WeightsError(
                f"{name}: {begin - position:,} bytes at {position:,} belong to no tensor"
            )
        position = end
    if position != body_size:
        raise WeightsError(
            f"{name}: {body_size - position:,} bytes after the last tensor belong to no tensor"
        )


_TORCH_KEY = re.compile(r"^(?P<module>.*?)\.?(?P<param>weight|bias)$")
_NUMBER = re.compile(r"([0-9]+)")


def from_safetensors(data: bytes, name: str, spec: str | None) -> tuple[dict[str, Any], str]:
    """A {W1, b1, ..., meta} dict for weights.network_from_dict, and a note saying where the
    layers came from ("" for nnmnist's own files).

    nnmnist's own files carry W1, b1, ... and their spec. Anything else is read as a PyTorch
    state dict: (module).weight and (module).bias pairs, Linear weights (out, in) transposed to
    nnmnist's (in, out), Conv2d filters (out, in, kh, kw) kept. The layers come from spec; else
    an MLP is inferred from the shapes (784 -> ... -> 10, ReLU between: a state dict holds no
    activations), while a ConvNet needs spec (strides, padding and pooling are not in it)."""
    arrays, meta = read_safetensors(data, name)
    if META_SPEC in meta:  # nnmnist's own
        try:
            record = parse_json(meta.get(META_JSON, "{}"))
        except ValueError as exc:
            raise WeightsError(
                f"{name}: the nnmnist_meta entry is not valid JSON ({exc})"
            ) from None
        if not isinstance(record, dict):
            raise WeightsError(f"{name}: the nnmnist_meta entry is not a JSON object")
        return {**arrays, "meta": {**record, "arch": meta[META_SPEC]}}, ""
    pairs = _torch_pairs(arrays, name)
    obj: dict[str, Any] = {}
    for i, (module, w, b) in enumerate(pairs, start=1):
        if w.ndim == 2:
            w = np.ascontiguousarray(w.T)  # Linear: (out, in) -> (in, out)
        elif w.ndim != 4:
            raise WeightsError(
                f"{name}: {printable(module)}.weight has shape {w.shape}: neither a Linear "
                "(2 dimensions) nor a Conv2d (4) layer"
            )
        obj[f"W{i}"], obj[f"b{i}"] = w, b
    order = ", ".join(printable(m) or "(top)" for m, _, _ in pairs)
    if spec is not None:
        obj["meta"] = {"arch": spec}
        return obj, f"a PyTorch state dict: layers {order}, run as {spec}"
    if any(w.ndim == 4 for _, w, _ in pairs):
        raise WeightsError(
            f"{name}: a PyTorch ConvNet (layers {order}): a state dict does not record strides, "
            "padding or pooling; give the layers with --arch SPEC (see nnmnist evaluate --help)"
        )
    sizes = [N_INPUTS] + [int(w.shape[0]) for _, w, _ in pairs]
    inferred = arch.mlp_spec(sizes, "relu")
    obj["meta"] = {"arch": inferred}
    return obj, (
        f"a PyTorch state dict: layers {order} read as the MLP {inferred} (ReLU between its "
        "layers: a state dict does not record activations; --arch to change)"
    )


def _torch_pairs(
    arrays: dict[str, np.ndarray[Any, Any]], name: str
) -> list[tuple[str, np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """(module, weight, bias) in the network's order: modules numbered by nn.Sequential (0, 2,
    ...) or named with numbers (conv1, fc2, features.3) sort by their numbers; convolutions
    come before linear layers, as they must in a network that ends in 10 classes."""
    modules: dict[str, dict[str, np.ndarray[Any, Any]]] = {}
    for key, array in arrays.items():
        m = _TORCH_KEY.match(key)
        if m is None:
            raise WeightsError(
                f"{name}: unexpected tensor {printable(key[:60])!r} (a PyTorch state dict of "
                "Linear and Conv2d layers holds only NAME.weight and NAME.bias)"
            )
        modules.setdefault(m.group("module"), {})[m.group("param")] = array
    pairs = []
    for module, params in modules.items():
        if set(params) != {"weight", "bias"}:
            missing = ({"weight", "bias"} - set(params)).pop()
            raise WeightsError(f"{name}: {printable(module)} has no {missing}")
        pairs.append((module, params["weight"], params["bias"]))

    def order(pair: tuple[str, Any, Any]) -> tuple[Any, ...]:
        module, w, _ = pair
        numbers = tuple(int(n) for n in _NUMBER.findall(module))
        return (w.ndim != 4, _NUMBER.sub("", module) if w.ndim == 4 else "", numbers, module)

    pairs.sort(key=order)
    return pairs


# ---------------------------------------------------------------------------------------------
# scikit-learn
