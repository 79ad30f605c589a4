"""The pickle parser, opcode by opcode: exact refusals, exact boundaries (issue 26, item 8).

The pickles are assembled here from raw opcodes, so that each case is the smallest stream that
reaches one check: the message a user sees (and whether it says "unsafe" or "malformed") is
part of what is tested, and each limit is tried at its value and one past it.
"""

from __future__ import annotations

import io
import re
import struct

import numpy as np
import pytest

from nnmnist.errors import UnsafeFileError, WeightsError
from nnmnist.io import picklefile
from nnmnist.io.picklefile import parse_pickle

# ---- a small assembler --------------------------------------------------------------------

MARK, TUPLE, T1, T2, T3 = b"(", b"t", b"\x85", b"\x86", b"\x87"
REDUCE, BUILD, NONE, TRUE, FALSE = b"R", b"b", b"N", b"\x88", b"\x89"
EMPTY_LIST, EMPTY_DICT, EMPTY_TUPLE = b"]", b"}", b")"
APPEND, APPENDS, SETITEM, SETITEMS = b"a", b"e", b"s", b"u"
DUP, POP_MARK, STACK_GLOBAL = b"2", b"1", b"\x93"


def s(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(raw)) + raw


def by(data: bytes) -> bytes:
    return b"B" + struct.pack("<I", len(data)) + data


def i(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def long1(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def put(n: int) -> bytes:
    return b"q" + bytes([n])


def get(n: int) -> bytes:
    return b"h" + bytes([n])


def g(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def P(*parts: bytes, proto: int = 3) -> bytes:
    return b"\x80" + bytes([proto]) + b"".join(parts) + b"."


def tup(*parts: bytes) -> bytes:
    return MARK + b"".join(parts) + TUPLE


DTYPE_TAIL = NONE * 3 + i(-1) + i(-1) + i(0)


def dtype_call(code: bytes = s("f4"), a: bytes = i(0), b: bytes = i(1)) -> bytes:
    """numpy.dtype(code, a, b) as NumPy pickles it: (code, 0, 1) unless told otherwise."""
    return g("numpy", "dtype") + code + a + b + T3 + REDUCE


def dtype(code: str = "f4", order: str = "<", state: bytes | None = None) -> bytes:
    head = dtype_call(s(code))
    return head + (tup(i(3), s(order), DTYPE_TAIL) if state is None else state) + BUILD


def reconstruct(
    cls: bytes = g("numpy", "ndarray"),
    axes: bytes = i(0) + T1,
    tag: bytes = by(b"b"),
    pack: bytes = T3,
) -> bytes:
    """_reconstruct(ndarray, (0,), b'b') as NumPy pickles it, unless told otherwise."""
    return g("numpy.core.multiarray", "_reconstruct") + cls + axes + tag + pack + REDUCE


NOT_RECONSTRUCT = (
    "numpy.core.multiarray._reconstruct with arguments other than NumPy's (ndarray, (0,), b'b')"
)


def shape_of(shape: tuple[int, ...]) -> bytes:
    return tup(*(i(d) for d in shape))


def array(
    shape: tuple[int, ...] = (2,),
    data: bytes | None = None,
    dt: bytes | None = None,
    fortran: bytes = FALSE,
    state: bytes | None = None,
) -> bytes:
    data = np.arange(int(np.prod(shape)), dtype="<f4").tobytes() if data is None else data
    body = tup(i(1), shape_of(shape), dt or dtype(), fortran, by(data))
    return reconstruct() + (body if state is None else state) + BUILD


def frombuffer(data: bytes, dt: bytes, shape: bytes, order: bytes) -> bytes:
    return g("numpy._core.numeric", "_frombuffer") + tup(by(data), dt, shape, order) + REDUCE


def refusal(data: bytes | io.BytesIO, **kw) -> tuple[type, str]:
    with pytest.raises((UnsafeFileError, WeightsError)) as info:
        parse_pickle(data, **kw)
    return type(info.value), str(info.value)


def where(message: str) -> tuple[str, str]:
    """(what, opcode) of 'what (OPCODE at byte N)'."""
    m = re.fullmatch(r"(.*) \((\S+) at byte \d+\)", message, re.DOTALL)
    assert m, message
    return m.group(1), m.group(2)


# ---- refusals, with the exact words and the kind of error ----------------------------------

U, W = UnsafeFileError, WeightsError
BAD_DTYPE_STATE = "a dtype 'f4' with a BUILD state NumPy does not write"
TWO_FLOATS = np.array([0, 1], "<f4").tobytes()

CASES = {
    # dtype BUILD states
    "dtype state too short": (
        dtype(state=tup(i(3), s("<"), NONE * 3, i(-1), i(-1))),
        U,
        BAD_DTYPE_STATE,
        "BUILD",
    ),
    "dtype state version 4": (
        dtype(state=tup(i(4), s("<"), DTYPE_TAIL)),
        U,
        BAD_DTYPE_STATE,
        "BUILD",
    ),
    "dtype state a list": (dtype(state=EMPTY_LIST), U, BAD_DTYPE_STATE, "BUILD"),
    "dtype byte order x": (
        dtype(order="x"),
        U,
        BAD_DTYPE_STATE + " for it",
        "BUILD",
    ),
    "dtype tail changed": (
        dtype(state=tup(i(3), s("<"), NONE * 3, i(-1), i(-1), i(1))),
        U,
        BAD_DTYPE_STATE + " for it",
        "BUILD",
    ),
    "f4 without a byte order": (
        dtype(order="|"),
        U,
        "a dtype 'f4' without a byte order",
        "BUILD",
    ),
    # REDUCE
    "REDUCE of a str": (
        s("x") + EMPTY_TUPLE + REDUCE,
        U,
        "REDUCE of a str, which is not a callable it knows",
        "REDUCE",
    ),
    "REDUCE with a str argument": (
        g("numpy", "dtype") + s("f4") + REDUCE,
        U,
        "REDUCE of numpy.dtype with arguments that are not a tuple",
        "REDUCE",
    ),
    "encode utf-8": (
        g("_codecs", "encode") + s("abc") + s("utf-8") + T2 + REDUCE,
        U,
        "_codecs.encode with arguments other than (text, 'latin1')",
        "REDUCE",
    ),
    "encode past latin-1": (
        g("_codecs", "encode") + s("a\u0100") + s("latin1") + T2 + REDUCE,
        U,
        "_codecs.encode with arguments other than (text, 'latin1')",
        "REDUCE",
    ),
    "encode one argument": (
        g("_codecs", "encode") + s("abc") + T1 + REDUCE,
        U,
        "_codecs.encode with arguments other than (text, 'latin1')",
        "REDUCE",
    ),
    "bytes with an argument": (
        g("builtins", "bytes") + s("x") + T1 + REDUCE,
        U,
        "builtins.bytes with arguments",
        "REDUCE",
    ),
    "ndarray itself": (
        g("numpy", "ndarray") + EMPTY_TUPLE + REDUCE,
        U,
        "REDUCE of numpy.ndarray",
        "REDUCE",
    ),
    "dtype code too long": (
        dtype_call(s("V" * 30)),
        U,
        f"dtype {'V' * 20!r}, which is not a plain numeric dtype",
        "REDUCE",
    ),
    "dtype complex": (
        dtype_call(s("c16")),
        U,
        "dtype 'c16', which is not a plain numeric dtype",
        "REDUCE",
    ),
    "GLOBAL with spaces, long names": (
        g("m" * 150 + " x", "n" * 150),
        U,
        f"the pickle asks for {'m' * 100}.{('x ' + 'n' * 150)[:100]}",
        "GLOBAL",
    ),
    "STACK_GLOBAL of an int": (
        i(1) + s("x") + STACK_GLOBAL,
        U,
        "STACK_GLOBAL with names that are not strings",
        "STACK_GLOBAL",
    ),
    "STACK_GLOBAL of a str and an int": (
        s("x") + i(1) + STACK_GLOBAL,
        U,
        "STACK_GLOBAL with names that are not strings",
        "STACK_GLOBAL",
    ),
    # BUILD
    "BUILD on a dict": (EMPTY_DICT + EMPTY_TUPLE + BUILD, U, "BUILD on a Dict", "BUILD"),
    "BUILD on a list": (EMPTY_LIST + EMPTY_TUPLE + BUILD, U, "BUILD on a List", "BUILD"),
    "BUILD on an int": (i(1) + EMPTY_TUPLE + BUILD, U, "BUILD on a int", "BUILD"),
    "array state of four": (
        array(state=tup(i(1), shape_of((2,)), dtype(), FALSE)),
        U,
        "an array with a BUILD state NumPy does not write",
        "BUILD",
    ),
    "array state version 2": (
        array(state=tup(i(2), shape_of((2,)), dtype(), FALSE, by(TWO_FLOATS))),
        U,
        "an array with a BUILD state NumPy does not write",
        "BUILD",
    ),
    "array dtype a str": (
        array(dt=s("f4")),
        U,
        "an array whose dtype is not a plain numeric NumPy dtype",
        "BUILD",
    ),
    "array dtype not built": (
        array(dt=dtype_call()),
        U,
        "an array whose dtype is not a plain numeric NumPy dtype",
        "BUILD",
    ),
    "array built twice": (
        array() + EMPTY_TUPLE + BUILD,
        U,
        "BUILD on a Array",
        "BUILD",
    ),
    "array shape of nine axes": (
        array(shape=(1,) * 9),
        U,
        f"an array shape that is not up to 8 integers from 0 to {(1 << 31) - 1:,}",
        "BUILD",
    ),
    "array data an int": (
        array(state=tup(i(1), shape_of((2,)), dtype(), FALSE, i(5))),
        U,
        "array data that is not bytes (an object array needs code to load)",
        "BUILD",
    ),
    "array data text past latin-1": (
        array(state=tup(i(1), shape_of((1,)), dtype("u2"), FALSE, s("\u0100"))),
        U,
        "array data that is not bytes",
        "BUILD",
    ),
    "array order 2": (
        array(fortran=i(2)),
        U,
        "an array order that is neither C nor Fortran",
        "BUILD",
    ),
    "array data short": (
        array(data=TWO_FLOATS[:-1]),
        W,
        "an array of shape (2,) and dtype float32 needs 8 bytes but holds 7",
        "BUILD",
    ),
    "reconstruct of another type": (
        reconstruct(cls=g("numpy", "dtype")),
        U,
        NOT_RECONSTRUCT,
        "REDUCE",
    ),
    "reconstruct with (1,)": (reconstruct(axes=i(1) + T1), U, NOT_RECONSTRUCT, "REDUCE"),
    "reconstruct with b'c'": (reconstruct(tag=by(b"c")), U, NOT_RECONSTRUCT, "REDUCE"),
    "reconstruct with two arguments": (reconstruct(tag=b"", pack=T2), U, NOT_RECONSTRUCT, "REDUCE"),
    "reconstruct of a str": (reconstruct(cls=s("numpy.ndarray")), U, NOT_RECONSTRUCT, "REDUCE"),
    "dtype (f4, 0, 2)": (
        dtype_call(b=i(2)),
        U,
        "numpy.dtype with arguments other than (code, 0, 1)",
        "REDUCE",
    ),
    "dtype (f4, 1, 1)": (
        dtype_call(a=i(1)),
        U,
        "numpy.dtype with arguments other than (code, 0, 1)",
        "REDUCE",
    ),
    "dtype (5, 0, 1)": (
        dtype_call(i(5)),
        U,
        "numpy.dtype with arguments other than (code, 0, 1)",
        "REDUCE",
    ),
    "dtype of an array argument": (
        dtype_call(a=array()),
        U,
        "numpy.dtype with arguments other than (code, 0, 1)",
        "REDUCE",
    ),
    "frombuffer with a str dtype": (
        frombuffer(TWO_FLOATS, s("f4"), shape_of((2,)), s("C")),
        U,
        "numpy._core.numeric._frombuffer with arguments other than (bytes, dtype, shape, order)",
        "REDUCE",
    ),
    "frombuffer order K": (
        frombuffer(TWO_FLOATS, dtype(), shape_of((2,)), s("K")),
        U,
        "numpy._core.numeric._frombuffer with arguments other than (bytes, dtype, shape, order)",
        "REDUCE",
    ),
    "frombuffer three arguments": (
        g("numpy._core.numeric", "_frombuffer")
        + tup(by(TWO_FLOATS), dtype(), shape_of((2,)))
        + REDUCE,
        U,
        "numpy._core.numeric._frombuffer with arguments other than (bytes, dtype, shape, order)",
        "REDUCE",
    ),
    "frombuffer dtype not built": (
        frombuffer(
            TWO_FLOATS,
            dtype_call(),
            shape_of((2,)),
            s("C"),
        ),
        U,
        "an array whose dtype has no byte order yet",
        "REDUCE",
    ),
    # the stack machine
    "TUPLE without a MARK": (i(1) + TUPLE, W, "a MARK is missing", "TUPLE"),
    "TUPLE1 on an empty stack": (T1, W, "the stack is empty", "TUPLE1"),
    "DUP on an empty stack": (DUP, W, "the stack is empty", "DUP"),
    "SETITEM on a list": (
        EMPTY_LIST + s("k") + i(1) + SETITEM,
        U,
        "SETITEM on something that is not a dict",
        "SETITEM",
    ),
    "SETITEMS of three": (
        EMPTY_DICT + MARK + s("k") + i(1) + s("j") + SETITEMS,
        U,
        "SETITEM on something that is not a dict",
        "SETITEMS",
    ),
    "a dict key that is an int": (
        EMPTY_DICT + i(1) + i(1) + SETITEM,
        U,
        "a dict key of type int",
        "SETITEM",
    ),
    "a dict key that is a list": (
        EMPTY_DICT + EMPTY_LIST + i(1) + SETITEM,
        U,
        "a dict key of type List",
        "SETITEM",
    ),
    "APPEND to a dict": (
        EMPTY_DICT + i(1) + APPEND,
        U,
        "APPEND to something that is not a list",
        "APPEND",
    ),
    "a negative PUT": (i(1) + b"p-1\n", W, "a negative memo index", "PUT"),
    "GET before PUT": (get(3), W, "memo entry 3 is used before it is stored", "BINGET"),
    "protocol 6": (b"", W, "pickle protocol 6", "PROTO"),
    "an integer of 65 bits": (long1(1 << 64), W, "an integer of 65 bits", "LONG1"),
    "a persistent id": (s("x") + b"Q", U, "a persistent id", "BINPERSID"),
    "a set": (b"\x8f", U, "a set", "EMPTY_SET"),
    # what the stream leaves
    "two values left": (
        i(1) + i(2),
        W,
        "the stream ends with a stack that is not one value",
        "STOP",
    ),
    "a list that holds itself": (
        EMPTY_LIST + put(0) + get(0) + APPEND,
        W,
        "a container that contains itself",
        "STOP",
    ),
    "a bare dtype": (dtype(), U, "a dtype outside an array", "STOP"),
    "an array never built": (
        reconstruct(),
        U,
        "an array without its data (no BUILD)",
        "STOP",
    ),
    "a bare global": (g("numpy", "dtype"), U, "a bare reference to numpy.dtype", "STOP"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_says_exactly_what_and_where(case):
    stream, kind, what, opcode = CASES[case]
    data = P(stream, proto=6) if case == "protocol 6" else P(stream)
    got_kind, message = refusal(data)
    assert (got_kind, where(message)) == (kind, (what, opcode))


def test_the_byte_offset_is_the_opcode_s_own():
    """The first opcode is at byte 0 (a PROTO 6), a later one at its own offset, and a stream
    broken inside an opcode gives the byte where reading stopped, and no opcode."""
    assert refusal(P(proto=6)) == (W, "pickle protocol 6 (PROTO at byte 0)")
    assert refusal(P(i(1) + i(2))) == (
        W,
        "the stream ends with a stack that is not one value (STOP at byte 12)",
    )
    kind, message = refusal(b"\xff")
    assert kind is W and re.fullmatch(r"[^()]*\(at byte 1\)", message), message


def test_a_stream_cut_short_in_a_file_names_the_byte_from_its_own_start():
    """Offsets count from where the pickle starts in the file, not from the file's start."""
    data = P(by(b"x" * 20))
    f = io.BytesIO(b"junk" + data[:-6])
    f.seek(4)
    assert refusal(f) == (W, "expected 20 bytes in a bytes4, but only 15 remain (at byte 22)")


# ---- what is accepted, at each limit -------------------------------------------------------


def test_values_the_parser_builds_itself():
    assert parse_pickle(P(i(1) + DUP + T2)) == (1, 1)
    assert parse_pickle(P(MARK + i(1) + POP_MARK + i(2))) == 2
    assert parse_pickle(P(i(7) + put(5) + get(5) + T2)) == (7, 7)
    assert parse_pickle(P(i(7) + b"\x94" + get(0) + T2, proto=4)) == (7, 7)
    assert (
        parse_pickle(P(g("_codecs", "encode") + s("a\xff") + s("latin1") + T2 + REDUCE)) == b"a\xff"
    )
    assert parse_pickle(P(g("_codecs", "encode") + s("ab") + s("latin-1") + T2 + REDUCE)) == b"ab"
    assert parse_pickle(P(g("_codecs", "encode") + s("") + s("latin1") + T2 + REDUCE)) == b""
    assert parse_pickle(P(g("builtins", "bytes") + EMPTY_TUPLE + REDUCE)) == b""
    assert parse_pickle(P(EMPTY_DICT + s("k") + long1((1 << 63) - 1) + SETITEM)) == {
        "k": (1 << 63) - 1
    }
    assert parse_pickle(P(long1(-(1 << 63)))) == -(1 << 63)
    for proto in (0, 5):
        assert parse_pickle(P(i(3), proto=proto)) == 3


@pytest.mark.parametrize(
    ("code", "order", "expected"),
    [
        ("u1", "|", np.uint8),
        ("i1", "|", np.int8),
        ("f4", "=", np.float32),
        ("f8", ">", np.float64),
        ("i2", "<", np.int16),
    ],
)
def test_each_byte_order_numpy_writes(code, order, expected):
    data = np.array([1, 2], np.dtype(("=" if order == "|" else order) + code)).tobytes()
    a = parse_pickle(P(array(data=data, dt=dtype(code, order))))
    assert a.dtype == expected and a.dtype.isnative and a.tolist() == [1, 2]


def test_arrays_in_both_orders_and_both_forms():
    data = np.arange(6, dtype="<f4").tobytes()
    c = parse_pickle(P(array(shape=(2, 3), data=data)))
    f = parse_pickle(P(array(shape=(2, 3), data=data, fortran=TRUE)))
    assert c.tolist() == [[0, 1, 2], [3, 4, 5]] and f.tolist() == [[0, 2, 4], [1, 3, 5]]
    assert c.flags.c_contiguous and f.flags.c_contiguous and c.flags.owndata
    fb = parse_pickle(P(frombuffer(data, dtype(), shape_of((2, 3)), s("F")), proto=5))
    assert fb.tolist() == f.tolist()
    # Python 2 pickles keep array bytes as latin-1 text
    text = np.array([1.0], "<f4").tobytes().decode("latin-1")
    old = array(state=tup(i(1), shape_of((1,)), dtype(), FALSE, s(text)))
    assert parse_pickle(P(old)).tolist() == [1.0]
    assert parse_pickle(P(array(shape=(1,) * 8, data=TWO_FLOATS[:4]))).shape == (1,) * 8


def test_array_sizes_at_the_cap_and_one_past(monkeypatch):
    monkeypatch.setattr(picklefile, "MAX_ELEMENTS", 8)
    eight = np.zeros(8, "<f4").tobytes()
    assert parse_pickle(P(array(shape=(8, 1), data=eight))).shape == (8, 1)
    assert parse_pickle(P(array(shape=(8,), data=eight))).shape == (8,)
    assert refusal(P(array(shape=(0, 9), data=b""))) == (
        W,
        "an array of shape (0, 9): more than 8 values (BUILD at byte 156)",
    )


def test_the_element_budget_is_shared_by_all_arrays():
    six = np.zeros(6, "<f4").tobytes()
    assert parse_pickle(P(array((6,), six)), max_elements=6).shape == (6,)
    kind, message = refusal(P(array((6,), six) + array((6,), six) + T2), max_elements=10)
    assert kind is W and where(message)[0].startswith("arrays of more than"), message


def test_container_sizes_at_the_cap_and_one_past(monkeypatch):
    monkeypatch.setattr(picklefile, "MAX_ITEMS", 4)
    four = i(1) * 4
    assert parse_pickle(P(MARK + four + TUPLE)) == (1,) * 4
    assert where(refusal(P(MARK + four + i(1) + TUPLE))[1]) == (
        "more than 4 items in one container",
        "TUPLE",
    )
    pairs = s("a") + i(1) + s("b") + i(2)
    dict4 = EMPTY_DICT + MARK + pairs + SETITEMS + MARK + s("c") + i(3) + s("d") + i(4) + SETITEMS
    assert parse_pickle(P(dict4)) == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert where(refusal(P(dict4 + s("e") + i(5) + SETITEM))[1]) == (
        "a dict of more than 4 entries",
        "SETITEM",
    )
    list4 = EMPTY_LIST + MARK + four + APPENDS
    assert parse_pickle(P(list4)) == [1] * 4
    assert where(refusal(P(list4 + i(1) + APPEND))[1]) == ("a list of more than 4 items", "APPEND")


def test_the_value_count_at_the_cap_and_one_past(monkeypatch):
    monkeypatch.setattr(picklefile, "MAX_VALUES", 5)
    assert parse_pickle(P(MARK + i(1) * 4 + TUPLE)) == (1,) * 4  # the tuple and four ints
    kind, message = refusal(P(MARK + i(1) * 5 + TUPLE))
    assert kind is W and where(message)[0].startswith("more than 5 values once"), message


def test_the_opcode_count_at_the_cap_and_one_past(monkeypatch):
    monkeypatch.setattr(picklefile, "MAX_OPCODES", 5)
    assert parse_pickle(P(i(1) + i(2) + T2)) == (1, 2)  # PROTO, 2 x BININT, TUPLE2, STOP
    assert where(refusal(P(i(1) + i(2) + i(3) + T3))[1]) == ("more than 5 opcodes", "STOP")


def test_a_file_is_read_from_its_position_up_to_its_limit():
    data = P(EMPTY_DICT + s("k") + by(b"x" * 20) + SETITEM + g("numpy", "dtype") + b"0")
    for blank in (b"", b"\x00" * 4):  # an empty BINBYTES asks the stream for 0 bytes
        f = io.BytesIO(b"junk" + data + blank)
        f.seek(4)
        assert parse_pickle(f, limit=len(data)) == {"k": b"x" * 20}
    f = io.BytesIO(b"junk" + data)
    f.seek(4)
    assert parse_pickle(f) == {"k": b"x" * 20}  # no limit given
    assert parse_pickle(io.BytesIO(P(by(b"")))) == b""
    f = io.BytesIO(b"junk" + data)
    f.seek(4)
    kind, message = refusal(f, limit=len(data) - 1)
    assert kind is W and f"the stream is longer than {len(data) - 1:,} bytes" in message, message
