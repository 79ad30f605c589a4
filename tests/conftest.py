from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from typer.testing import CliRunner

from nnmnist.core.network import Network, init_network

# Hypothesis draws the same examples on every run (derandomized), so a failure in CI is the
# failure a developer gets on the same code; HYPOTHESIS_PROFILE=explore draws new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
MNIST_DIR = ROOT.parent / "shared" / "data" / "mnist"
needs_mnist = pytest.mark.skipif(
    not (MNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason=f"the full MNIST IDX files are not at {MNIST_DIR} (only in the development workspace)",
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def small_net() -> Network:
    """784-16-10 sigmoid with xavier weights: small, deterministic, not degenerate."""
    return init_network((784, 16, 10), scheme="xavier", rng=np.random.RandomState(0))


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray]:
    """The first 300 images (N, 784) uint8 and labels of the bundled test split."""
    from nnmnist.io import mnist as data

    ds = data.load("bundled", "test")
    return ds.images[:300], ds.labels[:300]


@pytest.fixture
def bundled_train_folder(tmp_path):
    """An IDX folder whose 'training set' is 1,500 images of the bundled test split."""
    return _train_folder(tmp_path / "mnist")


@pytest.fixture(scope="module")
def bundled_train_folder_module(tmp_path_factory):
    """The same, made once for a module."""
    return _train_folder(tmp_path_factory.mktemp("train") / "mnist")


def _train_folder(folder):
    from nnmnist.io import idx
    from nnmnist.io import mnist as data

    ds = data.load("bundled", "test")
    folder.mkdir()
    idx.write_idx(
        folder / "train-images-idx3-ubyte.gz", ds.images[:1500].reshape(-1, 28, 28), gzipped=True
    )
    idx.write_idx(folder / "train-labels-idx1-ubyte.gz", ds.labels[:1500], gzipped=True)
    return folder
