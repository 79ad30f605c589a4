"""Hypothesis properties of the core, and bounded fuzzing of every parser.

The fuzz tests feed generated and mutated bytes to the IDX reader, the weight loader (pickle and
.npz), the .npy header check, the CSV reader and the image front end: only nnmnist's own error
types may come out.
"""

from __future__ import annotations

import builtins
import contextlib
import gzip
import io
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from nnmnist.core.activations import sigmoid, softmax
from nnmnist.core.network import Network, init_network, predict
from nnmnist.engines.inputs import iter_batches
from nnmnist.errors import NnmnistError
from nnmnist.io import idx
from nnmnist.models.weights import load_weights, save_weights
from nnmnist.vision.images import load_image, preprocess

FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
ROOT = Path(__file__).resolve().parent.parent

finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
logits = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(2, 12)), elements=finite32)


@FAST
@given(logits)
def test_softmax_rows_are_distributions(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = softmax(x)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


@FAST
@given(
    arrays(
        np.float32,
        st.tuples(st.integers(1, 5), st.integers(2, 12)),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    st.floats(-1e3, 1e3, width=32),
)
def test_softmax_ignores_a_constant_added_to_a_row(x, c):
    np.testing.assert_allclose(softmax(x + np.float32(c)), softmax(x), atol=2e-3)


@FAST
@given(logits)
def test_argmax_of_softmax_is_argmax_of_logits(x):
    top2 = np.sort(x, axis=1)[:, -2:]
    assume((top2[:, 1] - top2[:, 0] > 1e-3 * np.maximum(1, np.abs(top2[:, 1]))).all())
    np.testing.assert_array_equal(softmax(x).argmax(axis=1), x.argmax(axis=1))


@FAST
@given(arrays(np.float32, st.integers(1, 50), elements=st.floats(width=32, allow_nan=False)))
def test_sigmoid_never_warns_in_float32(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = sigmoid(x)
    assert y.dtype == np.float32 and ((y >= 0) & (y <= 1)).all()


NET = init_network(
    (784, 24, 16, 10),
    scheme="xavier",
    rng=np.random.RandomState(0),
    hidden="relu",
    dtype=np.float32,
)
NET = Network(NET.weights, NET.biases, hidden="relu")


@settings(max_examples=30, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 40), st.just(784))), st.integers(1, 40))
def test_predictions_do_not_depend_on_the_batch_size(x, batch):
    labels, probs = predict(NET, x)
    top2 = np.sort(probs, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4  # BLAS may round a near-tie either way
    parts = [predict(NET, x[i : i + batch])[0] for i in range(0, len(x), batch)]
    np.testing.assert_array_equal(np.concatenate(parts)[clear], labels[clear])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.integers(1, 12), max_size=3),
    st.sampled_from([np.float32, np.float64]),
    st.sampled_from(["sigmoid", "relu", "tanh"]),
    st.sampled_from([".pkl", ".npz"]),
    st.integers(0, 2**31 - 1),
)
def test_save_then_load_is_bit_exact(tmp_path_factory, hidden, dtype, activation, suffix, seed):
    net = init_network(
        (784, *hidden, 10),
        scheme="he",
        rng=np.random.default_rng(seed),
        hidden=activation,
        dtype=dtype,
    )
    path = tmp_path_factory.mktemp("w") / f"w{suffix}"
    save_weights(net, path, {"seed": seed})
    back = load_weights(path)
    assert back.hidden == activation and back.meta["seed"] == seed
    for a, b in zip(net.weights + net.biases, back.weights + back.biases, strict=True):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ---- fuzzing: only NnmnistError may escape


def mutations(seed_bytes: bytes):
    """Bytes from a valid file, damaged: flipped bytes, cut short, bytes inserted or dropped."""
    n = len(seed_bytes)
    return st.one_of(
        st.binary(max_size=2000),
        st.builds(lambda i: seed_bytes[:i], st.integers(0, n)),
        st.builds(
            lambda pos, val: seed_bytes[:pos] + bytes([val]) + seed_bytes[pos + 1 :],
            st.integers(0, max(0, n - 1)),
            st.integers(0, 255),
        ),
        st.builds(
            lambda pos, junk: seed_bytes[:pos] + junk + seed_bytes[pos:],
            st.integers(0, n),
            st.binary(min_size=1, max_size=16),
        ),
        st.builds(
            lambda a, b: seed_bytes[: min(a, b)] + seed_bytes[max(a, b) :],
            st.integers(0, n),
            st.integers(0, n),
        ),
    )


def only_our_errors(call) -> None:
    """Run call; an NnmnistError is a fine answer to bad bytes, anything else fails the test."""
    with contextlib.suppress(NnmnistError):
        call()


def _idx_bytes() -> bytes:
    digits = np.arange(3 * 784, dtype=np.uint32).astype(np.uint8)
    return (
        bytes([0, 0, 8, 3])
        + (3).to_bytes(4, "big")
        + (28).to_bytes(4, "big") * 2
        + digits.tobytes()
    )


IDX = _idx_bytes()
LABELS = bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + bytes([1, 2, 3])


@FAST
@given(st.one_of(mutations(IDX), mutations(gzip.compress(IDX, mtime=0)), mutations(LABELS)))
def test_fuzz_idx(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("idx") / "f"
    path.write_bytes(blob)
    only_our_errors(lambda: idx.read_images(path))
    only_our_errors(lambda: idx.read_labels(path))
    only_our_errors(lambda: list(iter_batches([str(path)], 2)))


def _weights_bytes(suffix: str) -> bytes:
    import tempfile

    net = init_network((784, 3, 10), scheme="he", rng=np.random.default_rng(0), dtype=np.float32)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"w{suffix}"
        save_weights(net, path)
        return path.read_bytes()


PKL, NPZ = _weights_bytes(".pkl"), _weights_bytes(".npz")


@FAST
@given(
    st.one_of(
        mutations(PKL), mutations(NPZ), mutations(pickle.dumps({"W1": np.zeros(3)}, protocol=2))
    )
)
def test_fuzz_weight_loader(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("w") / "w.pkl"
    path.write_bytes(blob)
    only_our_errors(lambda: load_weights(path))


EVIL = b"cos\nsystem\n(Vtouch /tmp/nnmnist-fuzz-pwned\ntR."
RUNNERS = [
    (os, "system"),
    (os, "popen"),
    (os, "execv"),
    (os, "execve"),
    (os, "posix_spawn"),
    (os, "fork"),
    (subprocess, "Popen"),
    (builtins, "eval"),
    (builtins, "exec"),
]


@FAST
@given(
    st.one_of(
        mutations(EVIL),
        mutations(EVIL.replace(b"os\nsystem", b"builtins\neval")),
        mutations(EVIL.replace(b"os\nsystem", b"subprocess\nPopen")),
    )
)
def test_fuzz_damaged_malicious_pickles_never_run(tmp_path_factory, blob):
    """Every way to run code or a program is trapped; the public loader may only refuse."""
    path = tmp_path_factory.mktemp("evil") / "evil.pkl"
    path.write_bytes(blob)
    calls: list[str] = []

    def trap(name: str):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"the loader called {name}")

        return refuse

    with pytest.MonkeyPatch.context() as mp:
        for module, name in RUNNERS:
            mp.setattr(module, name, trap(f"{module.__name__}.{name}"))
        only_our_errors(lambda: load_weights(path))
    assert calls == []


def test_the_trap_sees_a_payload_run():
    # Proof that the fuzz test above could fail: plain pickle.loads reaches the trap.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "system", lambda *a: (_ for _ in ()).throw(AssertionError("ran")))
        with pytest.raises(AssertionError, match="ran"):
            pickle.loads(EVIL)


def _npy_bytes() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(2 * 784, dtype=np.uint8).reshape(2, 784))
    return buf.getvalue()


NPY = _npy_bytes()


@FAST
@given(mutations(NPY))
def test_fuzz_npy_header_check(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("npy") / "x.npy"
    path.write_bytes(blob)
    only_our_errors(lambda: list(iter_batches([str(path)], 2)))


CSV_ROW = ",".join(["0"] * 780 + ["255", "12", "3.5", "7"])


@FAST
@given(
    st.lists(
        st.one_of(
            st.just(CSV_ROW),
            st.text(max_size=60),
            st.builds(lambda s: CSV_ROW + s, st.text(max_size=5)),
        ),
        max_size=5,
    )
)
def test_fuzz_csv_rows(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("csv") / "x.csv"
    path.write_bytes("\n".join(lines).encode("utf-8", errors="replace"))
    only_our_errors(lambda: list(iter_batches([str(path)], 2)))


def _png_bytes() -> bytes:
    buf = io.BytesIO()
    im = Image.new("L", (40, 50), 255)
    im.paste(0, (15, 10, 25, 40))
    im.save(buf, format="PNG")
    return buf.getvalue()


PNG = _png_bytes()


@FAST
@given(mutations(PNG))
def test_fuzz_image_front_end(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("img") / "x.png"
    path.write_bytes(blob)
    only_our_errors(lambda: preprocess(load_image(path)))
    only_our_errors(lambda: list(iter_batches([str(path)], 2)))


BANNED = [(re.compile(r"allow_pickle\s*=\s*True"), "np.load(..., allow_pickle=True)")]


def test_np_load_never_allows_pickles_in_the_package():
    for path in sorted((ROOT / "nnmnist").rglob("*.py")):
        text = path.read_text()
        for pattern, what in BANNED:
            for match in pattern.finditer(text):
                line = text[: match.start()].count("\n") + 1
                raise AssertionError(f"{path.relative_to(ROOT)}:{line} uses {what}")


@pytest.mark.parametrize(
    "code",
    [
        "import pickle\npickle.load(open('w.pkl', 'rb'))\n",
        "import pickle as p\np.loads(b'')\n",
        "from pickle import loads as read\nread(b'')\n",
        "from pickle import Unpickler\n",
        "import _pickle\n",
        "import marshal\n",
    ],
)
def test_ruff_bans_unpickling_in_the_package_even_under_another_name(code):
    """The ban is a ruff rule (pyproject.toml), which sees through aliases; make test runs it."""
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--stdin-filename", "nnmnist/probe.py", "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1 and "TID251" in result.stdout, result.stdout + result.stderr


def test_the_package_passes_that_rule():
    ruff = Path(sys.executable).parent / "ruff"
    result = subprocess.run(
        [str(ruff), "check", "--select", "TID251", "nnmnist"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout
