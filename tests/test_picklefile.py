"""The pickle parser: loads what NumPy 1.x and 2.x write, refuses the rest, calls nothing."""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import pickle
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnmnist.errors import UnsafeFileError, WeightsError
from nnmnist.io.picklefile import MAX_DEPTH, MAX_ITEMS, MAX_VALUES, parse_pickle
from nnmnist.models.weights import load_weights
from tests.fixtures.make_pickles import fixture_weights
from tests.test_properties import mutations

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pickles"
DLFS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dlfs"


def _same_arrays(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k, v in a.items():
        if isinstance(v, np.ndarray):
            assert b[k].dtype == v.dtype.newbyteorder("="), k
            assert b[k].shape == v.shape, k
            assert b[k].tobytes() == v.astype(v.dtype.newbyteorder("=")).tobytes(), k
            assert b[k].flags.owndata and b[k].flags.writeable and b[k].flags.c_contiguous
        else:
            assert b[k] == v


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.pkl")))
def test_pickles_from_both_numpy_majors_and_every_protocol_load_bit_for_bit(name):
    assert len(list(FIXTURES.glob("*.pkl"))) == 12  # NumPy 1.x and 2.x, protocols 0-5
    _same_arrays(fixture_weights(), parse_pickle((FIXTURES / name).read_bytes()))
    net = load_weights(FIXTURES / name)
    assert net.sizes == (784, 4, 10)


@pytest.mark.parametrize("protocol", range(6))
def test_this_numpy_round_trips_every_kind_of_plain_array(protocol):
    rng = np.random.default_rng(protocol)
    obj = {
        "c": rng.standard_normal((3, 4)).astype("<f4"),
        "fortran": np.asfortranarray(rng.standard_normal((4, 5))),
        "big_endian": rng.standard_normal(3).astype(">f8"),
        "half": rng.standard_normal(3).astype("f2"),
        "ints": np.arange(5, dtype="i8"),
        "empty": np.zeros((0, 3), "f4"),
        "zero_dim": np.ones((), "f4"),
        "strided": np.arange(20.0).reshape(4, 5)[:, ::2],
        "meta": {"list": [1, 2.5, "x", None, True], "nested": {"t": (1, 2)}, "b": b"\x00\xff"},
    }
    readonly = np.arange(4.0)
    readonly.flags.writeable = False
    obj["readonly"] = readonly
    _same_arrays(obj, parse_pickle(pickle.dumps(obj, protocol=protocol)))


def test_the_books_weights_load_exactly():
    for name in ("ch03-sample_weight.pkl", "ch07-params.pkl", "ch08-deep_convnet_params.pkl"):
        path = DLFS / name
        if not path.is_file():
            pytest.skip(f"the book's weight files are not at {DLFS}")
        data = path.read_bytes()
        _same_arrays(pickle.loads(data), parse_pickle(data))  # trusted file: a reference


def _refused(data: bytes, fragment: str, error: type = UnsafeFileError) -> str:
    with pytest.raises(error) as info:
        parse_pickle(data)
    assert fragment in str(info.value), str(info.value)
    return str(info.value)


# The attacks of issue 10, rebuilt: each uses only globals the old allow-list accepted.
def test_a_void_scalar_over_chosen_bytes_is_refused_at_the_global():
    data = (
        b"\x80\x04cnumpy.core.multiarray\nscalar\n"
        + b"(cnumpy\ndtype\n(VV8\nK\x00K\x01tR"
        + (b"(K\x03V|\nNNNJ\x08\x00\x00\x00K\x01K\x3ftbC\x08AAAAAAAAtR.")
    )
    message = _refused(data, "asks for numpy.core.multiarray.scalar")
    assert "GLOBAL at byte 2" in message


def test_a_datetime_dtype_with_a_chosen_build_state_is_refused():
    data = b"\x80\x04cnumpy\ndtype\n(VM8\nK\x00K\x01tR(K\x04V<\nNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb."
    _refused(data, "dtype 'M8', which is not a plain numeric dtype")


def test_reduce_on_ndarray_with_chosen_strides_is_refused():
    # ndarray(shape, dtype, buffer, offset, strides): zero strides made 3.5 GB of "weights"
    data = (
        b"\x80\x04cnumpy\nndarray\n(J\x40\x42\x0f\x00K\x0a\x86cnumpy\ndtype\n(Vf4\nK\x00K\x01tR"
        b"(K\x03V<\nNNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tbC\x04\x00\x00\x00\x00K\x00K\x00K\x00\x86tR."
    )
    _refused(data, "REDUCE of numpy.ndarray")


def test_a_dtype_build_state_numpy_never_writes_is_refused():
    d = pickle.dumps({"W1": np.zeros(3, "f4")}, protocol=2)
    bad = d.replace(
        b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00", b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x3f"
    )
    assert bad != d
    _refused(bad, "BUILD state NumPy does not write")


def test_object_and_structured_arrays_are_refused():
    _refused(pickle.dumps({"W1": np.array([1, "x"], dtype=object)}), "dtype 'O8'")
    structured = np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])
    _refused(pickle.dumps({"W1": structured}), "dtype 'V8'")
    _refused(pickle.dumps({"W1": np.zeros(2, "c8")}), "dtype 'c8'")


def test_a_huge_memo_index_is_a_dict_entry_not_an_allocation():
    data = b"\x80\x04N\x72\x00\x00\x00\x06."  # LONG_BINPUT 0x06000000 (took 1.6 GB in pickle)
    assert parse_pickle(data) is None
    _refused(b"\x80\x04\x6a\x00\x00\x00\x06.", "memo entry 100663296 is used before", WeightsError)


def test_many_dict_keys_are_refused_quickly():
    keys = b"".join(b"\x8c\x06k%05d" % i + b"N" for i in range(MAX_ITEMS + 1))
    data = b"\x80\x04}(" + keys + b"u."
    start = time.perf_counter()
    _refused(data, f"more than {MAX_ITEMS:,} items", WeightsError)
    assert time.perf_counter() - start < 10


def test_integer_dict_keys_are_refused():
    _refused(pickle.dumps({1: 2}), "a dict key of type int")


def test_deep_nesting_is_refused_not_a_crash():
    data = b"\x80\x04" + b"]" * 5000 + b"a" * 4999 + b"."
    _refused(data, f"nested more than {MAX_DEPTH} deep", WeightsError)


def test_a_self_containing_list_is_refused():
    a: list = []
    a.append(a)
    _refused(pickle.dumps(a), "contains itself", WeightsError)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x80\x04cos\nsystem\n.", "asks for os.system"),
        (b"\x80\x04\x8c\x02os\x8c\x06system\x93.", "asks for os.system"),
        (b"\x80\x04P1\n.", "persistent id"),
        (b"\x80\x04\x82\x01.", "extension code"),
        (b"\x80\x05\x97.", "out-of-band buffer"),
        (b"\x80\x04\x8f.", "a set"),
        (b"\x80\x04cnumpy\nndarray\n)\x81.", "an object construction"),
        (b"\x80\x04cnumpy\ndtype\n.", "a bare reference to numpy.dtype"),
        (b"\x80\x04N)R.", "REDUCE of a NoneType"),
        (b"\x80\x04cnumpy\ndtype\n(Vf4\nK\x00K\x01tR.", "a dtype outside an array"),
    ],
)
def test_what_a_weight_file_never_holds_is_refused_with_its_offset(data, fragment):
    message = _refused(data, fragment)
    assert " at byte " in message


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x80\x04", "at byte"),
        (b"\x80\x07N.", "pickle protocol 7"),
        (b"\x80\x04NN.", "not one value"),
        (b"\x80\x04(N.", "not one value"),
        (b"\x80\x04\x8a\x10" + b"\xff" * 15 + b"\x7f.", "an integer of"),
        (b"\x80\x04\xff.", "at byte"),
    ],
)
def test_malformed_streams_are_weights_errors(data, fragment):
    _refused(data, fragment, WeightsError)


def test_array_data_of_the_wrong_length_is_refused():
    d = pickle.dumps({"W1": np.zeros(4, "f4")}, protocol=4)
    bad = d.replace(b"(K\x01K\x04\x85", b"(K\x01K\x05\x85")  # shape (5,) over 16 bytes
    assert bad != d
    _refused(bad, "needs 20 bytes but holds 16", WeightsError)


# --- fuzzing: generated opcode streams and mutations of real NumPy pickles

SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.pkl"))]
OPCODES = [
    b"N",
    b"\x88",
    b"\x89",
    b"K\x05",
    b"J\x00\x00\x00\x80",
    b"\x8a\x01\xff",
    b"G" + struct.pack(">d", 1.5),
    b"\x8c\x02W1",
    b"X\x02\x00\x00\x00b1",
    b"C\x04\x00\x00\x00\x00",
    b"\x96\x04\x00\x00\x00\x00\x00\x00\x00abcd",
    b"(",
    b"t",
    b")",
    b"\x85",
    b"\x86",
    b"\x87",
    b"}",
    b"]",
    b"s",
    b"u",
    b"a",
    b"e",
    b"l",
    b"d",
    b"0",
    b"1",
    b"2",
    b"\x94",
    b"h\x00",
    b"h\x01",
    b"q\x00",
    b"R",
    b"b",
    b"cnumpy\ndtype\n",
    b"cnumpy\nndarray\n",
    b"cnumpy.core.multiarray\n_reconstruct\n",
    b"c_codecs\nencode\n",
    b"cnumpy._core.numeric\n_frombuffer\n",
    b"\x8c\x05numpy\x8c\x05dtype\x93",
    b"V<\n",
    b"Vf4\n",
    b"Vlatin1\n",
    b"VC\n",
    b"VF\n",
    b"J\xff\xff\xff\xff",
]
STREAMS = st.lists(st.sampled_from(OPCODES), max_size=40).map(
    lambda ops: b"\x80\x04" + b"".join(ops) + b"."
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture
def nothing_may_run(monkeypatch):
    """Make every way of running code or a program raise, and record the attempt."""
    calls: list[str] = []

    def trap(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"the parser called {name}")

        return refuse

    for mod, names in (
        (os, ["system", "popen", "execv", "execve", "execvp", "spawnv", "fork", "posix_spawn"]),
        (subprocess, ["Popen", "run", "call", "check_call", "check_output", "getoutput"]),
        (builtins, ["eval", "exec"]),
    ):
        for name in names:
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, trap(f"{mod.__name__}.{name}"))
    return calls


def _only_weights_errors(data: bytes) -> None:
    with contextlib.suppress(WeightsError):
        parse_pickle(data)


@FUZZ
@given(st.one_of(STREAMS, *[mutations(seed) for seed in SEEDS[:: len(SEEDS) // 4]]))
def test_fuzz_the_parser_raises_only_its_own_errors_and_runs_nothing(blob):
    calls: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for mod, name in (
            (os, "system"),
            (subprocess, "Popen"),
            (builtins, "eval"),
            (builtins, "exec"),
        ):
            mp.setattr(mod, name, lambda *a, _n=name, **k: calls.append(_n))
        _only_weights_errors(blob)
    assert calls == []


def test_the_fuzz_trap_would_see_a_call(nothing_may_run):
    # Proof that the trap works: plain pickle.loads of a payload calls os.system.
    with pytest.raises(AssertionError, match="os.system"):
        pickle.loads(b"cos\nsystem\n(Vtrue\ntR.")
    assert nothing_may_run == ["os.system"]


def test_every_refusal_of_the_corpus_runs_nothing(nothing_may_run):
    for seed in SEEDS:
        for cut in range(0, len(seed), max(1, len(seed) // 50)):
            _only_weights_errors(seed[:cut] + b"cos\nsystem\n(Vx\ntR." + seed[cut:])
    assert nothing_may_run == []


def test_parsing_is_independent_of_the_stream_position():
    # genops reads from a fresh stream each time: the same bytes, the same answer
    data = io.BytesIO(SEEDS[0]).getvalue()
    a, b = parse_pickle(data), parse_pickle(data)
    _same_arrays(a, b)


def test_files_written_by_nnmnist_0_1_load_bit_for_bit():
    """Weight files made by the 0.1 release's `nnmnist init` (its allow-list unpickler era)."""
    from nnmnist.core.network import init_network

    folder = Path(__file__).resolve().parent / "fixtures" / "nnmnist-0.1"
    book = load_weights(folder / "init-seed42.pkl")
    again = init_network((784, 50, 50, 10), scheme="notebook", rng=np.random.RandomState(42))
    for got, want in zip(book.weights + book.biases, again.weights + again.biases, strict=True):
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    assert book.meta["seed"] == 42 and book.meta["version"] == "0.1.0"
    relu = load_weights(folder / "init-relu.npz")
    assert relu.hidden == "relu" and relu.sizes == (784, 30, 10)


# --- issue 26: shared references, sizes and exact limits


def _shared_levels(levels: int, refs: int) -> bytes:
    """{'meta': list of `refs` memo references to the list below, `levels` deep} in a few
    hundred bytes: written out as a tree, refs ** levels values."""
    b = bytearray(b"\x80\x04}\x8c\x04metaNq\x000")  # memo 0 = None
    for i in range(levels):
        b += b"(" + (b"h" + bytes([i])) * refs + b"lq" + bytes([i + 1])
        if i < levels - 1:
            b += b"0"
    return bytes(b + b"s.")


@pytest.mark.parametrize(("levels", "refs"), [(28, 10), (7, 10), (22, 2)])
def test_shared_references_are_sized_before_they_are_expanded(levels, refs):
    data = _shared_levels(levels, refs)
    assert len(data) < 800
    start = time.perf_counter()
    _refused(data, "more than 1,000,000 values once its memo references are followed", WeightsError)
    assert time.perf_counter() - start < 1.0  # was: 15 s and growing, 64 s, 38.8 s


def test_a_little_sharing_is_read_as_a_tree():
    value = parse_pickle(_shared_levels(3, 3))
    assert value == {"meta": [[[None] * 3] * 3] * 3}
    assert value["meta"][0] is not value["meta"][1]  # written out: every container a new one
    assert MAX_VALUES == 1_000_000
    assert len(parse_pickle(_shared_levels(5, 10))["meta"]) == 10  # 111,113 values: read
    _refused(_shared_levels(6, 10), "more than 1,000,000 values", WeightsError)  # 1,111,113


def _nested_lists(depth: int) -> bytes:
    return b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."


def test_the_depth_limit_is_exactly_32():
    assert MAX_DEPTH == 32
    value = parse_pickle(_nested_lists(32))
    for _ in range(31):
        value = value[0]
    assert value == []
    _refused(_nested_lists(33), "nested more than 32 deep", WeightsError)


def _array_pickle(shape: tuple[int, ...], data: bytes, dtype: bytes = b"f4") -> bytes:
    """NumPy's protocol-2 layout of an array, with a chosen shape and data."""
    dims = b"".join(b"\x8a\x09" + d.to_bytes(9, "little") for d in shape)
    return (
        b"\x80\x02}X\x02\x00\x00\x00W1cnumpy.core.multiarray\n_reconstruct\n"
        b"cnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01(" + dims + b"t"
        b"cnumpy\ndtype\nX\x02\x00\x00\x00" + dtype + b"K\x00K\x01\x87R"
        b"(K\x03X\x01\x00\x00\x00<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        b"\x89C" + bytes([len(data)]) + data + b"tbs."
    )


def test_the_array_layout_helper_builds_what_numpy_would():
    a = parse_pickle(_array_pickle((2, 2), np.arange(4, dtype="<f4").tobytes()))["W1"]
    assert a.shape == (2, 2) and a.tolist() == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    ("shape", "fragment", "error"),
    [
        ((0, 2**62), "integers from 0 to 2,147,483,647", UnsafeFileError),  # was: internal error
        ((0, 2**31 - 1, 2**31 - 1), "more than 16,000,000 values", WeightsError),
        ((4000, 4001), "more than 16,000,000 values", WeightsError),
    ],
)
def test_impossible_shapes_are_refused_before_numpy_sees_them(shape, fragment, error):
    _refused(_array_pickle(shape, b""), fragment, error)


def test_array_data_must_have_exactly_the_length_its_shape_needs():
    assert parse_pickle(_array_pickle((3,), bytes(12)))["W1"].shape == (3,)
    _refused(_array_pickle((3,), bytes(16)), "needs 12 bytes but holds 16", WeightsError)
    _refused(_array_pickle((3,), bytes(8)), "needs 12 bytes but holds 8", WeightsError)


def test_arrays_are_counted_against_the_element_budget_before_they_are_copied():
    data = _array_pickle((3,), bytes(12))
    assert parse_pickle(data, max_elements=3)["W1"].shape == (3,)
    _refused_with = pytest.raises(WeightsError, match="arrays of more than")
    with _refused_with:
        parse_pickle(data, max_elements=2)


def test_latin1_text_with_characters_past_255_is_refused_not_an_internal_error():
    # _codecs.encode('\u0100', 'latin1'): Python would raise UnicodeEncodeError
    data = b"\x80\x02c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R."
    _refused(data, "_codecs.encode with arguments other than (text, 'latin1')")
    ok = data.replace(b"\xc4\x80", b"\xc3\xbf")  # U+00FF encodes
    assert parse_pickle(ok) == b"\xff"


def test_a_stream_is_read_as_it_comes_and_refused_past_its_limit(tmp_path):
    data = pickle.dumps({"W1": np.zeros(1000, "f4")}, protocol=4)
    path = tmp_path / "w.pkl"
    path.write_bytes(data)
    with open(path, "rb") as f:
        assert parse_pickle(f, len(data))["W1"].shape == (1000,)
    with open(path, "rb") as f, pytest.raises(WeightsError, match="longer than 100 bytes"):
        parse_pickle(f, 100)
