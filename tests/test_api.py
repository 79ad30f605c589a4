"""The public Python API (nnmnist.load, Model, prepare, datasets) and the estimator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnmnist
from nnmnist import datasets

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = ROOT / "examples" / "photos"


@pytest.fixture(scope="module")
def model() -> nnmnist.Model:
    return nnmnist.load()


def test_the_issue_one_liner_prints_7():
    code = "import nnmnist; print(nnmnist.load().predict('examples/photos/drawn-seven.png'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "7\n"


def test_import_is_lazy_and_dir_lists_the_api():
    code = "import sys, nnmnist; print('numpy' in sys.modules); print(sorted(dir(nnmnist)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, names = out.stdout.splitlines()
    assert first == "False"  # the command line's start does not pay for the library
    for name in ("load", "Model", "prepare", "datasets", "sklearn", "Refused", "Report"):
        assert repr(name) in names


def test_predict_on_arrays_matches_the_forward_pass(model):
    from nnmnist.core.network import predict

    images, labels = datasets.test()
    got = model.predict(images[:500])
    assert np.array_equal(got, predict(model.net, images[:500])[0])
    assert model.predict(images[0].reshape(28, 28)) == labels[0]
    probs = model.predict_proba(images[:3].reshape(3, 28, 28))
    assert probs.shape == (3, 10) and np.allclose(probs.sum(axis=1), 1)


def test_predict_answers_like_the_command_line_on_the_example_pictures(model):
    cli = subprocess.run(
        [Path(sys.executable).with_name("nnmnist"), "predict", str(PHOTOS), "-f", "csv"],
        capture_output=True,
        text=True,
    )
    rows = [line.split(",") for line in cli.stdout.splitlines()[1:]]
    results = model.answers(PHOTOS)
    assert results.names == [r[0] for r in rows]
    assert [str(y) if y >= 0 else "" for y in results.labels] == [r[1] for r in rows]


def test_one_refused_picture_raises_refused_with_its_reason(model, tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    with pytest.raises(nnmnist.Refused) as info:
        model.predict(blank)
    assert info.value.reason == "blank"
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(nnmnist.ImageError):
        model.predict(broken)
    with pytest.raises(nnmnist.DataError, match="no such file"):  # its own error, not -1
        model.predict(tmp_path / "missing.png")
    # among many, each keeps its row: -1, NaN probabilities, the reason
    results = model.answers([blank, PHOTOS / "drawn-seven.png", broken])
    assert results.labels.tolist() == [-1, 7, -1]
    assert np.isnan(results.probabilities[0]).all() and not np.isnan(results.probabilities[1]).any()
    assert results.reasons == ["refused: blank", None, "could not be read"]


def test_pil_images_and_prepare(model):
    from PIL import Image

    with Image.open(PHOTOS / "drawn-seven.png") as im:
        assert model.predict(im) == 7
        digit = nnmnist.prepare(im)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    assert digit._repr_png_().startswith(b"\x89PNG")
    with Image.open(PHOTOS / "drawn-seven.png") as im:
        from nnmnist.vision.images import preprocess

        assert np.array_equal(digit, preprocess(im))


def test_read_number(model):
    number = model.read_number(ROOT / "examples" / "numbers" / "0123.png")
    assert number.text == "0123" and len(number.digits) == 4 and 0 < number.confidence <= 1


def test_evaluate_counts_every_input(model, tmp_path):
    from PIL import Image

    report = model.evaluate()  # MNIST's test split, shipped in the package
    assert report.total == 10_000 and report.accuracy > 0.99
    assert report.confusion.sum() == 10_000 and len(report.per_class) == 10
    assert len(report.misread) == 10_000 - report.evaluation.correct
    from nnmnist.engines.local import misread

    images, labels = datasets.test()
    assert [(k, guess) for k, _, _, guess in report.misread] == misread(
        model.net, images, labels, {}
    )
    assert "accuracy" in report._repr_html_()
    for digit in ("7", "1"):
        (tmp_path / digit).mkdir()
    Image.open(PHOTOS / "drawn-seven.png").save(tmp_path / "7" / "a.png")
    Image.new("L", (64, 64), 255).save(tmp_path / "1" / "blank.png")
    own = model.evaluate(tmp_path)
    assert own.total == 2 and own.evaluation.correct == 1 and own.refused == {0: "blank"}
    assert own.accuracy == 0.5 and own.answered_accuracy == 1.0 and own.unread == []
    (tmp_path / "7" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    worse = model.evaluate(tmp_path)  # a file that cannot be read is said, not dropped silently
    assert worse.total == 2 and len(worse.unread) == 1 and "broken.png" in worse.unread[0]
    assert "1 file(s) could not be read" in repr(worse)


def test_evaluate_load_digits_with_its_scale(model):
    from sklearn.datasets import load_digits

    d = load_digits()
    report = model.evaluate(d.images[:200], d.target[:200], scale=16)
    assert report.total == 200 and report.accuracy > 0.9


def test_load_refuses_unknown_names_and_save_refuses_the_shipped_model(model, tmp_path):
    with pytest.raises(nnmnist.WeightsError, match="not a shipped model"):
        nnmnist.load("nosuchmodel")
    with pytest.raises(nnmnist.WeightsError, match="shipped model"):
        model.save(model.path)
    out = model.save(tmp_path / "mine.npz")
    again = nnmnist.load(out)
    images, _ = datasets.test()
    assert np.array_equal(again.predict_proba(images[:50]), model.predict_proba(images[:50]))
    with pytest.raises(nnmnist.WeightsError, match="already exists"):
        model.save(out)
    with pytest.raises(nnmnist.WeightsError, match="does not read them back"):
        model.save(tmp_path / "mine.onnx")
    assert "<table>" in model._repr_html_()
    # a Path (what --weights gives) is a file, even when its name is a shipped model's
    (tmp_path / "mlp").write_bytes(out.read_bytes())
    assert nnmnist.load(tmp_path / "mlp").path == tmp_path / "mlp"
    with pytest.raises(nnmnist.WeightsError, match="no such file|does not exist"):
        nnmnist.load(Path("mlp"))


# ---- the scikit-learn estimator ------------------------------------------------------------


def _checks():
    from sklearn.utils.estimator_checks import check_estimator

    from nnmnist.sklearn import MNISTClassifier

    # the checks' data are small standardised blobs, not pixels: pixel_scale 1, more epochs
    clf = MNISTClassifier((32,), epochs=50, learning_rate=1e-2, pixel_scale=1.0)
    return check_estimator(clf, on_fail=None)


# Skipped by scikit-learn itself here, and why: no pandas installed; array API needs
# SCIPY_ARRAY_API and array-api-compat, which nnmnist (NumPy only) does not claim.
EXPECTED_SKIPS = {"check_array_api_input", "check_classifier_data_not_an_array"}


def test_the_estimator_passes_scikit_learns_own_checks():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = _checks()
    failed = [
        (r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"
    ]
    assert failed == []
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= EXPECTED_SKIPS
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_the_estimator_in_a_pipeline_and_cross_validation():
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from nnmnist.sklearn import MNISTClassifier

    images, labels = datasets.test()
    pipe = make_pipeline(
        FunctionTransformer(), MNISTClassifier((64,), epochs=10, learning_rate=3e-3)
    )
    scores = cross_val_score(pipe, images[:1500], labels[:1500], cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8
    clf = MNISTClassifier((64,), epochs=2, random_state=3).fit(images[:800], labels[:800])
    twin = MNISTClassifier((64,), epochs=2, random_state=3).fit(images[:800], labels[:800])
    assert all(
        np.array_equal(a, b)
        for a, b in zip(clf.network_.weights, twin.network_.weights, strict=True)
    )
    assert clf.get_params()["epochs"] == 2 and list(clf.classes_) == list(range(10))


def test_the_estimator_fine_tunes_a_shipped_model():
    from nnmnist.sklearn import MNISTClassifier

    images, labels = datasets.test()
    clf = MNISTClassifier(start_from="mlp", epochs=1, learning_rate=1e-4).fit(
        images[:500], labels[:500]
    )
    assert clf.score(images[5000:6000], labels[5000:6000]) > 0.95
    with pytest.raises(ValueError, match="0-9"):
        MNISTClassifier(start_from="mlp", epochs=1).fit(images[:20], labels[:20] + 10)


def test_readme_python_section_runs_as_a_doctest():
    import doctest
    import os
    import re

    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```pycon\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has a Python section"
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        for i, block in enumerate(blocks):
            runner.run(parser.get_doctest(block, {}, f"README-{i}", "README.md", 0))
    finally:
        os.chdir(here)
    assert runner.failures == 0
