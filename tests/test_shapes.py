"""Pictures whose ink is not one digit (noise, a dot, a number of several digits) are reported,
not guessed; real digits pass. The thresholds were set on MNIST's training digits; checked here
on the test split, which they were not set on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from nnmnist.io import mnist as data
from nnmnist.vision.images import ImageError, preprocess

EXE = str(Path(sys.executable).parent / "nnmnist")


def _text(text: str, size: int = 200) -> Image.Image:
    im = Image.new("L", (size * len(text), size + 40), 255)
    font = ImageFont.load_default(size=size * 3 // 4)
    ImageDraw.Draw(im).text((20, 20), text, fill=0, font=font)
    return im


def _junk() -> dict[str, Image.Image]:
    rng = np.random.default_rng(7)
    dot = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(dot).ellipse((80, 90, 110, 120), fill=0)
    noise = rng.integers(0, 256, (120, 120)).astype(np.uint8)
    grain = np.clip(255 + rng.normal(0, 40, (150, 150)), 0, 255).astype(np.uint8)
    return {
        "a dot": dot,
        "uniform noise": Image.fromarray(noise),
        "grainy paper, no digit": Image.fromarray(grain),
        "the number 42": _text("42"),
        "the number 1907": _text("1907"),
    }


@pytest.mark.parametrize("name", list(_junk()))
def test_junk_is_reported_not_guessed(name):
    with pytest.raises(ImageError, match="not predicted"):
        preprocess(_junk()[name], name=name)


def test_junk_on_the_command_line(tmp_path):
    for name, im in _junk().items():
        im.save(tmp_path / f"{name}.png")
    run = subprocess.run(
        [EXE, "predict", str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 1
    assert [line.split("\t")[1:3] for line in run.stdout.splitlines()] == [["?", "-"]] * 5
    refused = [line for line in run.stderr.splitlines() if line.startswith("refused:")]
    assert len(refused) == 5 and "error:" not in run.stderr  # one per picture
    assert run.stderr.endswith("none of the 5 inputs was predicted: 5 refused\n")
    assert "the number 42.png: 2 marks side by side (several digits?)" in run.stderr
    forced = subprocess.run(
        [EXE, "predict", str(tmp_path / "a dot.png"), "--any-shape"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert forced.returncode == 0 and forced.stdout.count("\n") == 1


def test_mnist_test_digits_pass(tmp_path):
    """Not one of the 10,000 test digits is refused at 28x28, nor a sample scaled up 5x with
    dark ink on white paper (the thresholds allow about 1 in 10,000 on the training set). The
    shape rules alone: the digit-or-not gate has its own test (test_gate.py)."""
    x = data.load("bundled", "test").images.reshape(-1, 28, 28)
    refused = []
    for i, digit in enumerate(x):
        try:
            preprocess(digit, invert=False, gated=False)
        except ImageError:
            refused.append(i)
    assert len(refused) <= 2, refused
    for digit in x[::50]:
        big = Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BICUBIC)
        preprocess(big, gated=False)


@pytest.mark.parametrize("digit", list("0123456789"))
def test_rendered_digits_pass(digit):
    preprocess(_text(digit))


def test_the_outline_erosion_is_scipys():
    """not_one_digit's own 3x3-cross erosion gives scipy's binary_erosion, bit for bit."""
    from scipy import ndimage

    from nnmnist.vision.marks import _eroded

    rng = np.random.default_rng(0)
    for _ in range(500):
        h, w = rng.integers(1, 40, 2)
        mark = rng.random((h, w)) < rng.uniform(0.3, 0.95)
        assert np.array_equal(_eroded(mark), ndimage.binary_erosion(mark))
