"""Is it a digit at all? The digit-or-not gate that predict asks about every picture.

A network trained to answer digits answers a digit for anything: its softmax always sums to
1, and a letter or a sign is often read as surely as a digit. The gate is a second, small
ConvNet (weights/digit-gate.npz, trained by bench/train_gate.py on MNIST training digits and
on digits, letters and signs rendered in fonts the photo bench does not use) that says how
likely a preprocessed 28x28 picture is *not* a digit. It has a quarter of the shipped
ConvNet's multiply-adds and takes 0.06 ms a picture in batches of 100 against the ConvNet's
0.11 (0.16 ms one picture at a time). (An MLP gate, tried too, cost less but refused more of
the bench's digits: 19 of 4,800 against the first ConvNet gate's 12.) It runs on pictures
only: arrays of pixels are taken to be digits, as they always were. With --number it is asked
about every digit found (gate_number in images.py).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

GATE_FILE = "digit-gate.npz"
GATE_OUTPUTS = 2  # output 0: not a digit, output 1: a digit
# From this probability on, a picture is called not a digit. Chosen for the gate trained with
# other writers' digits (2026-12-03): at 0.95 it withholds the letters and signs of
# bench/photos.py's tuning seeds (0, 2, 3) as often as the gate before it did at 0.99 (93.0,
# 96.0, 92.5% against 91.5, 96.0, 93.0% with the default model), and refuses 0.14% of USPS's
# usps-val digits and 0.33% of digits-a (bench/writers.py); at 0.99 it withheld 3 points
# fewer letters. Its own validation pictures lose 0.03% of their digits at 0.95
# (weights/README.md has the table).
NOT_A_DIGIT = 0.95


@functools.cache
def _gate() -> Any:
    from nnmnist.models.weights import load_weights, shipped_file

    path = shipped_file(GATE_FILE)
    return None if path is None else load_weights(path, outputs=GATE_OUTPUTS)


def available() -> bool:
    """Whether this installation has the gate."""
    return _gate() is not None


def not_digit_probability(digits: NDArray[np.uint8]) -> NDArray[np.float64]:
    """For (n, 784) or (n, 28, 28) preprocessed pictures: how likely each is not a digit (a
    letter, a sign, another mark); zeros without the gate."""
    from nnmnist.core.network import forward

    x = np.asarray(digits).reshape(-1, 784)
    gate = _gate()
    if gate is None:
        return np.zeros(len(x))
    return forward(gate, x)[:, 0].astype(np.float64)
