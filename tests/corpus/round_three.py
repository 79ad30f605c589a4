"""Issue 26's classes as generated corpus cases: made at test time (some are large), then run
through the installed command by tests/test_corpus.py with the same checks as every case
(one error line, nothing changed, peak memory under 300 MB, a refusal within 10 s)."""

from __future__ import annotations

import io
import json
import pickle
import struct
from pathlib import Path

import numpy as np

SPEC_PADDED = "-".join(["conv1k1p64"] * 45 + ["pool64", "affine10"])


def _layer_arrays(shapes: list[tuple[int, ...]], dtype=np.float32) -> dict[str, np.ndarray]:
    out = {}
    for k, shape in enumerate(shapes):
        out[("W" if k % 2 == 0 else "b") + str(k // 2 + 1)] = np.full(shape, 0.01, dtype)
    return out


def _npz(path: Path, arrays: dict, meta: object, raw_meta: str | None = None) -> None:
    text = raw_meta if raw_meta is not None else json.dumps(meta)
    buf = io.BytesIO()
    np.savez(buf, **arrays, meta=np.array(text))
    path.write_bytes(buf.getvalue())


def _mlp(dtype=np.float32, hidden: int = 20) -> dict[str, np.ndarray]:
    return _layer_arrays([(784, hidden), (hidden,), (hidden, 10), (10,)], dtype)


def _shared_levels(levels: int, refs: int) -> bytes:
    b = bytearray(b"\x80\x04}(\x8c\x02W1")
    b += b"N"  # W1 comes later: only meta matters here
    b += b"\x8c\x04metaNq\x000"
    for i in range(levels):
        b += b"(" + (b"h" + bytes([i])) * refs + b"lq" + bytes([i + 1])
        if i < levels - 1:
            b += b"0"
    return bytes(b + b"u.")


def _safetensors(header: dict, body: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def make(folder: Path) -> None:
    # --- specs whose activations grow past the budget (from a file, and the same on the CLI)
    conv = [(1, 1, 1, 1), (1,)] * 45
    _npz(folder / "r3-padded-spec.npz", _layer_arrays(conv), {"arch": SPEC_PADDED})
    _npz(
        folder / "r3-wide-conv.npz",
        _layer_arrays([(4096, 1, 5, 5), (4096,), (4096 * 24 * 24, 1), (1,)]),
        {"arch": "conv4096k5-affine10"},
    )
    # --- shared memo references (a tree of 10^28 values in 700 bytes)
    (folder / "r3-shared-28x10.pkl").write_bytes(_shared_levels(28, 10))
    (folder / "r3-shared-22x2.pkl").write_bytes(_shared_levels(22, 2))
    # --- near the size caps: a 99 MB float16 MLP (50 million parameters) and a valid 99 MB
    # float64 one (12.4 million), which must load within the bound
    f16 = _mlp(np.float16, 63_000)
    with open(folder / "r3-f16-99mb.pkl", "wb") as f:
        pickle.dump(f16, f, protocol=4)
    with open(folder / "r3-f64-99mb.pkl", "wb") as f:
        pickle.dump(_mlp(np.float64, 15_600), f, protocol=4)
    # --- zero-size arrays with impossible shapes
    d = pickle.dumps({"W1": np.zeros((0, 3), "f4")}, protocol=2)
    d = d.replace(b"K\x00K\x03\x86", b"K\x00\x8a\x08" + (2**62).to_bytes(8, "little") + b"\x86")
    (folder / "r3-zero-huge.pkl").write_bytes(d)
    (folder / "r3-zero-huge.safetensors").write_bytes(
        _safetensors(
            {"W1": {"dtype": "F32", "shape": [0, *[2**31 - 1] * 3], "data_offsets": [0, 0]}}
        )
    )
    # --- JSON nested 2,000 deep
    deep = "[" * 2000 + "]" * 2000
    _npz(folder / "r3-deep-meta.npz", _mlp(), None, raw_meta=deep)
    st_arrays = _mlp()
    header, body, pos = {}, b"", 0
    for k, a in st_arrays.items():
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [pos, pos + a.nbytes]}
        body += a.tobytes()
        pos += a.nbytes
    header["__metadata__"] = {"nnmnist_arch": "affine20-relu-affine10", "nnmnist_meta": deep}
    (folder / "r3-deep-meta.safetensors").write_bytes(_safetensors(header, body))
    # --- meta fields of the wrong type
    for name, meta in (
        ("r3-output-list", {"output": ["softmax"]}),
        ("r3-activation-dict", {"activation": {"relu": 1}}),
        ("r3-history-strings", {"history": ["epoch 1"]}),
        ("r3-data-list", {"data": ["train"]}),
    ):
        with open(folder / f"{name}.pkl", "wb") as f:
            pickle.dump({**_mlp(), "meta": meta}, f, protocol=4)


EV = ["evaluate", "--limit", "10", "--weights"]
P = ["predict", "seven.png"]
# (id, arguments, status, fragment, seconds allowed)
CASES: list[tuple[str, list[str], int, str]] = [
    ("r3 spec that grows the picture", [*EV, "r3-padded-spec.npz"], 1, "needs 40 MB for one image"),
    (
        "r3 --arch that grows the picture",
        [*EV, "r3-padded-spec.npz", "--arch", SPEC_PADDED],
        1,
        "layer 9 (conv1k1p64) needs 40 MB for one image",
    ),
    ("r3 spec past the parameters", [*EV, "r3-wide-conv.npz"], 1, "allows at most 16,000,000"),
    (
        "r3 train --arch past the budget",
        ["train", "--arch", SPEC_PADDED, "-o", "new.npz"],
        2,
        "needs 40 MB for one image",
    ),
    (
        "r3 train MLP batch past the budget",
        ["train", "--hidden", "4000", "--batch-size", "60000", "-o", "new.npz"],
        1,
        "--batch-size 60000: a batch of this network needs",
    ),
    ("r3 shared references 28x10", [*EV, "r3-shared-28x10.pkl"], 1, "more than 1,000,000 values"),
    ("r3 shared references 22x2", [*EV, "r3-shared-22x2.pkl"], 1, "more than 1,000,000 values"),
    ("r3 99 MB float16 pickle", [*EV, "r3-f16-99mb.pkl"], 1, "(784, 63000): more than 16,000,000"),
    ("r3 zero-size huge pickle", [*EV, "r3-zero-huge.pkl"], 1, "integers from 0 to 2,147,483,647"),
    (
        "r3 zero-size huge safetensors",
        [*EV, "r3-zero-huge.safetensors"],
        1,
        "more than 16,000,000 values",
    ),
    ("r3 npz meta 2,000 deep", [*EV, "r3-deep-meta.npz"], 1, "nests 2,000 levels deep"),
    (
        "r3 nnmnist_meta 2,000 deep",
        [*EV, "r3-deep-meta.safetensors"],
        1,
        "the nnmnist_meta entry is not valid JSON (it nests 2,000 levels deep",
    ),
    ("r3 meta output a list", [*EV, "r3-output-list.pkl"], 1, "meta field 'output' is a list"),
    (
        "r3 meta output a list, export",
        ["export", "r3-output-list.pkl", "-o", "new.npz"],
        1,
        "meta field 'output' is a list",
    ),
    (
        "r3 meta activation a dict",
        [*EV, "r3-activation-dict.pkl"],
        1,
        "meta field 'activation' is a dict",
    ),
    (
        "r3 meta history of strings",
        ["plot", "history", "-w", "r3-history-strings.pkl", "-o", "h.png"],
        1,
        "meta field 'history', entry 1",
    ),
    ("r3 meta data a list", [*EV, "r3-data-list.pkl"], 1, "meta field 'data' is a list"),
    ("r3 --min-confidence nan", [*P, "--min-confidence", "nan"], 2, "not nan"),
    ("r3 --batch-size 0", [*P, "--batch-size", "0"], 2, "--batch-size: must be at least 1"),
    ("r3 --top-k 11", [*P, "--top-k", "11"], 2, "--top-k: must be at most 10"),
    ("r3 a name of 100,000 characters", ["predict", "a" * 100_000], 1, "(99,074 characters)"),
]

# valid inputs near the caps: they must load and run within the same bound
VALID: list[tuple[str, list[str]]] = [
    ("r3 99 MB float64 pickle loads", [*EV, "r3-f64-99mb.pkl"]),
]
