import json

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights
from nnmnist.training.augment import shift_images
from nnmnist.training.trainer import TrainConfig, Trainer


@pytest.fixture(scope="module")
def bundled():
    return data.load("bundled", "test")


@pytest.fixture
def train_folder(bundled_train_folder):
    return bundled_train_folder


SMALL = ["--hidden", "32", "--epochs", "3", "--batch-size", "50", "--val-size", "300"]


def test_training_learns_on_a_small_real_subset(bundled):
    x, y = bundled.images, bundled.labels
    config = TrainConfig(hidden=(128,), epochs=10, batch_size=32, lr=3e-3, val_size=0, seed=1)
    trainer = Trainer(config, x[:1000], y[:1000])
    history = trainer.run()
    assert history[-1].train_loss < history[0].train_loss / 2
    assert history[-1].train_accuracy > history[0].train_accuracy
    held_out = trainer.best_network()
    from nnmnist.core.network import predict

    accuracy = float(np.mean(predict(held_out, x[1000:2000])[0] == y[1000:2000]))
    assert accuracy > 0.85


@pytest.mark.parametrize("arch", [None, "affine16-relu-affine2"])
def test_a_network_with_two_outputs_trains_as_an_mlp_or_from_a_spec(bundled, arch):
    """outputs (the digit-or-not gate's 2) sizes the last layer whether the network is given as
    hidden sizes or as a spec."""
    odd = (bundled.labels[:600] % 2).astype(np.uint8)  # two classes: even and odd digits
    config = TrainConfig(hidden=(16,), arch=arch, epochs=2, batch_size=32, val_size=100)
    trainer = Trainer(config, bundled.images[:600], odd, outputs=2)
    history = trainer.run()
    assert trainer.best_network().weights[-1].shape == (16, 2)
    assert history[-1].val_accuracy > 0.5


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_optimiser_and_activation_trains(bundled, activation, optimizer):
    lr = {"sgd": 0.5, "momentum": 0.05, "adam": 2e-3}[optimizer]
    config = TrainConfig(
        hidden=(32,),
        activation=activation,
        optimizer=optimizer,
        lr=lr,
        epochs=3,
        batch_size=32,
        val_size=100,
    )
    history = Trainer(config, bundled.images[:800], bundled.labels[:800]).run()
    assert history[-1].train_loss < history[0].train_loss
    assert history[-1].val_accuracy > 0.5


def test_same_seed_same_bytes(runner, train_folder, tmp_path):
    outs = []
    for name in ("a.pkl", "b.pkl"):
        path = tmp_path / name
        result = runner.invoke(app, ["train", *SMALL, "--data", str(train_folder), "-o", str(path)])
        assert result.exit_code == 0, result.output
        outs.append(path.read_bytes())
    assert outs[0] == outs[1]
    other = tmp_path / "c.pkl"
    runner.invoke(
        app, ["train", *SMALL, "--seed", "1", "--data", str(train_folder), "-o", str(other)]
    )
    assert other.read_bytes() != outs[0]


def test_same_seed_same_bytes_with_augmentation_and_after_resume(
    runner, train_folder, tmp_path, monkeypatch
):
    aug = [*SMALL, "--augment", "2", "--data", str(train_folder)]
    outs = []
    for name in ("a.npz", "b.npz"):
        result = runner.invoke(app, ["train", *aug, "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        outs.append(load_weights(tmp_path / name))
    plain = tmp_path / "plain.npz"
    runner.invoke(app, ["train", *SMALL, "--data", str(train_folder), "-o", str(plain)])
    a, b, c = outs[0], outs[1], load_weights(plain)
    assert all(np.array_equal(x, y) for x, y in zip(a.weights, b.weights, strict=True))
    assert not np.array_equal(a.weights[0], c.weights[0])  # the shifts changed the training
    part = tmp_path / "part.npz"
    with monkeypatch.context() as m:
        interrupt_at(m, 24 + 5)  # in the middle of epoch 2
        result = runner.invoke(app, ["train", *aug, "-o", str(part)])
    assert result.exit_code == 130
    result = runner.invoke(app, ["train", "--resume", "--data", str(train_folder), "-o", str(part)])
    assert result.exit_code == 0, result.output
    d = load_weights(part)
    for x, y in zip(a.weights + a.biases, d.weights + d.biases, strict=True):
        np.testing.assert_array_equal(x, y)


def test_train_json_and_metadata_then_evaluate(runner, train_folder, tmp_path):
    path = tmp_path / "w.npz"
    result = runner.invoke(
        app,
        [
            "train",
            *SMALL,
            "--augment",
            "1",
            "--data",
            str(train_folder),
            "-o",
            str(path),
            "-f",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["history"]) == 3 and 0 < report["test_accuracy"] <= 1
    assert "epoch" in result.stderr and "saved" in result.stderr
    net = load_weights(path)
    meta = net.meta
    assert meta["layers"] == [784, 32, 10] and meta["activation"] == "relu"
    assert meta["optimizer"]["optimizer"] == "adam" and meta["seed"] == 0 and meta["augment"] == 1
    assert meta["data"] == {
        "source": str(train_folder),
        "split": "train",
        "train_images": 1200,
        "val_images": 300,
    }
    assert (
        meta["val_accuracy"] == report["val_accuracy"]
        and meta["test_accuracy"] == report["test_accuracy"]
    )
    assert set(meta["versions"]) == {"nnmnist", "numpy", "python"}
    evaluated = runner.invoke(app, ["evaluate", "-w", str(path), "-f", "json"])
    assert json.loads(evaluated.stdout)["accuracy"] == pytest.approx(report["test_accuracy"])


def interrupt_at(monkeypatch, call):
    """Make the call-th gradient computation raise KeyboardInterrupt, as Ctrl-C would."""
    import nnmnist.training.trainer as training

    real = training.loss_and_gradients
    count = {"n": 0}

    def flaky(*args, **kwargs):
        count["n"] += 1
        if count["n"] == call:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "loss_and_gradients", flaky)


def test_interrupt_then_resume_equals_an_uninterrupted_run(
    runner, train_folder, tmp_path, monkeypatch
):
    whole = tmp_path / "whole.npz"
    assert (
        runner.invoke(
            app, ["train", *SMALL, "--data", str(train_folder), "-o", str(whole)]
        ).exit_code
        == 0
    )

    part = tmp_path / "part.npz"
    with monkeypatch.context() as m:
        interrupt_at(m, 24 + 5)  # 24 batches per epoch: in the middle of epoch 2
        result = runner.invoke(app, ["train", *SMALL, "--data", str(train_folder), "-o", str(part)])
    assert result.exit_code == 130
    assert "continue with --resume" in result.stderr
    assert load_weights(part).meta["best_epoch"] == 1  # the file left behind loads
    assert not list(tmp_path.glob(".*.tmp"))

    result = runner.invoke(app, ["train", "--resume", "--data", str(train_folder), "-o", str(part)])
    assert result.exit_code == 0, result.output
    a, b = load_weights(whole), load_weights(part)
    for x, y in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.meta["val_accuracy"] == b.meta["val_accuracy"]


def test_train_refusals(runner, train_folder, tmp_path):
    path = tmp_path / "w.pkl"
    path.write_bytes(b"precious")
    result = runner.invoke(app, ["train", *SMALL, "--data", str(train_folder), "-o", str(path)])
    assert result.exit_code == 1 and "already exists" in result.stderr
    assert path.read_bytes() == b"precious"
    result = runner.invoke(
        app, ["train", "--resume", "--data", str(train_folder), "-o", str(tmp_path / "x.npz")]
    )
    assert result.exit_code == 1 and "no checkpoint to resume from" in result.stderr
    result = runner.invoke(app, ["train", "--activation", "step", "-o", str(tmp_path / "s.npz")])
    assert result.exit_code == 2
    result = runner.invoke(
        app, ["train", "--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "n.npz")]
    )
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1 and "no such folder" in result.stderr


def test_shift_images():
    x = np.zeros((3, 28, 28), np.uint8)
    x[:, 14, 14] = 255
    flat = x.reshape(3, 784)
    assert (shift_images(flat, 0, np.random.default_rng(0)) == flat).all()
    moved = shift_images(flat, 2, np.random.default_rng(0)).reshape(3, 28, 28)
    for img in moved:
        (r,), (c,) = np.nonzero(img)
        assert abs(r - 14) <= 2 and abs(c - 14) <= 2
    assert (moved.sum(axis=(1, 2)) == 255).all()


def test_resume_takes_its_settings_and_data_from_the_checkpoint(
    runner, train_folder, tmp_path, monkeypatch
):
    out = tmp_path / "w.npz"
    ckpt = tmp_path / "w.npz.ckpt.npz"
    with monkeypatch.context() as m:
        interrupt_at(m, 24 + 5)  # in epoch 2 of 3
        result = runner.invoke(app, ["train", *SMALL, "--data", str(train_folder), "-o", str(out)])
    assert result.exit_code == 130 and ckpt.exists()

    contradicting = runner.invoke(app, ["train", "--resume", "-o", str(out), "--lr", "0.5"])
    assert contradicting.exit_code == 2
    assert "--lr 0.5 contradicts the checkpoint (0.001)" in contradicting.stderr

    fewer = runner.invoke(app, ["train", "--resume", "-o", str(out), "--epochs", "1"])
    assert fewer.exit_code == 2 and "fewer than the checkpoint's 3" in fewer.stderr

    # no --data: the checkpoint's; --epochs 4: applied and said
    more = runner.invoke(app, ["train", "--resume", "-o", str(out), "--epochs", "4"])
    assert more.exit_code == 0, more.output
    assert "note: resuming with --epochs 4 (the run started with 3" in more.stderr
    assert f"training images from {train_folder}" in more.stderr
    meta = load_weights(out).meta
    assert meta["epochs"] == 4 and meta["best_epoch"] <= 4
    assert " (resumed: nnmnist " in meta["command"]  # both command lines (sys.argv in a run)
    assert not ckpt.exists()  # finished normally: nothing left to resume


def test_keep_checkpoint(runner, train_folder, tmp_path):
    out = tmp_path / "w.npz"
    args = ["train", *SMALL, "--epochs", "1", "--data", str(train_folder), "-o", str(out)]
    assert runner.invoke(app, [*args, "--keep-checkpoint"]).exit_code == 0
    assert (tmp_path / "w.npz.ckpt.npz").exists()
