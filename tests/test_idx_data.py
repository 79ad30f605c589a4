import gzip
import struct

import numpy as np
import pytest

from nnmnist.errors import DataError, SourceUnavailableError
from nnmnist.io import idx
from nnmnist.io import mnist as data
from tests.conftest import MNIST_DIR, needs_mnist


def images(n=5):
    return np.arange(n * 784, dtype=np.uint64).reshape(n, 28, 28).astype(np.uint8)


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_round_trip(tmp_path, gzipped):
    img, lab = images(), np.array([0, 1, 2, 9, 5], dtype=np.uint8)
    idx.write_idx(tmp_path / "i", img, gzipped)
    idx.write_idx(tmp_path / "l", lab, gzipped)
    np.testing.assert_array_equal(idx.read_images(tmp_path / "i"), img.reshape(5, 784))
    np.testing.assert_array_equal(idx.read_labels(tmp_path / "l"), lab)
    batches = list(idx.iter_images(tmp_path / "i", batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]


def header(magic, *dims):
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize(
    ("content", "reader", "message"),
    [
        (header(0x0801, 5) + bytes(5), "images", "holds labels"),
        (header(0x0803, 1, 28, 28) + bytes(784), "labels", "holds images"),
        (header(0x0D03, 1, 28, 28) + bytes(784), "images", "not an IDX file"),
        (header(0x0803, 2, 28, 28) + bytes(784), "images", "truncated"),
        (header(0x0803, 1, 28, 28) + bytes(785), "images", "trailing bytes"),
        (header(0x0803, 1, 28, 27) + bytes(756), "images", "28x27"),
        (header(0x0801, 2) + bytes([3, 10]), "labels", "label 10 at index 1"),
        (b"\0\0", "images", "truncated"),
    ],
)
def test_broken_idx_files(tmp_path, content, reader, message):
    path = tmp_path / "f"
    path.write_bytes(content)
    read = idx.read_images if reader == "images" else idx.read_labels
    with pytest.raises(DataError, match=message):
        read(path)


def test_truncated_gzip(tmp_path):
    path = tmp_path / "f.gz"
    path.write_bytes(gzip.compress(header(0x0803, 3, 28, 28) + bytes(3 * 784))[:-30])
    with pytest.raises(DataError, match="truncated|corrupt"):
        idx.read_images(path)


def test_bundled_test_split():
    ds = data.load("bundled", "test")
    assert ds.images.shape == (10_000, 784) and ds.images.dtype == np.uint8
    # label counts from the MNIST README
    np.testing.assert_array_equal(
        np.bincount(ds.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    assert ds.source == "bundled" and ds.split == "test"


def test_bundled_has_only_the_test_split():
    with pytest.raises(DataError, match="test split only"):
        data.load("bundled", "notebook")


def test_idx_folder_errors(tmp_path):
    with pytest.raises(SourceUnavailableError, match="no such folder"):
        data.load(str(tmp_path / "missing"), "test")
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte"):
        data.load(str(tmp_path), "test")


def test_idx_folder_count_mismatch(tmp_path):
    idx.write_idx(tmp_path / "t10k-images-idx3-ubyte", images(3))
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DataError, match="3 test images but 2 labels"):
        data.load(str(tmp_path), "test")


class FakeBunch:
    def __init__(self, n=70_000):
        rng = np.random.RandomState(0)
        self.data = rng.randint(0, 256, size=(n, 784), dtype=np.uint8).astype(np.float64)
        self.target = np.array([str(d) for d in rng.randint(0, 10, size=n)], dtype=object)


@pytest.fixture(scope="module")
def openml_bunch():
    return FakeBunch()


@pytest.fixture
def fake_openml(monkeypatch, tmp_path, openml_bunch):
    import sklearn.datasets

    calls = []
    bunch = openml_bunch

    def fetch(name, **kwargs):
        calls.append((name, kwargs))
        return bunch

    monkeypatch.setenv("NNMNIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch)
    return calls, bunch


def test_openml_is_fetched_once_then_cached_as_uint8(fake_openml, tmp_path):
    calls, bunch = fake_openml
    ds = data.load("openml", "test")
    assert len(calls) == 1
    name, kwargs = calls[0]
    assert name == "mnist_784" and kwargs["version"] == 1 and kwargs["as_frame"] is False
    assert ds.images.dtype == np.uint8 and ds.images.shape == (10_000, 784)
    np.testing.assert_array_equal(ds.images, bunch.data[60_000:].astype(np.uint8))
    np.testing.assert_array_equal(ds.labels, bunch.target[60_000:].astype(int))
    assert (tmp_path / "cache" / "mnist_784.npz").is_file()

    train = data.load("openml", "train")
    assert len(calls) == 1  # served from the cache
    assert train.images.shape == (60_000, 784)


def test_openml_notebook_split_is_train_test_split(fake_openml):
    from sklearn.model_selection import train_test_split

    _, bunch = fake_openml
    ds = data.load("openml", "notebook")
    _, x_test, _, y_test = train_test_split(
        bunch.data, bunch.target, test_size=0.2, random_state=42
    )
    np.testing.assert_array_equal(ds.images, x_test.astype(np.uint8))
    np.testing.assert_array_equal(ds.labels, y_test.astype(int))


@pytest.mark.parametrize(
    "damage", ["not a zip", "labels above 9", "float pixels"], ids=lambda d: d.replace(" ", "-")
)
def test_a_damaged_cache_is_fetched_again_and_rewritten(fake_openml, tmp_path, damage):
    calls, bunch = fake_openml
    cache = tmp_path / "cache" / "mnist_784.npz"
    cache.parent.mkdir()
    if damage == "not a zip":
        cache.write_bytes(b"PK\x03\x04 broken")
    else:
        images = np.zeros((70_000, 784), np.float32 if damage == "float pixels" else np.uint8)
        np.savez(cache, images=images, labels=np.full(70_000, 12 if "labels" in damage else 1))
    ds = data.load("openml", "test")
    assert len(calls) == 1  # fetched again
    np.testing.assert_array_equal(ds.images, bunch.data[60_000:].astype(np.uint8))
    with np.load(cache, allow_pickle=False) as npz:  # rewritten, and loadable as it should be
        assert npz["images"].dtype == np.uint8 and npz["labels"].max() <= 9
    data.load("openml", "test")
    assert len(calls) == 1  # and used from now on


def test_a_damaged_cache_offline_is_named_in_the_error(fake_openml, tmp_path):
    cache = tmp_path / "cache" / "mnist_784.npz"
    cache.parent.mkdir()
    np.savez(cache, images=np.zeros((70_000, 784), np.uint8), labels=np.full(70_000, 12, np.uint8))
    with pytest.raises(DataError, match="a label above 9 .12.; delete it, or run without"):
        data.load("openml", "test", no_network=True)


def test_openml_network_failure_is_one_clear_error(monkeypatch, tmp_path):
    import urllib.error

    import sklearn.datasets

    def fetch(name, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("NNMNIST_CACHE", str(tmp_path))
    monkeypatch.setattr(sklearn.datasets, "fetch_openml", fetch)
    with pytest.raises(SourceUnavailableError) as info:
        data.load("openml", "test")
    assert "cannot fetch mnist_784 from OpenML" in str(info.value)
    assert "--data bundled" in str(info.value)
    assert info.value.exit_code == 3


@needs_mnist
def test_idx_folder_test_split_equals_the_bundled_copy():
    a, b = data.load(str(MNIST_DIR), "test"), data.load("bundled", "test")
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
