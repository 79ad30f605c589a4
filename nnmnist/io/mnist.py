"""MNIST sources -> uint8 images (N, 784) and uint8 labels (N,).

Sources: the test split bundled inside the package (10,000 images, no network ever), a folder
of the original IDX files, and OpenML's mnist_784 through scikit-learn's fetch_openml, cached as
uint8 after the first download. OpenML's 70,000 rows are the IDX training set followed by the
IDX test set, so every source gives the same images for the same split.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.errors import DataError, SourceUnavailableError
from nnmnist.io import idx
from nnmnist.io.atomic import write_file
from nnmnist.io.npyfile import load_npz
from nnmnist.io.reading import open_file

BUNDLED_DIR = Path(__file__).parent.parent / "bundled"
N_TRAIN, N_TEST = 60_000, 10_000
SPLITS = ("test", "notebook", "train")
OPENML_TIMEOUT = 30.0
MAX_TIMEOUT = 3600.0
DEADLINE_WAITS = 10  # a whole OpenML download may take this many NNMNIST_TIMEOUTs
MAX_DATASET_IMAGES = 120_000  # held in memory whole: 94 MB of pixels

_IDX_NAMES = {
    "train-images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train-labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test-images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test-labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


@dataclass(frozen=True)
class Dataset:
    images: NDArray[np.uint8]  # (N, 784), pixel values 0-255
    labels: NDArray[np.uint8]  # (N,), digits 0-9
    source: str  # where it came from, for the user: "bundled", "openml", a folder
    split: str  # "test", "notebook" or "train"

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def cache_dir() -> Path:
    """$NNMNIST_CACHE, else $XDG_CACHE_HOME/nnmnist, else ~/.cache/nnmnist."""
    if env := os.environ.get("NNMNIST_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nnmnist"


def _find_idx(folder: Path, part: str) -> Path:
    for name in _IDX_NAMES[part]:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists() or candidate.is_symlink():  # the reader judges what it is
                return candidate
    raise DataError(
        f"{folder}: no {_IDX_NAMES[part][0]}[.gz] here (an MNIST IDX folder holds "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, gzipped or not)"
    )


def _read_idx_pair(folder: Path, part: str) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    images_path = _find_idx(folder, f"{part}-images")
    labels_path = _find_idx(folder, f"{part}-labels")
    # headers first: nothing is read or inflated for counts that cannot be used
    n_images, n_labels = idx.image_count(images_path), idx.label_count(labels_path)
    if n_images != n_labels:
        raise DataError(f"{folder}: {n_images} {part} images but {n_labels} labels")
    if n_images > MAX_DATASET_IMAGES:
        raise DataError(
            f"{images_path}: {n_images:,} images; nnmnist evaluates and trains on at most "
            f"{MAX_DATASET_IMAGES:,} at once (MNIST has 70,000)"
        )
    images = idx.read_images(images_path)
    labels = idx.read_labels(labels_path)
    if len(images) != len(labels):  # pragma: no cover - the headers said the same
        raise DataError(f"{folder}: {len(images)} {part} images but {len(labels)} labels")
    return images, labels


def load_idx_folder(folder: Path, parts: tuple[str, ...]) -> tuple[NDArray[np.uint8], ...]:
    """Images and labels of the named parts ("train", "test"), concatenated in that order."""
    if not folder.is_dir():
        raise SourceUnavailableError(f"{folder}: no such folder of MNIST IDX files")
    pairs = [_read_idx_pair(folder, part) for part in parts]
    return (
        np.concatenate([p[0] for p in pairs]),
        np.concatenate([p[1] for p in pairs]),
    )


def _openml_cache_file() -> Path:
    return cache_dir() / "mnist_784.npz"


def network_timeout() -> float:
    """Seconds to wait on the network (OpenML, a Dask scheduler): $NNMNIST_TIMEOUT, else 30."""
    text = os.environ.get("NNMNIST_TIMEOUT", "")
    if not text:
        return OPENML_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0 < value <= MAX_TIMEOUT):  # NaN fails this too
        raise DataError(
            f"NNMNIST_TIMEOUT must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, "
            f"not {text[:40]!r}"
        )
    return value


openml_timeout = network_timeout


def offline() -> bool:
    """True when NNMNIST_OFFLINE is set (the CLI's --offline sets it): never open a socket."""
    return os.environ.get("NNMNIST_OFFLINE", "") not in ("", "0")


def load_openml(
    *, timeout: float | None = None, no_network: bool = False
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """All 70,000 rows of OpenML's mnist_784, as uint8, from the cache or the network."""
    cached = _openml_cache_file()
    damage = ""
    if cached.exists() or cached.is_symlink():
        try:
            return _read_cache(cached)
        except DataError as exc:
            damage = str(exc)
            if no_network or offline():
                raise DataError(
                    f"{damage}; delete it, or run without --offline to fetch MNIST again"
                ) from None
    if no_network or offline():
        raise SourceUnavailableError(
            f"offline, and no OpenML copy of MNIST is cached in {cached.parent}; use --data "
            "bundled for the test split, or --data DIR with the MNIST IDX files"
        )
    images, labels = _fetch_openml(network_timeout() if timeout is None else timeout)
    _check_rows(images, labels, "OpenML's mnist_784")
    try:  # a damaged entry is replaced; a link or a folder in its place is not written through
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_file(cached, lambda f: np.savez(f, images=images, labels=labels), overwrite=True)
    except OSError as exc:
        raise DataError(f"{cached}: cannot write the cache ({exc.strerror or exc})") from None
    return images, labels


CACHE_MAX_BYTES = 64 << 20  # 70,000 x 784 pixels and their labels, uncompressed: 52 MB


def _read_cache(path: Path) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """The cached copy, checked: exactly two uint8 arrays of the right shapes, labels 0-9."""
    with open_file(path, str(path), DataError, CACHE_MAX_BYTES, register=False) as f:
        arrays = load_npz(
            f, str(path), DataError, lambda m: m in ("images", "labels"), "a damaged cache entry"
        )
    if set(arrays) != {"images", "labels"}:
        raise DataError(
            f"{path}: a damaged cache entry (it holds {', '.join(arrays) or 'nothing'})"
        )
    _check_rows(arrays["images"], arrays["labels"], str(path))
    return arrays["images"], arrays["labels"]


def _check_rows(images: NDArray[Any], labels: NDArray[Any], name: str) -> None:
    n = N_TRAIN + N_TEST
    if images.dtype != np.uint8 or images.shape != (n, 784):
        raise DataError(f"{name}: images are {images.dtype} {images.shape}, not uint8 ({n}, 784)")
    if labels.dtype != np.uint8 or labels.shape != (n,):
        raise DataError(f"{name}: labels are {labels.dtype} {labels.shape}, not uint8 ({n},)")
    if labels.max() > 9:
        raise DataError(f"{name}: a label above 9 ({int(labels.max())})")


def _fetch_openml(timeout: float) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """fetch_openml with a deadline for the whole download, not only for each socket wait: a
    server that trickles one byte a second never times out a recv. The fetch runs in a daemon
    thread; past the deadline nnmnist gives up on it (and the process exits without it)."""
    box: dict[str, object] = {}

    def fetch() -> None:
        try:
            box["result"] = _fetch_openml_now(timeout)
        except BaseException as exc:  # handed to the waiting thread below
            box["error"] = exc

    deadline = DEADLINE_WAITS * timeout
    thread = threading.Thread(target=fetch, name="nnmnist-openml", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        raise SourceUnavailableError(
            f"cannot fetch mnist_784 from OpenML: no complete answer within {deadline:g} s "
            f"({DEADLINE_WAITS} x NNMNIST_TIMEOUT); use --data bundled for the test split, or "
            "--data DIR with the MNIST IDX files"
        )
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def _fetch_openml_now(timeout: float) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    import socket

    import sklearn.datasets

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # fetch_openml has no timeout of its own
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its "Retrying..." warnings: the outcome is one line
            bunch = sklearn.datasets.fetch_openml(
                "mnist_784",
                version=1,
                as_frame=False,
                parser="liac-arff",
                data_home=str(cache_dir() / "openml"),
                n_retries=1,  # scikit-learn retries once more itself on a timeout
                delay=1.0,
            )
    except Exception as exc:  # URLError, timeouts, HTTP errors, a broken download
        raise SourceUnavailableError(
            f"cannot fetch mnist_784 from OpenML ({type(exc).__name__}: {exc}); "
            "use --data bundled for the test split, or --data DIR with the MNIST IDX files"
        ) from None
    finally:
        socket.setdefaulttimeout(old)
    data = np.asarray(bunch.data)
    target = np.asarray(bunch.target)
    if data.shape != (N_TRAIN + N_TEST, 784) or target.shape != (N_TRAIN + N_TEST,):
        raise DataError(f"OpenML's mnist_784 has an unexpected shape {data.shape}")
    # liac-arff gives float64 pixels and string labels ("5"); both become uint8, checked first
    # (a cast would turn NaN or 300 into some pixel value without a word).
    if data.dtype.kind not in "iuf" or not np.isfinite(data).all():
        raise DataError("OpenML's mnist_784 holds pixel values that are not numbers")
    if data.min() < 0 or data.max() > 255 or not np.array_equal(data, np.round(data)):
        raise DataError("OpenML's mnist_784 holds pixel values outside the whole numbers 0-255")
    try:
        digits = target.astype(np.int64)
    except (TypeError, ValueError):
        raise DataError("OpenML's mnist_784 holds labels that are not digits") from None
    if digits.min() < 0 or digits.max() > 9:
        raise DataError("OpenML's mnist_784 holds labels outside 0-9")
    return data.astype(np.uint8), digits.astype(np.uint8)


def notebook_test_indices(n: int = N_TRAIN + N_TEST) -> NDArray[np.intp]:
    """Rows of the notebook's train_test_split(X, y, test_size=0.2, random_state=42) test part."""
    from sklearn.model_selection import train_test_split

    _, test = train_test_split(np.arange(n), test_size=0.2, random_state=42)
    return np.asarray(test)


def load(source: str = "auto", split: str = "test", *, no_network: bool = False) -> Dataset:
    """Load a split from a source ("auto", "bundled", "openml" or a folder path).

    auto: for the test split the bundled copy; otherwise the OpenML cache if there is one,
    else OpenML itself. no_network: never open a socket (a missing cache is an error).
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if source == "auto":
        source = "bundled" if split == "test" else "openml"
    parts = {"test": ("test",), "train": ("train",), "notebook": ("train", "test")}[split]

    if source == "bundled":
        if split != "test":
            raise DataError(
                f"the bundled data is the 10,000-image test split only; for the {split} split "
                "use --data openml or --data DIR with the MNIST IDX files"
            )
        images, labels = load_idx_folder(BUNDLED_DIR, ("test",))
        name = "bundled"
    elif source == "openml":
        try:
            all_images, all_labels = load_openml(no_network=no_network)
        except SourceUnavailableError as exc:
            if split == "test":
                raise
            raise SourceUnavailableError(
                f"{str(exc).split('; use ')[0]}; the {split} split needs the 60,000 MNIST "
                "training images: put train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz "
                "(from the MNIST database, or a mirror) in a folder and pass --data FOLDER"
            ) from None
        rows = {"test": slice(N_TRAIN, None), "train": slice(0, N_TRAIN)}.get(split, slice(None))
        images, labels = all_images[rows], all_labels[rows]
        name = "openml"
    else:
        images, labels = load_idx_folder(Path(source), parts)
        name = str(source)

    if split == "notebook":
        rows_nb = notebook_test_indices(len(labels))
        images, labels = images[rows_nb], labels[rows_nb]
    return Dataset(images, labels, source=name, split=split)
