"""evaluate on labelled digits of one's own: CSV, .npz, IDX pairs and folders named by digit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnmnist.cli import app
from nnmnist.core.network import predict
from nnmnist.io import idx
from nnmnist.io import mnist as data
from nnmnist.models.weights import load_weights, shipped_model_path
from tests.imagegen import TRANSFORMS

EXE = str(Path(sys.executable).parent / "nnmnist")
N = 40


@pytest.fixture(scope="module")
def digits():
    ds = data.load("bundled", "test")
    return ds.images[:N], ds.labels[:N]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NNMNIST_WEIGHTS", raising=False)
    return tmp_path


def expected(images, labels) -> tuple[int, int]:
    net = load_weights(shipped_model_path())
    return int(np.count_nonzero(predict(net, images)[0] == labels)), len(labels)


def evaluate_json(runner, *args):
    result = runner.invoke(app, ["evaluate", *args, "-f", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_labelled_csv(runner, in_tmp, digits):
    x, y = digits
    rows = ["label," + ",".join(f"pixel{i}" for i in range(784))]
    rows += [f"{label}," + ",".join(map(str, img)) for img, label in zip(x, y, strict=True)]
    (in_tmp / "mine.csv").write_text("\n".join(rows) + "\n")
    report = evaluate_json(runner, "mine.csv")
    assert (report["correct"], report["total"]) == expected(x, y)
    assert report["source"] == "mine.csv" and report["split"] == "labelled"


@pytest.mark.parametrize("names", [("x", "y"), ("images", "labels"), ("x_test", "y_test")])
def test_an_npz_with_images_and_labels(runner, in_tmp, digits, names):
    x, y = digits
    np.savez(in_tmp / "mine.npz", **{names[0]: x.reshape(-1, 28, 28), names[1]: y.astype(int)})
    report = evaluate_json(runner, "mine.npz")
    assert (report["correct"], report["total"]) == expected(x, y)


def test_an_idx_images_file_beside_its_labels(runner, in_tmp, digits):
    x, y = digits
    idx.write_idx(in_tmp / "my-images-idx3-ubyte.gz", x.reshape(-1, 28, 28), gzipped=True)
    idx.write_idx(in_tmp / "my-labels-idx1-ubyte", y)
    report = evaluate_json(runner, "my-images-idx3-ubyte.gz")
    assert (report["correct"], report["total"]) == expected(x, y)


def _folder(root: Path, x, y) -> None:
    for i, (img, label) in enumerate(zip(x, y, strict=True)):
        sub = root / str(label)
        sub.mkdir(parents=True, exist_ok=True)
        kind = ("scaled", "inverted", "off-centre", "rgb", "palette")[i % 5]
        TRANSFORMS[kind](img).save(sub / f"scan-{i:03d}.png")


def test_a_folder_named_by_digit_and_the_errors_it_writes(runner, in_tmp, digits):
    x, y = digits
    _folder(in_tmp / "mine", x, y)
    # a network that knows nothing misreads most of them: the error files can be checked
    assert runner.invoke(app, ["init", "-o", "random.pkl", "--seed", "1"]).exit_code == 0
    result = runner.invoke(
        app, ["evaluate", "mine", "-w", "random.pkl", "--errors", "misread", "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["total"] == N
    written = sorted(p.name for p in (in_tmp / "misread").iterdir())
    assert len(written) == N - report["correct"]
    first = written[0]  # 00000-true{t}-pred{p}-mine_{t}_scan-....png
    true = int(first.split("-true")[1][0])
    assert first.startswith("00000-true") and f"mine_{true}_scan-" in first
    shipped = evaluate_json(runner, "mine")
    assert shipped["correct"] >= N - 1  # pictures as predict prepares them


def test_bad_labelled_inputs_are_one_line_each(runner, in_tmp, digits):
    x, y = digits
    (in_tmp / "nolabel.csv").write_text(",".join(["0"] * 784) + "\n")
    np.savez(in_tmp / "nolabels.npz", x=x)
    idx.write_idx(in_tmp / "lonely-images-idx3-ubyte", x.reshape(-1, 28, 28))
    (in_tmp / "flat").mkdir()
    (in_tmp / "badlabel.csv").write_text("12," + ",".join(["0"] * 784) + "\n")
    cases = {
        "nolabel.csv": "line 1 has 784 values; expected 785 (a label and 784 pixels)",
        "badlabel.csv": "line 1: the first value '12' is not a label 0-9",
        "nolabels.npz": "holds x; a labelled .npz holds images",
        "lonely-images-idx3-ubyte": "no labels file beside it (lonely-labels-idx1-ubyte[.gz])",
        "flat": "a folder of labelled pictures holds subfolders named 0 to 9",
    }
    for name, fragment in cases.items():
        result = runner.invoke(app, ["evaluate", name])
        assert result.exit_code == 1, (name, result.output)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and fragment in errors[0], (name, errors)


def test_an_unreadable_picture_is_reported_and_the_rest_evaluated(in_tmp, digits):
    x, y = digits
    _folder(in_tmp / "mine", x[:10], y[:10])
    (in_tmp / "mine" / str(y[0]) / "broken.png").write_text("not a picture")
    result = subprocess.run(
        [EXE, "evaluate", "mine", "-f", "json"],
        cwd=in_tmp,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["total"] == 10
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: mine/{y[0]}/broken.png: not an image nnmnist reads (PNG, JPEG, BMP, GIF, TIFF, PBM/PGM/PPM or WebP)"
    ]


def test_every_input_counts_refused_ones_as_not_right(in_tmp, digits):
    """Issue 27: a folder with read, refused and unreadable pictures gives exact totals in
    the JSON, the text and the HTML report; a refusal counts against the accuracy, and the
    accuracy over the answered inputs is given beside it."""
    from PIL import Image

    x, y = digits
    _folder(in_tmp / "mine", x[:10], y[:10])
    Image.new("L", (84, 84), 255).save(in_tmp / "mine" / "7" / "blank.png")  # refused
    pair = np.full((84, 84), 255, np.uint8)
    pair[20:64, 10:16] = pair[20:64, 60:66] = 0  # two strokes side by side: refused
    Image.fromarray(pair).save(in_tmp / "mine" / "1" / "two.png")
    (in_tmp / "mine" / "9" / "broken.png").write_text("not a picture")  # cannot be read

    def run(*args):
        return subprocess.run(
            [EXE, "evaluate", "mine", *args],
            cwd=in_tmp,
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )

    result = run("-f", "json", "--report", "r.html")
    assert result.returncode == 1  # the unreadable one
    report = json.loads(result.stdout)
    right, _ = expected(x[:10], y[:10])
    assert (report["total"], report["answered"], report["refused"]) == (12, 10, 2)
    assert report["correct"] == right and report["accuracy"] == right / 12
    assert report["answered_accuracy"] == right / 10
    assert report["refusals"] == {"blank": 1, "several marks": 1}
    assert report["refused_by_label"][1] == 1 and report["refused_by_label"][7] == 1
    assert sum(map(sum, report["confusion_matrix"])) == 10
    assert report["running_accuracy"][-1] == report["accuracy"]
    stderr = result.stderr.splitlines()
    assert [line for line in stderr if line.startswith("error:")] == [
        "error: mine/9/broken.png: not an image nnmnist reads (PNG, JPEG, BMP, GIF, TIFF, "
        "PBM/PGM/PPM or WebP)"
    ]
    assert "1 input(s) could not be read; the others were evaluated" in stderr
    assert any(
        line.startswith("2 input(s) refused (1 blank, 1 several marks), counted as not read")
        for line in stderr
    ), stderr
    page = (in_tmp / "r.html").read_text()
    assert "Refused (2)" in page and "mine/7/blank.png" in page and "mine/1/two.png" in page
    refused_part = page[page.index("Refused (2)") :]
    refused_part = refused_part[: refused_part.index("</table>")]
    assert refused_part.count("<img src='data:image/png;base64,") == 1  # the blank has none
    listed = run("--errors", "shown")
    written = sorted(p.name for p in (in_tmp / "shown").iterdir())
    refused_files = [n for n in written if "-refused-" in n]
    assert len(refused_files) == 2, written
    assert any(n.endswith("true1-refused-several-marks-mine_1_two.png") for n in refused_files)
    assert any(n.endswith("true7-refused-blank-mine_7_blank.png") for n in refused_files)
    two = np.asarray(Image.open(in_tmp / "shown" / next(n for n in refused_files if "two" in n)))
    assert two.shape == (28, 28) and two.min() == 0  # the strokes, as they would have been read
    assert "misclassified and 2 refused images to shown" in listed.stderr
    text = run().stdout
    assert f"accuracy {right / 12:.4f}  ({right}/12 images)" in text
    assert (
        f"refused 2 of 12 inputs (1 blank, 1 several marks), counted as not right above; "
        f"accuracy over the 10 answered: {right / 10:.4f}" in text
    )
    shaped = json.loads(run("-f", "json", "--any-shape").stdout)
    assert (shaped["total"], shaped["refused"], shaped["refusals"]) == (12, 1, {"blank": 1})


def test_own_inputs_refuse_the_dask_engine(runner, in_tmp):
    result = runner.invoke(app, ["evaluate", "x.csv", "--engine", "dask"])
    assert result.exit_code == 2
    assert "your own inputs run locally" in result.stderr
