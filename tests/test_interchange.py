"""Models to and from other tools (issue 17), checked by the tools themselves: ONNX Runtime runs
the exported graphs, the safetensors library reads nnmnist's files and writes files nnmnist
reads, PyTorch's outputs (committed fixtures, made by tests/fixtures/make_torch_fixtures.py)
are matched, and scikit-learn's score is reproduced."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnmnist.core import arch
from nnmnist.core.network import forward, init_layers
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, save_weights, shipped_model_path

HERE = Path(__file__).resolve().parent
TORCH = HERE / "fixtures" / "torch"
DLFS = HERE.parents[1] / "shared" / "data" / "dlfs"
EXE = os.path.join(os.path.dirname(sys.executable), "nnmnist")
# Reading a PyTorch state dict says what it inferred (a note on the command line): expected here.
pytestmark = pytest.mark.filterwarnings("ignore::nnmnist.errors.InputNotice")


@pytest.fixture(scope="module")
def test_split() -> data.Dataset:
    return data.load("bundled", "test")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("NNMNIST_WEIGHTS", None)
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def onnx_outputs(path: Path, images: np.ndarray) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (probs,) = session.run(None, {"pixels": images.astype(np.float32)})
    return np.asarray(probs)


# ----------------------------------------------------------------------------- ONNX


def _networks() -> list[tuple[str, Path | None]]:
    cases = [
        ("shipped MLP", shipped_model_path("mlp")),
        ("shipped ConvNet", shipped_model_path("cnn")),
        ("default ConvNet (photos)", shipped_model_path("photos")),
    ]
    cases += [
        (f"book {name}", DLFS / name)
        for name in ("ch03-sample_weight.pkl", "ch07-params.pkl", "ch08-deep_convnet_params.pkl")
    ]
    return cases


@pytest.mark.parametrize(("what", "path"), _networks(), ids=[c[0] for c in _networks()])
def test_onnx_runtime_gives_nnmnists_labels_and_probabilities(what, path, tmp_path, test_split):
    pytest.importorskip("onnx")
    if path is None or not path.is_file():
        pytest.skip(f"{what}: not at {path} (the book's files are in the development workspace)")
    out = tmp_path / "model.onnx"
    made = run(["export", str(path), "-o", str(out)], tmp_path)
    assert made.returncode == 0, made.stderr
    assert made.stderr.splitlines()[-1].startswith(f"wrote {out}")
    ours = forward(load_weights(path), test_split.images)
    theirs = onnx_outputs(out, test_split.images)
    np.testing.assert_array_equal(theirs.argmax(axis=1), ours.argmax(axis=1))
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-5)


def test_every_kind_of_layer_exports(tmp_path, test_split):
    """Strides, padding, overlapping pools, every activation, both dropouts: random weights,
    so only the probabilities are compared (near-uniform rows make labels a coin toss)."""
    pytest.importorskip("onnx")
    spec = (
        "conv4k3s2p1-tanh-conv6k3x2-sigmoid-pool3s2-dropout0.3book-affine12-step"
        "-affine11-identity-dropout0.2-affine10"
    )
    net = init_layers(arch.parse(spec), scheme="he", rng=np.random.default_rng(1))
    path = tmp_path / "net.npz"
    save_weights(net, path)
    save_weights(net, tmp_path / "net.onnx")
    x = test_split.images[:500]
    np.testing.assert_allclose(
        onnx_outputs(tmp_path / "net.onnx", x), forward(load_weights(path), x), rtol=0, atol=1e-5
    )


def test_the_onnx_graph_is_opset_13_for_old_runtimes(tmp_path):
    onnx = pytest.importorskip("onnx")
    save_weights(load_weights(shipped_model_path("mlp")), tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.version for o in model.opset_import] == [13] and model.ir_version == 7
    assert [i.name for i in model.graph.input] == ["pixels"]
    assert [o.name for o in model.graph.output] == ["probabilities"]


# ----------------------------------------------------------------------------- safetensors


def test_the_safetensors_library_reads_nnmnists_files(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    net = load_weights(shipped_model_path("cnn"))
    save_weights(net, tmp_path / "cnn.safetensors")
    tensors = st.load_file(str(tmp_path / "cnn.safetensors"))
    assert sorted(tensors) == sorted(f"{k}{i}" for i in range(1, 5) for k in "Wb")
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True), start=1):
        np.testing.assert_array_equal(tensors[f"W{i}"], w)
        np.testing.assert_array_equal(tensors[f"b{i}"], b)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "cnn.safetensors"), "np") as f:
        assert f.metadata()["nnmnist_arch"] == net.spec
    back = load_weights(tmp_path / "cnn.safetensors")
    assert back.spec == net.spec


def test_nnmnist_reads_what_the_safetensors_library_writes(tmp_path, test_split):
    st = pytest.importorskip("safetensors.numpy")
    net = load_weights(shipped_model_path("mlp"))
    arrays = {f"W{i}": w for i, w in enumerate(net.weights, 1)}
    arrays |= {f"b{i}": b for i, b in enumerate(net.biases, 1)}
    st.save_file(arrays, str(tmp_path / "plain.safetensors"), metadata={"nnmnist_arch": net.spec})
    back = load_weights(tmp_path / "plain.safetensors")
    np.testing.assert_array_equal(
        forward(back, test_split.images[:2000]), forward(net, test_split.images[:2000])
    )
    # a PyTorch-style nn.Sequential state dict, written by the library itself
    torch_style = {
        "0.weight": np.ascontiguousarray(net.weights[0].T),
        "0.bias": net.biases[0],
        "2.weight": np.ascontiguousarray(net.weights[1].T),
        "2.bias": net.biases[1],
        "4.weight": np.ascontiguousarray(net.weights[2].T),
        "4.bias": net.biases[2],
    }
    st.save_file(torch_style, str(tmp_path / "torch.safetensors"))
    again = load_weights(tmp_path / "torch.safetensors")
    assert again.spec == net.spec  # 784-512-256-10, ReLU inferred
    np.testing.assert_array_equal(
        forward(again, test_split.images[:2000]), forward(net, test_split.images[:2000])
    )


@pytest.mark.parametrize(("name", "spec"), [("mlp", None), ("cnn", "conv8k5-relu-pool2-affine10")])
def test_pytorch_networks_predict_as_in_pytorch(name, spec, tmp_path, test_split):
    expected = np.load(TORCH / "expected.npz")
    net = load_weights(TORCH / f"{name}.safetensors", spec)
    probs = forward(net, test_split.images)
    np.testing.assert_array_equal(probs.argmax(axis=1), expected[f"{name}_labels"])
    np.testing.assert_allclose(probs[:1000], expected[f"{name}_probs"], rtol=0, atol=1e-5)
    # and a round trip: PyTorch -> safetensors -> nnmnist -> ONNX gives the same labels
    if pytest.importorskip("onnx") and spec is not None:
        save_weights(net, tmp_path / "n.onnx")
        np.testing.assert_array_equal(
            onnx_outputs(tmp_path / "n.onnx", test_split.images).argmax(axis=1),
            expected[f"{name}_labels"],
        )


def test_a_pytorch_convnet_without_arch_asks_for_it(tmp_path):
    result = run(["evaluate", "-w", str(TORCH / "cnn.safetensors"), "--limit", "10"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {TORCH / 'cnn.safetensors'}: a PyTorch ConvNet (layers conv1, fc1): a state dict "
        "does not record strides, padding or pooling; give the layers with --arch SPEC "
        "(see nnmnist evaluate --help)"
    ]


def test_a_pytorch_mlp_says_what_was_inferred(tmp_path):
    result = run(
        ["evaluate", "-w", str(TORCH / "mlp.safetensors"), "--limit", "100", "-f", "json"], tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "read as the MLP affine64-relu-affine10 (ReLU between its layers" in result.stderr
    assert json.loads(result.stdout)["total"] == 100


def test_live_pytorch_if_installed(tmp_path, test_split):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 14 * 14, 10),
    ).eval()
    st.save_file(model.state_dict(), str(tmp_path / "m.safetensors"))
    x = test_split.images[:300]
    with torch.no_grad():
        want = torch.softmax(
            model(torch.from_numpy(x.astype(np.float32) / 255).reshape(-1, 1, 28, 28)), 1
        )
    net = load_weights(tmp_path / "m.safetensors", "conv4k3p1-relu-pool2-affine10")
    np.testing.assert_allclose(forward(net, x), want.numpy(), rtol=0, atol=1e-5)


# ----------------------------------------------------------------------------- hostile files


def _safetensors(header: dict, body: bytes = b"", claimed: int | None = None) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text) if claimed is None else claimed) + text + body


HOSTILE = {
    "header larger than the file": (
        _safetensors({}, claimed=1 << 40),
        "the safetensors header claims",
    ),
    "header not JSON": (struct.pack("<Q", 4) + b"{no}", "not valid JSON"),
    "array past the end": (
        _safetensors({"W1": {"dtype": "F32", "shape": [784, 10], "data_offsets": [0, 31360]}}),
        "needs 31,360 bytes",
    ),
    "shape and bytes disagree": (
        _safetensors(
            {"W1": {"dtype": "F32", "shape": [3, 784], "data_offsets": [0, 8]}}, b"\0" * 8
        ),
        "needs 9,408 bytes at 0..8",
    ),
    "a shape of more values than any network": (
        _safetensors(
            {"W1": {"dtype": "F32", "shape": [1 << 30, 784], "data_offsets": [0, 8]}}, b"\0" * 8
        ),
        "more than 16,000,000 values",
    ),
    "zero values with impossible sides (issue 26)": (
        _safetensors(
            {"W1": {"dtype": "F32", "shape": [0, *[2**31 - 1] * 3], "data_offsets": [0, 0]}}
        ),
        "more than 16,000,000 values",
    ),
    "overlapping arrays listed out of offset order": (
        _safetensors(
            {
                "0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                "0.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            },
            b"\0" * 12,
        ),
        "overlap",
    ),
    "a gap between arrays": (
        _safetensors(
            {
                "0.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]},
            },
            b"\0" * 20,
        ),
        "4 bytes at 8 belong to no tensor",
    ),
    "bytes after the last array": (
        _safetensors({"W1": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 9),
        "1 bytes after the last tensor belong to no tensor",
    ),
    "JSON nested 2,000 deep (issue 26)": (
        struct.pack("<Q", 4000) + b"[" * 2000 + b"]" * 2000,
        "nests 2,000 levels deep",
    ),
    "nnmnist_meta nested 2,000 deep (issue 26)": (
        _safetensors(
            {
                "__metadata__": {
                    "nnmnist_arch": "affine10",
                    "nnmnist_meta": "[" * 2000 + "]" * 2000,
                },
                "W1": {"dtype": "F32", "shape": [784, 10], "data_offsets": [0, 31360]},
                "b1": {"dtype": "F32", "shape": [10], "data_offsets": [31360, 31400]},
            },
            b"\0" * 31400,
        ),
        "the nnmnist_meta entry is not valid JSON (it nests 2,000 levels deep",
    ),
    "a shape whose size overflows 64 bits": (
        _safetensors(
            {"W1": {"dtype": "F32", "shape": [2**31 - 1] * 4, "data_offsets": [0, 16]}}, b"\0" * 16
        ),
        "more than 16,000,000 values",
    ),
    "an object dtype": (
        _safetensors({"W1": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8),
        "weights must be F16, F32 or F64",
    ),
    "overlapping arrays": (
        _safetensors(
            {
                "0.weight": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "0.bias": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
        ),
        "overlap",
    ),
    "metadata not strings": (_safetensors({"__metadata__": {"a": 1}}), "map strings to strings"),
    "a name with an escape": (
        _safetensors(
            {"\x1b[31mevil": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4
        ),
        "\\x1b[31mevil",
    ),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_safetensors_file_is_one_error_line(case, tmp_path):
    content, fragment = HOSTILE[case]
    (tmp_path / "bad.safetensors").write_bytes(content)
    result = run(["evaluate", "-w", "bad.safetensors", "--limit", "10"], tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad.safetensors: "), result.stderr
    assert fragment in lines[0] and "\x1b" not in result.stderr


# ----------------------------------------------------------------------------- export and sklearn


def test_export_refuses_to_overwrite_and_needs_a_format(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"keep")
    again = run(["export", "mlp", "-o", "m.onnx"], tmp_path)
    assert again.returncode == 1 and "already exists; pass --force" in again.stderr
    assert (tmp_path / "m.onnx").read_bytes() == b"keep"
    odd = run(["export", "mlp", "-o", "m.model"], tmp_path)
    assert odd.returncode == 2 and "--out: m.model: give the file a suffix" in odd.stderr
    npz = run(["export", "mlp", "-o", "m.model", "--format", "npz"], tmp_path)
    assert npz.returncode == 0 and load_weights(tmp_path / "m.model").describe().startswith("784")


def test_export_without_the_package_says_how_to_get_it(runner, tmp_path, monkeypatch):
    from nnmnist.cli import app

    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now fails
    result = runner.invoke(app, ["export", "mlp", "-o", str(tmp_path / "m.onnx")])
    assert result.exit_code == 1
    assert "pip install 'nnmnist[interchange]'" in result.output
    assert not (tmp_path / "m.onnx").exists()


def test_a_scikit_learn_classifier_scores_the_same_in_nnmnist(tmp_path, test_split):
    from sklearn.neural_network import MLPClassifier

    from nnmnist.models.sklearn_mlp import from_sklearn

    x, y = test_split.images, test_split.labels
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=12, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stopped before converging, on purpose: it is quick
        clf.fit(x[:5000] / 255, y[:5000])
    save_weights(from_sklearn(clf), tmp_path / "sk.npz")
    np.savez(tmp_path / "held-out.npz", images=x[5000:], labels=y[5000:])
    result = run(["evaluate", "held-out.npz", "-w", "sk.npz", "-f", "json"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["accuracy"] == clf.score(x[5000:] / 255, y[5000:])
    np.testing.assert_allclose(
        forward(load_weights(tmp_path / "sk.npz"), x[5000:]),
        clf.predict_proba(x[5000:] / 255),
        rtol=0,
        atol=1e-9,
    )


def test_init_and_train_write_only_what_nnmnist_reads_back(tmp_path):
    refused = run(["init", "-o", "w.onnx"], tmp_path)
    assert refused.returncode == 1 and not (tmp_path / "w.onnx").exists()
    assert "does not read them back; write .npz" in refused.stderr
    made = run(["init", "-o", "w.safetensors"], tmp_path)
    assert made.returncode == 0, made.stderr
    again = run(["evaluate", "-w", "w.safetensors", "--limit", "100", "-f", "json"], tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["total"] == 100
