"""Pictures as people take them (bench/photos.py builds them): the front end of predict's
preprocessing keeps each condition readable. A quick subset; `python bench/photos.py` runs the
whole set and prints the table the README shows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnmnist.core.network import predict
from nnmnist.images import ImageError, preprocess
from nnmnist.weights import load_weights, shipped_model_path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import photos  # noqa: E402

SETS = photos.build(
    30, seed=2
)  # neither the set the front end was tuned on (0) nor the README's (1)


@pytest.mark.parametrize("condition", list(photos.CONDITIONS))
def test_each_condition_is_read(condition):
    net = load_weights(shipped_model_path())
    pictures, labels = SETS[condition]
    digits = []
    for p in pictures:
        try:
            digits.append(preprocess(Image.fromarray(p)))
        except ImageError:
            digits.append(np.zeros((28, 28), np.uint8))
    got = predict(net, np.stack(digits).reshape(len(digits), 784))[0]
    floor = 0.8 if condition in ("thick marker", "thin pen") else 0.9  # no stroke-width step yet
    assert float(np.mean(got == labels)) >= floor


def test_debug_stages_writes_every_step(runner, tmp_path, monkeypatch):
    from nnmnist.cli import app

    monkeypatch.chdir(tmp_path)
    Image.fromarray(SETS["ruled lines every 24 px"][0][0]).save("ruled.png")
    result = runner.invoke(app, ["predict", "ruled.png", "--debug-stages", "stages"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "stages").iterdir())
    assert names == [
        f"ruled-{s}.png"
        for s in ("1-grey", "2-denoised", "3-light", "4-flattened", "5-mask", "6-digit")
    ]
    again = runner.invoke(app, ["predict", "ruled.png", "--debug-stages", "stages"])
    assert again.exit_code == 1 and "not empty" in again.stderr  # nothing written over
    assert (
        runner.invoke(
            app, ["predict", "ruled.png", "--debug-stages", "stages", "--force"]
        ).exit_code
        == 0
    )
