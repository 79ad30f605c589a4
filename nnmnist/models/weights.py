"""Weight files: the book's pickled dict {W1, b1, ..., Wn, bn}, or the same arrays in an .npz.

Loading runs nothing: pickles are parsed opcode by opcode (picklefile.py) and their arrays built
by nnmnist's own code; .npz members are checked against their sizes before one is inflated and
read with allow_pickle=False. Whatever loads is validated (keys, dtypes, finite values, the
layer chain) before it becomes a Network. Saving goes through the one atomic writer.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nnmnist.core import arch
from nnmnist.core.activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from nnmnist.core.network import N_CLASSES, N_INPUTS, Network
from nnmnist.errors import UnsafeFileError, WeightsError
from nnmnist.io.atomic import failures_as, make_folder, write_file
from nnmnist.io.formats import printable
from nnmnist.io.npyfile import load_npz
from nnmnist.io.picklefile import parse_pickle
from nnmnist.io.reading import MAX_WEIGHTS_BYTES, open_file, parse_json, read_capped, read_file

_KEY = re.compile(r"^([Wb])([1-9][0-9]*)$")
META_KEY = "meta"
PLAIN = (str, int, float, bool, type(None))


# The models trained for and committed with nnmnist, most accurate first: the first one present
# is the default of evaluate and predict (tests/test_models.py checks the order).
SHIPPED_MODELS = {
    "writers": "mnist-cnn-writers.npz",
    "photos": "mnist-cnn-photos.npz",
    "cnn": "mnist-cnn.npz",
    "mlp": "mnist-mlp.npz",
}


def shipped_model_path(name: str | None = None) -> Path | None:
    """A model trained for and committed with nnmnist (by name; None: the default, the most
    accurate one this installation has), or None if it does not have it."""
    for model, file in SHIPPED_MODELS.items():
        if name in (None, model) and (path := shipped_file(file)) is not None:
            return path
    return None


def shipped_file(file: str) -> Path | None:
    """A file shipped in weights/ (installed as nnmnist/shipped/), or None if it is missing."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "shipped" / file, here.parent / "weights" / file):
        if candidate.is_file():
            return candidate
    return None


def shipped_models() -> dict[str, Path]:
    """The shipped models this installation has, by name, most accurate first."""
    found = {name: shipped_model_path(name) for name in SHIPPED_MODELS}
    return {name: path for name, path in found.items() if path is not None}


def is_shipped_model(path: Path) -> bool:
    return path.exists() and path.resolve() in {p.resolve() for p in shipped_models().values()}


def weights_label(path: Path) -> str:
    """How messages name a weight file: the shipped model by its file name, else the path."""
    return f"the shipped model {path.name}" if is_shipped_model(path) else str(path)


def load_weights(
    path: str | os.PathLike[str], spec: str | None = None, outputs: int = N_CLASSES
) -> Network:
    """Read and validate a weight file (.pkl in the book's format, or .npz). spec: the layer
    sequence (core.arch) when the file does not record one, or to override it; outputs: see
    network_from_dict."""
    path = Path(path)
    with open_file(path, str(path), WeightsError, MAX_WEIGHTS_BYTES) as f:
        head = f.read(16)
        if not head:
            raise WeightsError(f"{path}: empty file, not a weight file")
        f.seek(0)
        if head[:4] == b"PK\x03\x04":
            obj = _read_npz(path, read_capped(f, str(path), WeightsError, MAX_WEIGHTS_BYTES))
        elif path.suffix == ".safetensors" or _looks_like_safetensors(head, f):
            data = read_capped(f, str(path), WeightsError, MAX_WEIGHTS_BYTES)
            obj = _read_safetensors(path, data, spec)
            del data  # the arrays are copies: the file's bytes go before they are checked
        else:  # parsed as it is read: the file's bytes are never all in memory
            obj = _read_pickle(path, head, f)
    net = network_from_dict(obj, str(path), spec, outputs)
    for a in (*net.weights, *net.biases):  # a file's weights do not change: the forward
        a.flags.writeable = False  # pass may plan for them once (core.network.inference_plan)
    return net


def _looks_like_safetensors(head: bytes, f: BinaryIO) -> bool:
    from nnmnist.models.interchange import looks_like_safetensors

    size = os.fstat(f.fileno()).st_size
    return looks_like_safetensors(head, size)


def _read_safetensors(path: Path, data: bytes, spec: str | None) -> dict[str, Any]:
    import warnings

    from nnmnist.errors import InputNotice
    from nnmnist.models.interchange import from_safetensors

    obj, note = from_safetensors(data, str(path), spec)
    if note:
        warnings.warn(f"{printable(str(path))}: {note}", InputNotice, stacklevel=3)
    return obj


# A pickle starts with PROTO (protocol 2 and later), or, in protocols 0 and 1, with the opening
# of a dict: MARK, EMPTY_DICT, or a GLOBAL (a pickled array at the top).
_PICKLE_STARTS = (b"\x80", b"(", b"}", b"c")


def _read_pickle(path: Path, head: bytes, f: BinaryIO) -> Any:
    if not head.startswith(_PICKLE_STARTS):
        raise WeightsError(
            f"{path}: not a readable weight file (expected a pickle or .npz; it starts with "
            f"bytes {head[:4].hex()})"
        )
    try:
        return parse_pickle(f, MAX_WEIGHTS_BYTES, arch.MAX_PARAMETERS)
    except UnsafeFileError as exc:
        raise UnsafeFileError(
            f"{path}: refused: {exc}; a weight file holds only NumPy arrays of numbers "
            "(nothing in the file was run)"
        ) from None
    except WeightsError as exc:
        raise WeightsError(f"{path}: not a readable weight file ({exc})") from None


def _expected_member(name: str) -> bool:
    return name == META_KEY or _KEY.match(name) is not None


def _read_npz(path: Path, data: bytes) -> dict[str, Any]:
    obj: dict[str, Any] = load_npz(
        data, str(path), WeightsError, _expected_member, "not a readable .npz file"
    )
    if META_KEY in obj:
        try:
            obj[META_KEY] = parse_json(str(obj[META_KEY]))
        except ValueError as exc:
            raise WeightsError(f"{path}: the meta entry is not valid JSON ({exc})") from None
    return obj


_CHECKPOINT_MEMBER = re.compile(r"^(param[0-9]+|best[0-9]+|start[0-9]+|opt_[a-z]+[0-9]*|state)$")


def read_checkpoint(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    """The arrays of a training checkpoint (.npz), bounded and checked like a weight file.

    It is not counted among the run's inputs: resuming reads it whole, then replaces it.
    """
    data = read_file(path, str(path), WeightsError, MAX_WEIGHTS_BYTES, register=False)
    expected = lambda m: bool(_CHECKPOINT_MEMBER.match(m))  # noqa: E731
    return load_npz(data, str(path), WeightsError, expected, "not a usable checkpoint")


def _plain(value: Any) -> bool:
    if isinstance(value, PLAIN):
        return True
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _computable(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return a.astype(np.float32) if a.dtype == np.float16 else a


def network_from_dict(
    obj: Any, name: str = "weights", spec: str | None = None, outputs: int = N_CLASSES
) -> Network:
    """Validate a {W1, b1, ..., Wn, bn[, meta]} mapping and build the Network it describes
    (outputs: its number of outputs, one per digit unless it answers something else).

    The layer sequence: spec if given, else the one meta records ("arch"), else an MLP when every
    W is 2-D, else one of the book's ConvNets recognised by the shapes of its arrays."""
    if not isinstance(obj, dict):
        raise WeightsError(
            f"{name}: holds a {type(obj).__name__}, not a dict of arrays W1, b1, ..., Wn, bn"
        )
    numbers: dict[str, set[int]] = {"W": set(), "b": set()}
    for key in obj:
        if key == META_KEY:
            continue
        m = _KEY.match(key) if isinstance(key, str) else None
        if m is None:
            raise WeightsError(
                f"{name}: unexpected key {key!r} (a weight file holds W1..Wn, b1..bn and meta)"
            )
        numbers[m.group(1)].add(int(m.group(2)))
    n = max(numbers["W"], default=0)
    if n == 0:
        raise WeightsError(f"{name}: no W1: a weight file holds arrays W1, b1, ..., Wn, bn")
    for kind in "Wb":
        missing = sorted(set(range(1, n + 1)) - numbers[kind])
        extra = sorted(numbers[kind] - set(range(1, n + 1)))
        if missing:
            raise WeightsError(f"{name}: has W1..W{n} but no {kind}{missing[0]}")
        if extra:
            raise WeightsError(f"{name}: has {kind}{extra[0]} but only W1..W{n}")

    for key in (f"{k}{i}" for i in range(1, n + 1) for k in "Wb"):
        a = obj[key]
        if not isinstance(a, np.ndarray):
            raise WeightsError(f"{name}: {key} is a {type(a).__name__}, not a NumPy array")
        if a.dtype not in (np.float16, np.float32, np.float64):
            raise WeightsError(
                f"{name}: {key} has dtype {a.dtype}; weights must be float16, float32 or float64"
            )
        if key[0] == "b" and a.ndim != 1:
            raise WeightsError(f"{name}: {key} has shape {a.shape}, expected 1 dimension")
        if key[0] == "W" and a.ndim not in (2, 4):
            raise WeightsError(
                f"{name}: {key} has shape {a.shape}; expected 2 dimensions (an affine layer) "
                "or 4 (convolution filters)"
            )

    keys = [f"{k}{i}" for i in range(1, n + 1) for k in "Wb"]
    for key in keys:
        if obj[key].size == 0:
            raise WeightsError(
                f"{name}: {key} has shape {obj[key].shape}: a layer needs at least one unit"
            )
    total = sum(obj[key].size for key in keys)
    if total > arch.MAX_PARAMETERS:  # before anything is converted (float16 doubles)
        raise WeightsError(
            f"{name}: holds {total:,} parameters; nnmnist allows at most {arch.MAX_PARAMETERS:,}"
        )
    for key in keys:
        if not np.isfinite(obj[key]).all():
            raise WeightsError(f"{name}: {key} holds NaN or infinite values")

    # float16 (a storage format) computes as float32
    weights = tuple(_computable(obj[f"W{i}"]) for i in range(1, n + 1))
    biases = tuple(_computable(obj[f"b{i}"]) for i in range(1, n + 1))
    meta = _meta(obj, name)
    spec = spec if spec is not None else meta.get("arch")
    if spec is not None:
        layers = _spec_layers(spec, name, outputs)
        _check_layer_arrays(layers, weights, biases, name)
        mlp = arch.as_mlp(layers)
        if mlp is None:
            output = meta.get("output", "softmax")
            return Network(weights, biases, "relu", output, meta, layers)
        if mlp[1] is not None:  # a plain MLP: the fast path runs it
            meta = {**meta, "activation": mlp[1]}
    elif any(w.ndim == 4 for w in weights):
        return _book_convnet(weights, biases, meta, name)
    _check_mlp_arrays(weights, biases, name, outputs)
    return _mlp(weights, biases, meta, name)


# The meta fields nnmnist itself reads, by type; any other plain field is carried as it is.
_NUMBER = (int, float)
_META_FIELDS: dict[str, tuple[type, ...]] = {
    "output": (str,),
    "activation": (str,),
    "arch": (str,),
    "recognised": (str,),
    "data": (dict,),
    "history": (list,),
    "layers": (list,),
    "test_accuracy": (*_NUMBER, type(None)),
    "val_accuracy": (*_NUMBER, type(None)),
}
_HISTORY_NUMBERS = ("epoch", "train_loss", "train_accuracy")
MAX_HISTORY = 10_000  # epochs (TrainConfig's own bound)


def _meta(obj: dict[str, Any], name: str) -> dict[str, Any]:
    """meta, checked: plain values only, and every field nnmnist reads of the type it reads."""
    meta = obj.get(META_KEY, {})
    if not isinstance(meta, dict) or not _plain(meta):
        raise WeightsError(f"{name}: meta must be a dict of plain strings and numbers")
    spec = meta.get("arch")
    if spec is not None and not (isinstance(spec, str) and spec):
        raise WeightsError(f"{name}: the arch entry of meta must be a layer spec")
    for key, types in _META_FIELDS.items():
        value = meta.get(key)
        if key in meta and (not isinstance(value, types) or isinstance(value, bool)):
            what = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise WeightsError(
                f"{name}: meta field {key!r} is a {type(value).__name__}; it must be a {what}"
            )
    output = meta.get("output", "softmax")
    if output not in OUTPUT_ACTIVATIONS:
        raise WeightsError(f"{name}: unknown output activation {output[:40]!r} in meta")
    _check_history(meta.get("history", []), name)
    return meta


def _check_history(history: list[Any], name: str) -> None:
    """meta.history: one dict per epoch with numbers where the plots and reports read them."""
    if len(history) > MAX_HISTORY:
        raise WeightsError(f"{name}: meta field 'history' has more than {MAX_HISTORY:,} epochs")
    for i, h in enumerate(history, start=1):
        ok = isinstance(h, dict) and all(
            isinstance(h.get(k), _NUMBER) and not isinstance(h.get(k), bool)
            for k in _HISTORY_NUMBERS
        )
        val = h.get("val_accuracy") if isinstance(h, dict) else None
        if not ok or not (val is None or (isinstance(val, _NUMBER) and not isinstance(val, bool))):
            raise WeightsError(
                f"{name}: meta field 'history', entry {i}: each epoch needs numbers "
                f"{', '.join(_HISTORY_NUMBERS)} and val_accuracy (a number or null)"
            )


def _spec_layers(spec: str, name: str, outputs: int = N_CLASSES) -> tuple[Any, ...]:
    try:
        return arch.parse(spec, outputs)
    except arch.SpecError as exc:
        raise WeightsError(f"{name}: layer spec {printable(spec[:80])!r}: {exc}") from None


def _check_layer_arrays(
    layers: tuple[Any, ...], weights: tuple[Any, ...], biases: tuple[Any, ...], name: str
) -> None:
    """Every array has the shape its layer needs, and there are as many as the spec has."""
    wanted = arch.param_shapes(layers)
    if len(wanted) != 2 * len(weights):
        raise WeightsError(
            f"{name}: the layer spec has {len(wanted) // 2} conv and affine layers but the file "
            f"holds W1..W{len(weights)}"
        )
    for k in range(len(weights)):
        for key, array, (tok, shape, number) in (
            (f"W{k + 1}", weights[k], wanted[2 * k]),
            (f"b{k + 1}", biases[k], wanted[2 * k + 1]),
        ):
            if array.shape != shape:
                raise WeightsError(
                    f"{name}: {key} has shape {array.shape} but layer {number} ({tok}) needs {shape}"
                )


def _book_convnet(
    weights: tuple[Any, ...], biases: tuple[Any, ...], meta: dict[str, Any], name: str
) -> Network:
    for book_name, spec in arch.BOOK_NETWORKS.items():
        layers = arch.parse(spec)
        try:
            _check_layer_arrays(layers, weights, biases, name)
        except WeightsError:
            continue
        meta = {**meta, "recognised": f"the book's {book_name}"}
        return Network(weights, biases, hidden="relu", meta=meta, layers=layers)
    raise WeightsError(
        f"{name}: W1 has shape {weights[0].shape} (convolution filters) and the file does not "
        "say how its layers run; give them with --arch SPEC (see nnmnist evaluate --help)"
    )


def _check_mlp_arrays(
    weights: tuple[Any, ...], biases: tuple[Any, ...], name: str, outputs: int = N_CLASSES
) -> None:
    n = len(weights)
    if weights[0].shape[0] != N_INPUTS:
        raise WeightsError(
            f"{name}: W1 has {weights[0].shape[0]} rows but the input is {N_INPUTS} pixels"
        )
    if weights[-1].shape[1] != outputs:
        raise WeightsError(
            f"{name}: W{n} has {weights[-1].shape[1]} columns but there are {outputs} classes"
        )
    for i in range(n):
        if biases[i].shape[0] != weights[i].shape[1]:
            raise WeightsError(
                f"{name}: b{i + 1} has {biases[i].shape[0]} values "
                f"but W{i + 1} has {weights[i].shape[1]} columns"
            )
        if i + 1 < n and weights[i + 1].shape[0] != weights[i].shape[1]:
            raise WeightsError(
                f"{name}: W{i + 2} has {weights[i + 1].shape[0]} rows "
                f"but layer {i + 1} has {weights[i].shape[1]} units"
            )


def _mlp(
    weights: tuple[Any, ...], biases: tuple[Any, ...], meta: dict[str, Any], name: str
) -> Network:
    hidden = meta.get("activation", "sigmoid")
    if hidden not in HIDDEN_ACTIVATIONS:
        raise WeightsError(f"{name}: unknown hidden activation {hidden[:40]!r} in meta")
    output = meta.get("output", "softmax")
    return Network(weights, biases, hidden=hidden, output=output, meta=meta)


def network_to_dict(net: Network, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The book's dict {W1, b1, ...} plus a meta dict (which the book's code simply ignores)."""
    obj: dict[str, Any] = {}
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        obj[f"W{i}"] = w
        obj[f"b{i}"] = b
    full_meta = {**net.meta, **(meta or {}), "output": net.output}
    full_meta.pop("recognised", None)  # said of a file without a spec; this one has one
    if net.layers is None:
        full_meta.update(activation=net.hidden, layers=list(net.sizes))
    else:
        full_meta.pop("activation", None)
        full_meta.pop("layers", None)
    full_meta["arch"] = net.spec
    obj[META_KEY] = full_meta
    return obj


SAVE_FORMATS = {".npz": "npz", ".safetensors": "safetensors", ".onnx": "onnx", ".pkl": "pkl"}


def save_weights(
    net: Network,
    path: str | os.PathLike[str],
    meta: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
    fmt: str | None = None,
) -> None:
    """Write the network through the one writer, in the format its suffix names (fmt, if
    given, instead): .npz, .safetensors, .onnx (interchange.py), else the book's pickle.
    overwrite: replace an existing file this run did not write."""
    path = Path(path)
    fmt = fmt or SAVE_FORMATS.get(path.suffix.lower(), "pkl")
    obj = network_to_dict(net, meta)
    if not _plain(obj[META_KEY]):
        raise WeightsError(f"{path}: meta must be plain strings and numbers")
    if fmt in ("onnx", "safetensors"):  # built in memory first: a missing package writes nothing
        from nnmnist.models import interchange

        encoded = (
            interchange.onnx_bytes(net)
            if fmt == "onnx"
            else interchange.safetensors_bytes(
                {k: v for k, v in obj.items() if k != META_KEY}, obj[META_KEY]
            )
        )

    def write(f: BinaryIO) -> None:
        if fmt == "npz":
            arrays = {k: v for k, v in obj.items() if k != META_KEY}
            np.savez(f, **arrays, meta=np.array(json.dumps(obj[META_KEY])))
        elif fmt in ("onnx", "safetensors"):
            f.write(encoded)
        else:
            pickle.dump(obj, f, protocol=4)

    # a read-only folder, a full disk: one line, and the old file, if any, is intact
    with failures_as(WeightsError, path, "cannot write ({}); nothing was changed"):
        make_folder(path.parent)
        write_file(path, write, overwrite=overwrite)


def with_activation(net: Network, activation: str) -> Network:
    """The network with every hidden activation replaced (--activation)."""
    import dataclasses

    from nnmnist.core.layers import Activation

    if activation not in HIDDEN_ACTIVATIONS:
        raise WeightsError(f"{activation!r} is not one of {', '.join(HIDDEN_ACTIVATIONS)}")
    if net.layers is None:
        return dataclasses.replace(net, hidden=activation)
    layers = tuple(
        Activation(activation) if isinstance(layer, Activation) else layer for layer in net.layers
    )
    return dataclasses.replace(net, layers=layers)


def check_target(path: Path, readable: bool = True) -> None:
    """The checks made before weights are written: not a folder, not a shipped model; with
    readable (init, train, Model.save), a format nnmnist reads back (not .onnx)."""
    if readable and path.suffix.lower() == ".onnx":
        raise WeightsError(
            f"{path}: nnmnist writes ONNX graphs but does not read them back; write .npz "
            "(or .pkl, .safetensors), then export it to .onnx (nnmnist export, Model.export)"
        )
    if path.is_dir():
        raise WeightsError(f"{path}: is a folder; give a file name such as {path / 'w.npz'}")
    if is_shipped_model(path):
        raise WeightsError(f"{path}: is the shipped model; write your own weights elsewhere")
