"""MNIST for notebooks: the test split shipped inside the package, and the other sources.

>>> from nnmnist import datasets
>>> images, labels = datasets.test()
>>> images.shape, labels.shape
((10000, 784), (10000,))
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nnmnist.io.mnist import BUNDLED_DIR, Dataset, load

__all__ = ["BUNDLED_DIR", "Dataset", "load", "test", "train"]


def test() -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """MNIST's 10,000 test images ((10000, 784) uint8, 0-255) and labels, from the package."""
    ds = load("bundled", "test")
    return ds.images, ds.labels


def train(source: str = "auto") -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """MNIST's 60,000 training images and labels: from a folder of IDX files (source, or
    NNMNIST_DATA), the cache, or OpenML (scikit-learn's fetch_openml) when online."""
    ds = load(source, "train")
    return ds.images, ds.labels
