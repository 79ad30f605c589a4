import os
import pickle

import numpy as np
import pytest

from nnmnist.core.network import Network, forward, init_network
from nnmnist.errors import UnsafeFileError, WeightsError
from nnmnist.models.weights import load_weights, network_from_dict, network_to_dict, save_weights


def book_dict(sizes=(784, 50, 100, 10), dtype=np.float32):
    rng = np.random.RandomState(0)
    d = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        d[f"W{i}"] = (rng.randn(a, b) * 0.01).astype(dtype)
        d[f"b{i}"] = np.zeros(b, dtype=dtype)
    return d


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_round_trip(tmp_path, small_net, digits, suffix):
    path = tmp_path / f"w{suffix}"
    save_weights(small_net, path, {"seed": 0, "creator": "test"})
    loaded = load_weights(path)
    assert loaded.sizes == small_net.sizes
    assert loaded.hidden == small_net.hidden
    assert loaded.meta["seed"] == 0 and loaded.meta["layers"] == [784, 16, 10]
    for a, b in zip(
        loaded.weights + loaded.biases, small_net.weights + small_net.biases, strict=True
    ):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(forward(loaded, digits[0]), forward(small_net, digits[0]))


def test_book_files_load_here_and_ours_load_in_the_books_code(tmp_path):
    book = tmp_path / "sample_weight.pkl"
    with open(book, "wb") as f:  # what the book's code writes
        pickle.dump(book_dict(), f)
    net = load_weights(book)
    assert net.sizes == (784, 50, 100, 10) and net.hidden == "sigmoid"

    ours = tmp_path / "ours.pkl"
    save_weights(net, ours)
    with open(ours, "rb") as f:  # what the book's code does to read it
        network = pickle.load(f)
    for key in ("W1", "W2", "W3", "b1", "b2", "b3"):
        np.testing.assert_array_equal(network[key], book_dict()[key])


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_every_pickle_protocol_loads(tmp_path, protocol):
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(book_dict((784, 10)), protocol=protocol))
    assert load_weights(path).sizes == (784, 10)


def test_metadata_is_honoured(tmp_path):
    d = book_dict((784, 20, 10))
    d["meta"] = {"activation": "relu", "seed": 7, "note": "plain strings and numbers"}
    path = tmp_path / "w.pkl"
    path.write_bytes(pickle.dumps(d))
    net = load_weights(path)
    assert net.hidden == "relu" and net.meta["seed"] == 7


def _global_call(module: str, name: str, arg: str, with_dict: bool = False) -> bytes:
    """A protocol-0 pickle that calls module.name(arg[, {}]) when loaded."""
    extra = b"(d" if with_dict else b""
    return b"c%s\n%s\n(V%s\n%stR." % (module.encode(), name.encode(), arg.encode(), extra)


def malicious_pickles(sentinel):
    s = str(sentinel)
    return {
        "os.system": _global_call("os", "system", f"touch {s}"),
        "posix.system": _global_call("posix", "system", f"touch {s}"),
        "builtins.eval": _global_call("builtins", "eval", f"open({s!r}, 'w').close()"),
        "numpy runstring": _global_call(
            "numpy.testing._private.utils", "runstring", f"open({s!r}, 'w').close()", True
        ),
        "subprocess": _global_call("subprocess", "getoutput", f"touch {s}"),
    }


@pytest.mark.parametrize(
    "kind", ["os.system", "posix.system", "builtins.eval", "numpy runstring", "subprocess"]
)
def test_malicious_pickles_are_refused_and_nothing_runs(tmp_path, kind):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(malicious_pickles(sentinel)[kind])
    with pytest.raises(UnsafeFileError, match="refused") as info:
        load_weights(path)
    assert "\n" not in str(info.value)
    assert not sentinel.exists()


def test_the_malicious_pickle_is_real(tmp_path):
    # Proof that the test above could fail: plain pickle.loads runs the payload.
    sentinel = tmp_path / "pwned"
    pickle.loads(malicious_pickles(sentinel)["builtins.eval"])
    assert sentinel.exists()


def test_malicious_object_nested_inside_a_valid_dict(tmp_path):
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    d = book_dict((784, 10))
    d["meta"] = {"x": Evil()}
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(d))
    with pytest.raises(UnsafeFileError):
        load_weights(path)
    assert not sentinel.exists()


def _bad(**changes):
    d = book_dict((784, 20, 10))
    for k, v in changes.items():
        if v is None:
            del d[k]
        else:
            d[k] = v
    return d


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ([1, 2], "holds a list, not a dict"),
        ({}, "no W1"),
        (_bad(b2=None), "has W1..W2 but no b2"),
        (_bad(W3=np.zeros((10, 10), np.float32)), "has W1..W3 but no b3"),
        (_bad(b3=np.zeros(10, np.float32)), "has b3 but only W1..W2"),
        (_bad(extra=1), "unexpected key 'extra'"),
        (_bad(W1=[[0.0]]), "W1 is a list, not a NumPy array"),
        (_bad(W1=np.zeros((784, 20), np.int64)), "W1 has dtype int64"),
        (_bad(W1=np.zeros((784, 20), np.complex64)), "W1 has dtype complex64"),
        (_bad(b1=np.zeros((1, 20), np.float32)), "b1 has shape (1, 20), expected 1 dimension"),
        (_bad(W2=np.full((20, 10), np.nan, np.float32)), "W2 holds NaN or infinite values"),
        (_bad(b1=np.array([np.inf] * 20, np.float32)), "b1 holds NaN or infinite values"),
        (_bad(W1=np.zeros((783, 20), np.float32)), "W1 has 783 rows but the input is 784 pixels"),
        (
            _bad(W2=np.zeros((20, 9), np.float32), b2=np.zeros(9, np.float32)),
            "W2 has 9 columns but there are 10 classes",
        ),
        (_bad(b1=np.zeros(19, np.float32)), "b1 has 19 values but W1 has 20 columns"),
        (_bad(W2=np.zeros((21, 10), np.float32)), "W2 has 21 rows but layer 1 has 20 units"),
        (_bad(meta="not a dict"), "meta must be a dict"),
        (_bad(meta={"activation": "gelu"}), "unknown hidden activation 'gelu'"),
    ],
)
def test_validation_messages_name_the_array_and_sizes(obj, message):
    with pytest.raises(WeightsError) as info:
        network_from_dict(obj, "w.pkl")
    assert message in str(info.value)
    assert str(info.value).startswith("w.pkl: ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (pickle.dumps(book_dict((784, 10)))[:100], "not a readable weight file"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "not a readable weight file"),
        (b"PK\x03\x04garbage", "not a readable .npz"),
    ],
)
def test_broken_files(tmp_path, content, message):
    path = tmp_path / "w.pkl"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match=message):
        load_weights(path)


def test_npz_with_an_object_member_is_refused(tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, W1=np.array([object()], dtype=object), b1=np.zeros(10))
    with pytest.raises(WeightsError, match="refused"):
        load_weights(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        load_weights(tmp_path / "nope.pkl")
    with pytest.raises(WeightsError, match="is a folder"):
        load_weights(tmp_path)


def test_failed_save_leaves_the_old_file_and_no_temporary(tmp_path, small_net, monkeypatch):
    path = tmp_path / "w.pkl"
    save_weights(small_net, path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pickle, "dump", full_disk)
    other = init_network((784, 8, 10), scheme="he", rng=np.random.RandomState(5))
    with pytest.raises(
        WeightsError, match="cannot write \\(No space left on device\\); nothing was changed"
    ):
        save_weights(other, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pkl"]


def test_network_to_dict_has_the_books_keys(small_net):
    d = network_to_dict(small_net)
    assert set(d) == {"W1", "b1", "W2", "b2", "meta"}
    assert isinstance(network_from_dict(d), Network)
