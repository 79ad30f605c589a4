import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnmnist import __version__
from nnmnist.cli import app
from nnmnist.cli.options import UNTRAINED
from nnmnist.core.network import init_network, predict
from nnmnist.models.weights import load_weights, save_weights
from tests.test_weights import malicious_pickles


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNMNIST_WEIGHTS", raising=False)
    monkeypatch.delenv("NNMNIST_DATA", raising=False)
    return tmp_path


@pytest.fixture
def trained_like(tmp_path):
    """A float32 xavier network saved as .npz (stands in for real weights)."""
    net = init_network(
        (784, 32, 10), scheme="xavier", rng=np.random.RandomState(0), dtype=np.float32
    )
    path = tmp_path / "w.npz"
    save_weights(net, path)
    return path


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"nnmnist {__version__}\n"


def test_no_args_shows_help(runner):
    result = runner.invoke(app, [])
    assert "Usage" in result.output
    assert result.exit_code in (0, 2)


@pytest.mark.parametrize("command", ["init", "evaluate", "predict"])
def test_every_command_has_help_with_examples(runner, command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Examples" in result.stdout and f"nnmnist {command}" in result.stdout


def test_init_writes_the_notebook_weights_and_refuses_to_overwrite(runner, in_tmp):
    result = runner.invoke(app, ["init", "--seed", "42"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "wrote weights/sample_weight.pkl" in result.stderr
    path = in_tmp / "weights" / "sample_weight.pkl"
    first = path.read_bytes()
    with open(path, "rb") as f:
        arrays = pickle.load(f)
    np.random.seed(42)
    np.testing.assert_array_equal(arrays["W1"], np.random.randn(784, 50) * 0.01)

    again = runner.invoke(app, ["init", "--seed", "42"])
    assert again.exit_code == 1
    assert (
        again.stderr.strip()
        == "error: weights/sample_weight.pkl: already exists; pass --force to overwrite it"
    )
    assert path.read_bytes() == first

    forced = runner.invoke(app, ["init", "--seed", "42", "--force"])
    assert forced.exit_code == 0
    assert load_weights(path).meta["seed"] == 42
    np.testing.assert_array_equal(load_weights(path).weights[0], arrays["W1"])


def test_init_options(runner, in_tmp):
    result = runner.invoke(
        app, ["init", "--hidden", "50,100", "--init", "he", "--activation", "relu", "-o", "b.npz"]
    )
    assert result.exit_code == 0, result.output
    net = load_weights(in_tmp / "b.npz")
    assert net.sizes == (784, 50, 100, 10) and net.hidden == "relu" and net.meta["init"] == "he"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hidden", "50,x"], "give layer sizes as numbers"),
        (["--hidden", "0"], "1 to 100000 units"),
        (["--activation", "gelu"], "is not one of sigmoid"),
        (["--scheme", "zeros"], "zeros"),
    ],
)
def test_init_usage_errors(runner, args, message):
    result = runner.invoke(app, ["init", *args])
    assert result.exit_code == 2
    assert message in result.stderr


def test_evaluate_json(runner, in_tmp):
    runner.invoke(app, ["init"])
    result = runner.invoke(app, ["evaluate", "--batch-size", "100", "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["total"] == 10_000 and report["correct"] == 980
    assert report["accuracy"] == pytest.approx(0.098)
    assert report["batch_size"] == 100 and len(report["running_accuracy"]) == 100
    assert np.array(report["confusion_matrix"]).sum() == 10_000
    assert report["source"] == "bundled" and report["split"] == "test"
    assert report["weights"] == "weights/sample_weight.pkl"
    assert "evaluating weights/sample_weight.pkl" in result.stderr


def test_evaluate_counts_the_final_partial_batch(runner, trained_like):
    result = runner.invoke(
        app, ["evaluate", "-w", str(trained_like), "--limit", "250", "-b", "100", "-f", "json"]
    )
    report = json.loads(result.stdout)
    assert report["total"] == 250 and len(report["running_accuracy"]) == 3
    assert report["running_accuracy"][-1] == report["accuracy"]


def test_evaluate_report_and_progress_off_a_terminal(runner, trained_like):
    result = runner.invoke(
        app, ["evaluate", "-w", str(trained_like), "--limit", "1000", "--every", "5"]
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("accuracy 0.")
    assert "confusion matrix" in result.stdout and "recall%" in result.stdout
    progress = [line for line in result.stderr.splitlines() if line.startswith("batch ")]
    assert [line.split()[1] for line in progress] == ["5/10", "10/10"]


def test_weights_from_the_environment(runner, trained_like, monkeypatch):
    monkeypatch.setenv("NNMNIST_WEIGHTS", str(trained_like))
    result = runner.invoke(app, ["evaluate", "--limit", "10", "-f", "json"])
    assert json.loads(result.stdout)["weights"] == str(trained_like)


def test_no_weights_says_how_to_make_some(runner, monkeypatch):
    monkeypatch.setattr("nnmnist.models.weights.shipped_model_path", lambda: None)
    result = runner.invoke(app, ["evaluate"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "run `nnmnist init`" in result.stderr


@pytest.mark.parametrize("kind", ["os.system", "builtins.eval", "numpy runstring"])
def test_malicious_pickle_is_one_line_and_runs_nothing(runner, in_tmp, kind):
    sentinel = in_tmp / "pwned"
    (in_tmp / "evil.pkl").write_bytes(malicious_pickles(sentinel)[kind])
    result = runner.invoke(app, ["evaluate", "-w", "evil.pkl"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: evil.pkl: refused")
    assert not sentinel.exists()


def test_usage_errors_exit_2(runner):
    for args in (
        ["evaluate", "--batch-size", "0"],
        ["evaluate", "-b", "x"],
        ["evaluate", "--split", "x"],
    ):
        assert runner.invoke(app, args).exit_code == 2


def test_unreachable_source_exits_3(runner, trained_like, monkeypatch, tmp_path):
    import sklearn.datasets

    def fetch(*a, **k):
        raise OSError("Network is unreachable")

    monkeypatch.setenv("NNMNIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch)
    result = runner.invoke(app, ["evaluate", "-w", str(trained_like), "--split", "notebook"])
    assert result.exit_code == 3
    assert result.stderr.startswith("error: cannot fetch mnist_784 from OpenML")


def test_predict_formats(runner, trained_like, digits, in_tmp):
    x = digits[0][:5]
    np.save(in_tmp / "d.npy", x)
    labels, probs = predict(load_weights(trained_like), x)

    text = runner.invoke(app, ["predict", "d.npy", "-w", str(trained_like)])
    assert text.exit_code == 0
    assert text.stderr == f"predicting with {trained_like} (784-32-10 sigmoid)\n"  # nothing else
    rows = [line.split("\t") for line in text.stdout.splitlines()]
    assert [r[0] for r in rows] == [f"d.npy:{i}" for i in range(5)]
    assert [int(r[1]) for r in rows] == labels.tolist()
    np.testing.assert_allclose([float(r[2]) for r in rows], probs.max(axis=1), atol=1e-4)

    csv = runner.invoke(app, ["predict", "d.npy", "-w", str(trained_like), "-f", "csv", "-k", "3"])
    lines = csv.stdout.splitlines()
    assert lines[0] == (
        "input,label,probability,label_2,probability_2,label_3,probability_3,reason"
    )
    assert len(lines) == 6 and lines[1].startswith(f"d.npy:0,{labels[0]},")

    jsonl = runner.invoke(
        app, ["predict", "d.npy", "-w", str(trained_like), "-f", "jsonl", "-k", "2"]
    )
    objs = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [o["label"] for o in objs] == labels.tolist()
    assert all(len(o["top_k"]) == 2 and o["top_k"][0]["label"] == o["label"] for o in objs)


def test_predict_from_stdin(runner, trained_like, digits):
    csv = "".join(",".join(map(str, row)) + "\n" for row in digits[0][:3])
    result = runner.invoke(app, ["predict", "-", "-w", str(trained_like)], input=csv)
    assert result.exit_code == 0, result.output
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [
        "stdin:0",
        "stdin:1",
        "stdin:2",
    ]


def test_predict_bad_input_is_one_line(runner, trained_like, in_tmp):
    np.save(in_tmp / "bad.npy", np.zeros((2, 783)))
    result = runner.invoke(app, ["predict", "bad.npy", "-w", str(trained_like)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[1:] == [
        "error: bad.npy: array of shape (2, 783); expected (N, 784), (N, 28, 28) or (28, 28)"
    ]
    missing = runner.invoke(app, ["predict", "-w", str(trained_like)])
    assert missing.exit_code == 2


def installed_nnmnist() -> str:
    exe = Path(sys.executable).parent / "nnmnist"
    return str(exe) if exe.exists() else shutil.which("nnmnist") or "nnmnist"


def test_installed_command_end_to_end(in_tmp, digits):
    env = {**os.environ, "NO_COLOR": "1"}
    exe = installed_nnmnist()
    subprocess.run([exe, "init", "--seed", "42"], check=True, env=env, capture_output=True)
    out = subprocess.run(
        [exe, "evaluate", "--batch-size", "100", "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["total"] == 10_000
    assert "\x1b[" not in out.stderr  # NO_COLOR and no terminal: plain text

    np.save(in_tmp / "d.npy", digits[0])
    # a closed pipe ends it quietly
    piped = subprocess.run(
        f"'{exe}' predict d.npy --batch-size 10 | head -1",
        shell=True,
        env=env,
        capture_output=True,
        text=True,
    )
    assert piped.stdout.startswith("d.npy:0\t") and len(piped.stdout.splitlines()) == 1
    assert piped.stderr == (
        "predicting with weights/sample_weight.pkl (784-50-50-10 sigmoid)\n"
        f"{UNTRAINED}\n"  # every time: these weights were never trained
    )

    module = subprocess.run(
        [sys.executable, "-m", "nnmnist", "--version"], capture_output=True, text=True
    )
    assert module.stdout == f"nnmnist {__version__}\n"


def test_the_shipped_model_is_used_when_nothing_else_is_found(runner):
    from nnmnist.models.weights import shipped_model_path

    shipped = shipped_model_path()
    if shipped is None:
        pytest.skip("this installation has no shipped model")
    result = runner.invoke(app, ["evaluate", "--batch-size", "100", "-f", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["weights"] == str(shipped) and report["total"] == 10_000
    assert report["accuracy"] >= 0.995  # the default: the shipped ConvNet
    assert f"the shipped model {shipped.name}" in result.stderr
    before = shipped.read_bytes()
    for command in (["init", "--force"], ["train", "--force", "--epochs", "1"]):
        refused = runner.invoke(app, [*command, "--weights", str(shipped)])
        assert refused.exit_code == 1 and "is the shipped model" in refused.stderr
    assert shipped.read_bytes() == before


def test_csv_quotes_names_that_need_it(runner, trained_like, digits, in_tmp):
    np.save(in_tmp / "a,b.npy", digits[0][:2])
    result = runner.invoke(app, ["predict", "a,b.npy", "-w", str(trained_like), "-f", "csv"])
    assert result.stdout.splitlines()[1].startswith('"a,b.npy:0",')


def test_predict_npy_reads_in_batches_without_a_memory_map(runner, trained_like, digits, in_tmp):
    big = np.resize(digits[0], (2500, 784))
    np.save(in_tmp / "big.npy", big)
    result = runner.invoke(
        app, ["predict", "big.npy", "-w", str(trained_like), "-b", "1000", "-f", "csv"]
    )
    labels = [int(line.split(",")[1]) for line in result.stdout.splitlines()[1:]]
    assert labels == predict(load_weights(trained_like), big)[0].tolist()


def test_debug_shows_the_traceback_that_the_one_line_hides(in_tmp):
    exe = installed_nnmnist()
    pickle.dump([1, 2], open(in_tmp / "list.pkl", "wb"))  # noqa: SIM115
    env = {**os.environ, "NO_COLOR": "1"}
    plain = subprocess.run(
        [exe, "evaluate", "-w", "list.pkl"], capture_output=True, text=True, env=env
    )
    assert plain.returncode == 1
    assert (
        plain.stderr == "error: list.pkl: holds a list, not a dict of arrays W1, b1, ..., Wn, bn\n"
    )
    debug = subprocess.run(
        [exe, "--debug", "evaluate", "-w", "list.pkl"], capture_output=True, text=True, env=env
    )
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "nnmnist.errors.WeightsError: list.pkl: holds a list" in debug.stderr


def test_an_unexpected_exception_is_one_internal_error_line(runner, trained_like, monkeypatch):
    # The last resort: a bug is one line (and --debug shows it), never a bare traceback.
    import nnmnist.core.evaluation

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(nnmnist.core.evaluation, "evaluate", broken)
    result = runner.invoke(app, ["evaluate", "-w", str(trained_like), "--limit", "5"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: internal error: ZeroDivisionError: a bug (run with --debug for details)"
    )


def test_shell_completion_completes_commands_options_and_choices():
    import os

    exe = Path(sys.executable).with_name("nnmnist")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        env["_NNMNIST_COMPLETE"] = "complete_bash"
        out = subprocess.run([exe], env=env, capture_output=True, text=True, check=True)
        return out.stdout.split()

    assert complete("nnmnist pre", 1) == ["predict"]
    assert complete("nnmnist predict --for", 2) == ["--format", "--force"]
    assert complete("nnmnist predict --format ", 3) == ["text", "csv", "jsonl"]
    shown = subprocess.run([exe, "--show-completion", "bash"], capture_output=True, text=True)
    assert "_nnmnist_completion" in shown.stdout
