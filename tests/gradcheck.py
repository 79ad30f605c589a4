"""Numerical gradients for the gradient checks of test_backprop.py and test_layers.py."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def central_differences(
    array: np.ndarray, picks: np.ndarray, loss: Callable[[], float], h: float = 1e-5
) -> np.ndarray:
    """d loss / d array at the flat positions picks, by central differences. array is one of
    the network's own arrays: each entry is nudged in place and put back."""
    flat = array.reshape(-1)  # a view: changing it changes the network
    numeric = np.empty(len(picks))
    for j, k in enumerate(picks):
        old = flat[k]
        flat[k] = old + h
        up = loss()
        flat[k] = old - h
        down = loss()
        flat[k] = old
        numeric[j] = (up - down) / (2 * h)
    return numeric
