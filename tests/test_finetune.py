"""nnmnist train --from MODEL --data MINE: fine-tuning on one's own labelled digits (issue 27)."""

import json

import numpy as np
import pytest
from PIL import Image

from nnmnist.cli import app
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, shipped_model_path

from .test_training import interrupt_at

FAST = ["--from", "mlp", "--epochs", "3", "--batch-size", "32"]


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory):
    """120 digits of another style (MNIST test digits 5000+, binarised and stretched to fill
    a 16x16 box, dark on white) in digit folders, and one picture that is refused."""
    folder = tmp_path_factory.mktemp("own") / "mine"
    test = data.load("bundled", "test")
    for i in range(120):
        digit = test.images[5000 + i].reshape(28, 28)
        mask = digit > 127
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        crop = Image.fromarray(digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1])
        box = np.where(np.asarray(crop.resize((16, 16), Image.Resampling.BILINEAR)) > 127, 0, 255)
        sub = folder / str(test.labels[5000 + i])
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(box.astype(np.uint8)).save(sub / f"d{i:03d}.png")
    Image.new("L", (40, 40), 255).save(folder / "3" / "blank.png")
    return folder


def _params(net):
    return [*net.weights, *net.biases]


def test_fine_tuning_starts_from_the_model_validates_on_own_digits_and_records_it(
    runner, own_folder, bundled_train_folder, tmp_path
):
    out = tmp_path / "mine.npz"
    args = [*FAST, "--data", str(own_folder), "--mnist", str(bundled_train_folder)]
    result = runner.invoke(app, ["train", *args, "-o", str(out), "-f", "json"])
    assert result.exit_code == 0, result.output
    assert "on 96 of your 120 digits" in result.stderr  # a fifth held out, the blank left out
    assert "480 MNIST training digits mixed in; 1 refused pictures left out" in result.stderr
    net = load_weights(out)
    card = net.meta["fine_tuned"]
    assert card["from"].endswith("mnist-mlp.npz") and len(card["from_sha256"]) == 64
    assert (card["own_digits"], card["held_out"], card["mnist_mixed"]) == (120, 24, 480)
    assert card["refused_left_out"] == 1 and card["mnist_source"] == str(bundled_train_folder)
    assert 0 <= card["start_val_accuracy"] <= 1 and card["start_test_accuracy"] > 0.97
    report = json.loads(result.stdout)
    assert report["config"]["lr"] == 1e-4 and report["config"]["patience"] == 4
    assert report["config"]["val_size"] == 24 and report["config"]["anchor"] == 0.0
    assert net.meta["test_accuracy"] == report["test_accuracy"]
    start = load_weights(shipped_model_path("mlp"))
    assert net.spec == start.spec
    moved = [float(np.abs(a - b).max()) for a, b in zip(_params(net), _params(start), strict=True)]
    assert 0 < max(moved) < 0.1  # started from the model, and changed it a little
    # the own digits are read better than before, MNIST test about as well
    assert report["val_accuracy"] >= card["start_val_accuracy"]
    assert report["test_accuracy"] > card["start_test_accuracy"] - 0.01


def test_fine_tuning_is_reproducible_bit_for_bit_and_resumes_to_the_same_bytes(
    runner, own_folder, bundled_train_folder, tmp_path, monkeypatch
):
    args = [*FAST, "--data", str(own_folder), "--mnist", str(bundled_train_folder)]
    args += ["--patience", "10"]
    made = []
    for name in ("a.npz", "b.npz"):
        result = runner.invoke(app, ["train", *args, "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        made.append(load_weights(tmp_path / name))
    a, b = made
    for x, y in zip(_params(a), _params(b), strict=True):
        np.testing.assert_array_equal(x, y)
    part = tmp_path / "part.npz"
    with monkeypatch.context() as m:
        interrupt_at(m, 19 + 5)  # 576 rows in batches of 32: in the middle of epoch 2
        result = runner.invoke(app, ["train", *args, "-o", str(part)])
    assert result.exit_code == 130, result.output
    other = runner.invoke(app, ["train", "--from", "cnn", "--resume", "-o", str(part)])
    assert other.exit_code == 2 and "not what the checkpoint was fine-tuned with" in other.stderr
    result = runner.invoke(app, ["train", "--from", "mlp", "--resume", "-o", str(part)])
    assert result.exit_code == 0, result.output
    resumed = load_weights(part)
    for x, y in zip(_params(a), _params(resumed), strict=True):
        np.testing.assert_array_equal(x, y)
    assert resumed.meta["fine_tuned"] == a.meta["fine_tuned"]


def test_without_mnist_the_anchor_keeps_the_weights_near_the_start(runner, own_folder, tmp_path):
    start = load_weights(shipped_model_path("mlp"))

    def moved(*extra):
        out = tmp_path / f"w{len(extra)}.npz"
        args = [*FAST, "--data", str(own_folder), "--mnist", "none", "--lr", "1e-3", *extra]
        result = runner.invoke(app, ["train", *args, "-o", str(out), "--force"])
        assert result.exit_code == 0, result.output
        net = load_weights(out)
        change = sum(
            float(((a - b) ** 2).sum()) for a, b in zip(_params(net), _params(start), strict=True)
        )
        return net, change

    anchored, near = moved()
    assert anchored.meta["anchor"] == 0.01 and anchored.meta["fine_tuned"]["mnist_mixed"] == 0
    free, far = moved("--anchor", "0", "--seed", "0")
    assert "anchor" not in free.meta and near < far


def test_fine_tuning_usage_errors(runner, own_folder, tmp_path):
    no_data = runner.invoke(app, ["train", "--from", "mlp", "-o", str(tmp_path / "x.npz")])
    assert no_data.exit_code == 2 and "--data" in no_data.stderr
    stray = runner.invoke(app, ["train", "--mix", "10", "-o", str(tmp_path / "y.npz")])
    assert stray.exit_code == 2 and "goes with --from" in stray.stderr
    unknown = runner.invoke(
        app, ["train", "--from", str(tmp_path / "none.npz"), "--data", str(own_folder)]
    )
    assert unknown.exit_code == 1 and unknown.stderr.count("error:") == 1
    (tmp_path / "broken.csv").write_bytes(b"\xff\xfe not text")
    broken = runner.invoke(
        app, ["train", "--from", "mlp", "--data", str(tmp_path / "broken.csv"), "-o", "z.npz"]
    )
    assert broken.exit_code == 1 and len(broken.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.npz").exists() and not (tmp_path / "y.npz").exists()
