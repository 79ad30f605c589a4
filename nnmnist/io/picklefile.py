"""Read weight pickles by parsing their opcodes: nothing in the file is ever called.

A pickle is a small program for a stack machine; pickle.load runs it, and every callable it
names is called with arguments the file chooses. Allow-listing the callables is not enough: the
ones NumPy needs (numpy.dtype, _reconstruct, _frombuffer, ...) turn file bytes into pointers and
strides when they are given the wrong arguments. So this module never calls them. It walks the
opcode stream with pickletools.genops (which decodes arguments and runs nothing), builds plain
values (dict, list, tuple, str, bytes, int, float, bool, None) itself, and recognises the exact
shapes in which NumPy 1.x and 2.x pickle a plain numeric array (protocols 0 to 5):

    _reconstruct(ndarray, (0,), b'b') + BUILD (1, shape, dtype, fortran, data)   protocols 0-4
    _frombuffer(data, dtype, shape, order)                                       protocol 5
    dtype(code, 0, 1) + BUILD (3, byteorder, None, None, None, -1, -1, 0)        every protocol
    _codecs.encode(text, 'latin1') and bytes()                                   bytes, 0-2

The array is then made by nnmnist's own code (np.frombuffer on the checked bytes, reshaped and
copied). Anything else (another global, REDUCE of anything but these shapes, other BUILD states,
object/structured dtypes, persistent ids, extensions, out-of-band buffers) is refused with the
opcode and its offset. Limits hold as the stream is read: the number of opcodes, container sizes,
memo references to objects already seen, integer sizes, and, when values are assembled, depth
and the total number of values. A memo reference lets a few bytes name a container many times
over (28 levels of 10 references each are 10^28 values once written out as a tree, which is
what the weight checks, JSON and the terminal see), so the tree's size is counted first, each
shared node once, in time linear in the stream, and a pickle past MAX_VALUES is refused before
one value is built.
"""

from __future__ import annotations

import io
import math
import pickletools
import warnings
from collections.abc import Iterator
from typing import IO, Any

import numpy as np

from nnmnist.errors import UnsafeFileError, WeightsError

MAX_OPCODES = 2_000_000  # a weight file needs a few hundred
MAX_ITEMS = 100_000  # entries in any one dict, list or tuple
MAX_DEPTH = 32  # containers inside containers
MAX_VALUES = 1_000_000  # values in the assembled tree, each memo reference counted in full
MAX_NDIM = 8
MAX_INT_BITS = 64
MAX_DIM = (1 << 31) - 1  # one axis of an array
MAX_ELEMENTS = 16_000_000  # in all arrays together (arch.MAX_PARAMETERS), checked before each

_RECONSTRUCT = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}
_FROMBUFFER = {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")}
_NDARRAY = ("numpy", "ndarray")
_DTYPE = ("numpy", "dtype")
_ENCODE = ("_codecs", "encode")
_BYTES = {("__builtin__", "bytes"), ("builtins", "bytes")}  # bytes(): empty data, protocols 0-2
KNOWN_GLOBALS = _RECONSTRUCT | _FROMBUFFER | _BYTES | {_NDARRAY, _DTYPE, _ENCODE}

# dtype codes a weight file may use. Integers are read so that the weight checks can name the
# array and say they are refused; anything else (bool, complex, object, strings, dates, void,
# structured) is refused here.
FLOAT_CODES = ("f2", "f4", "f8")
INT_CODES = ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8")
_DTYPE_STATE_TAIL = (None, None, None, -1, -1, 0)

# opcodes with no business in a weight file: refused by name
_REFUSED = {
    "PERSID": "a persistent id",
    "BINPERSID": "a persistent id",
    "EXT1": "an extension code",
    "EXT2": "an extension code",
    "EXT4": "an extension code",
    "INST": "an object construction",
    "OBJ": "an object construction",
    "NEWOBJ": "an object construction",
    "NEWOBJ_EX": "an object construction",
    "NEXT_BUFFER": "an out-of-band buffer",
    "READONLY_BUFFER": "an out-of-band buffer",
    "EMPTY_SET": "a set",
    "ADDITEMS": "a set",
    "FROZENSET": "a frozenset",
}


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.name)

    def __str__(self) -> str:
        return f"{self.module}.{self.name}"


class _List:
    def __init__(self, items: list[Any] | None = None) -> None:
        self.items = items or []


class _Dict:
    def __init__(self) -> None:
        self.items: dict[str, Any] = {}


class _Dtype:
    """numpy.dtype(code, 0, 1) seen; usable once its BUILD state has given the byte order."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.dtype: np.dtype[Any] | None = None


class _Array:
    """_reconstruct(ndarray, (0,), b'b') seen; the array comes with its BUILD state."""

    def __init__(self) -> None:
        self.array: np.ndarray[Any, Any] | None = None


class _Refused(Exception):
    """Raised inside the parser; turned into UnsafeFileError / WeightsError with the offset
    (placed: the message gives its own, for a stream that breaks inside an opcode)."""

    def __init__(self, message: str, unsafe: bool = True, placed: bool = False) -> None:
        super().__init__(message)
        self.unsafe, self.placed = unsafe, placed


def _malformed(message: str) -> _Refused:
    return _Refused(message, unsafe=False)


_SCALARS = (int, bool, float, str, bytes, type(None))


def _same(a: Any, b: Any) -> bool:
    """a equals b, where b is a constant: compared without calling anything the file made
    (an array's == would compare element by element)."""
    if isinstance(b, tuple):
        return (
            type(a) is tuple and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # noqa: B905
        )
    return type(a) in _SCALARS and a == b


def _one_of(a: Any, *options: Any) -> bool:
    return any(_same(a, b) for b in options)


def _make_dtype(code: str, state: Any) -> np.dtype[Any]:
    if not (type(state) is tuple and len(state) == 8 and _same(state[0], 3)):
        raise _Refused(f"a dtype {code!r} with a BUILD state NumPy does not write")
    order = state[1]
    if not _same(state[2:], _DTYPE_STATE_TAIL) or not _one_of(order, "<", ">", "|", "="):
        raise _Refused(f"a dtype {code!r} with a BUILD state NumPy does not write for it")
    if order == "|" and code[1:] != "1":
        raise _Refused(f"a dtype {code!r} without a byte order")
    # Both parts come from fixed tables above, never from the file's text.
    return np.dtype(("=" if order == "|" else order) + code)


class _Budget:
    """Array elements the rest of the stream may still build (all arrays together)."""

    def __init__(self, elements: int) -> None:
        self.left = elements

    def take(self, count: int) -> None:
        if count > self.left:
            raise _malformed(f"arrays of more than {MAX_ELEMENTS:,} values in all")
        self.left -= count


def _make_array(
    shape: Any, dtype: np.dtype[Any], fortran: Any, data: Any, budget: _Budget
) -> np.ndarray[Any, Any]:
    if not (
        isinstance(shape, tuple)
        and len(shape) <= MAX_NDIM
        and all(type(d) is int and 0 <= d <= MAX_DIM for d in shape)
    ):
        raise _Refused(
            f"an array shape that is not up to {MAX_NDIM} integers from 0 to {MAX_DIM:,}"
        )
    if math.prod(max(d, 1) for d in shape) > MAX_ELEMENTS:  # zero-size with huge sides too
        raise _malformed(f"an array of shape {shape}: more than {MAX_ELEMENTS:,} values")
    if isinstance(data, str):  # protocol 0-2 pickles made by Python 2 keep bytes as str
        try:
            data = data.encode("latin-1")
        except UnicodeEncodeError:
            raise _Refused("array data that is not bytes") from None
    if not isinstance(data, bytes | bytearray):
        raise _Refused("array data that is not bytes (an object array needs code to load)")
    if not _one_of(fortran, True, False):
        raise _Refused("an array order that is neither C nor Fortran")
    count = math.prod(shape)
    budget.take(count)
    if count * dtype.itemsize != len(data):
        raise _malformed(
            f"an array of shape {shape} and dtype {dtype} needs {count * dtype.itemsize:,} "
            f"bytes but holds {len(data):,}"
        )
    flat = np.frombuffer(data, dtype=dtype, count=count)
    a = flat.reshape(shape, order="F" if fortran else "C")
    # A copy owned by nnmnist, C-ordered, in this machine's byte order.
    return a.astype(dtype.newbyteorder("="), order="C", copy=True)


def _reduce(func: Any, args: Any, budget: _Budget) -> Any:
    if not isinstance(func, _Global):
        raise _Refused(f"REDUCE of a {type(func).__name__}, which is not a callable it knows")
    if not isinstance(args, tuple):
        raise _Refused(f"REDUCE of {func} with arguments that are not a tuple")
    if func.key == _ENCODE:
        if (
            len(args) == 2
            and isinstance(args[0], str)
            and _one_of(args[1], "latin1", "latin-1")
            and max(args[0], default="\0") <= "\xff"
        ):
            return args[0].encode("latin-1")
        raise _Refused("_codecs.encode with arguments other than (text, 'latin1')")
    if func.key in _BYTES:
        if args == ():
            return b""
        raise _Refused(f"{func} with arguments")
    if func.key in _RECONSTRUCT:
        if (
            len(args) == 3
            and isinstance(args[0], _Global)
            and args[0].key == _NDARRAY
            and _same(args[1], (0,))
            and _same(args[2], b"b")
        ):
            return _Array()
        raise _Refused(f"{func} with arguments other than NumPy's (ndarray, (0,), b'b')")
    if func.key == _DTYPE:
        if len(args) == 3 and isinstance(args[0], str) and _same(args[1], 0) and _same(args[2], 1):
            if args[0] in FLOAT_CODES or args[0] in INT_CODES:
                return _Dtype(args[0])
            raise _Refused(f"dtype {args[0][:20]!r}, which is not a plain numeric dtype")
        raise _Refused("numpy.dtype with arguments other than (code, 0, 1)")
    if func.key in _FROMBUFFER:
        if len(args) == 4 and isinstance(args[1], _Dtype) and _one_of(args[3], "C", "F"):
            if args[1].dtype is None:
                raise _Refused("an array whose dtype has no byte order yet")
            return _make_array(args[2], args[1].dtype, _same(args[3], "F"), args[0], budget)
        raise _Refused(f"{func} with arguments other than (bytes, dtype, shape, order)")
    raise _Refused(f"REDUCE of {func}")  # numpy.ndarray itself: its arguments are strides


def _build(obj: Any, state: Any, budget: _Budget) -> None:
    if isinstance(obj, _Dtype) and obj.dtype is None:
        obj.dtype = _make_dtype(obj.code, state)
    elif isinstance(obj, _Array) and obj.array is None:
        if not (type(state) is tuple and len(state) == 5 and _same(state[0], 1)):
            raise _Refused("an array with a BUILD state NumPy does not write")
        _, shape, dtype, fortran, data = state
        if not isinstance(dtype, _Dtype) or dtype.dtype is None:
            raise _Refused("an array whose dtype is not a plain numeric NumPy dtype")
        obj.array = _make_array(shape, dtype.dtype, fortran, data, budget)
    else:
        raise _Refused(f"BUILD on a {type(obj).__name__.lstrip('_')}")


def _check_int(value: Any) -> Any:
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise _malformed(f"an integer of {value.bit_length()} bits")
    return value


class _Machine:
    """The pickle stack machine, with values for data and markers for everything else."""

    def __init__(self, max_elements: int = MAX_ELEMENTS) -> None:
        self.stack: list[Any] = []
        self.marks: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.budget = _Budget(max_elements)

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise _malformed("a MARK is missing")
        items, self.stack = self.stack, self.marks.pop()
        if len(items) > MAX_ITEMS:
            raise _malformed(f"more than {MAX_ITEMS:,} items in one container")
        return items

    def pop(self, n: int = 1) -> list[Any]:
        if len(self.stack) < n:
            raise _malformed("the stack is empty")
        items = self.stack[-n:]
        del self.stack[-n:]
        return items

    def top(self) -> Any:
        if not self.stack:
            raise _malformed("the stack is empty")
        return self.stack[-1]

    def setitems(self, target: Any, items: list[Any]) -> None:
        if not isinstance(target, _Dict) or len(items) % 2:
            raise _Refused("SETITEM on something that is not a dict")
        if len(target.items) + len(items) // 2 > MAX_ITEMS:
            raise _malformed(f"a dict of more than {MAX_ITEMS:,} entries")
        for k, v in zip(items[0::2], items[1::2], strict=True):
            if not isinstance(k, str):
                raise _Refused(f"a dict key of type {type(k).__name__.lstrip('_')}")
            target.items[k] = v

    def append(self, target: Any, items: list[Any]) -> None:
        if not isinstance(target, _List):
            raise _Refused("APPEND to something that is not a list")
        if len(target.items) + len(items) > MAX_ITEMS:
            raise _malformed(f"a list of more than {MAX_ITEMS:,} items")
        target.items.extend(items)

    def step(self, name: str, arg: Any) -> None:  # noqa: C901 - one branch per opcode family
        stack = self.stack
        if name in _REFUSED:
            raise _Refused(_REFUSED[name])
        if name in ("PROTO", "FRAME"):
            if name == "PROTO" and not 0 <= arg <= 5:
                raise _malformed(f"pickle protocol {arg}")
        elif name == "MARK":
            self.marks.append(stack)
            self.stack = []
        elif name == "STOP":
            pass
        elif name == "POP":
            if stack:
                stack.pop()
            else:  # as pickle does: POP right after MARK drops the mark
                self.pop_mark()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            stack.append(self.top())
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
            else:
                module, attr = self.pop(2)
                if not (isinstance(module, str) and isinstance(attr, str)):
                    raise _Refused("STACK_GLOBAL with names that are not strings")
            if (module, attr) not in KNOWN_GLOBALS:
                raise _Refused(f"the pickle asks for {module[:100]}.{attr[:100]}")
            stack.append(_Global(module, attr))
        elif name == "REDUCE":
            func, args = self.pop(2)
            stack.append(_reduce(func, args, self.budget))
        elif name == "BUILD":
            (state,) = self.pop()
            _build(self.top(), state, self.budget)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            index = len(self.memo) if name == "MEMOIZE" else arg
            if type(index) is not int or index < 0:
                raise _malformed("a negative memo index")
            self.memo[index] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _malformed(f"memo entry {arg} is used before it is stored")
            stack.append(self.memo[arg])
        elif name == "EMPTY_DICT":
            stack.append(_Dict())
        elif name == "DICT":
            d = _Dict()
            self.setitems(d, self.pop_mark())
            self.stack.append(d)
        elif name in ("SETITEM", "SETITEMS"):
            items = self.pop(2) if name == "SETITEM" else self.pop_mark()
            self.setitems(self.top(), items)
        elif name == "EMPTY_LIST":
            stack.append(_List())
        elif name == "LIST":
            items = self.pop_mark()
            self.stack.append(_List(items))
        elif name in ("APPEND", "APPENDS"):
            items = self.pop() if name == "APPEND" else self.pop_mark()
            self.append(self.top(), items)
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            stack.append(tuple(self.pop(int(name[-1]))))
        elif name == "TUPLE":
            items = self.pop_mark()
            self.stack.append(tuple(items))
        elif name == "NONE":
            stack.append(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(name == "NEWTRUE")
        elif name in ("BYTEARRAY8",):
            stack.append(bytes(arg))
        elif isinstance(arg, str | bytes | int | float):  # every other opcode pushes its argument
            stack.append(_check_int(arg))
        else:  # pragma: no cover - pickletools decodes no other kind
            raise _Refused(name)


def _tree_size(root: Any) -> int:
    """How many values assembling root writes out (a shared node counted each time it is
    used), computed once per node; _Refused past MAX_DEPTH, on a cycle, or past MAX_VALUES."""
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int, path: frozenset[int]) -> int:
        children: Any
        if isinstance(node, _Dict):
            children = node.items.values()
        elif isinstance(node, _List):
            children = node.items
        elif isinstance(node, tuple):
            children = node
        else:
            return 1
        if depth >= MAX_DEPTH:
            raise _malformed(f"containers nested more than {MAX_DEPTH} deep")
        key = id(node)
        if key in path:
            raise _malformed("a container that contains itself")
        if key not in sizes:
            inner = path | {key}
            total = 1
            for child in children:
                total += size(child, depth + 1, inner)
                if total > MAX_VALUES:
                    raise _malformed(
                        f"more than {MAX_VALUES:,} values once its memo references are "
                        "followed (containers shared many times over)"
                    )
            sizes[key] = total
        return sizes[key]

    return size(root, 0, frozenset())


def _value(node: Any) -> Any:
    """Assemble plain values from the parser's nodes (their number bounded by _tree_size
    first): no markers, every container a new one."""
    if isinstance(node, str | bytes | int | float | type(None) | np.ndarray):
        return node
    if isinstance(node, _Dict):
        return {k: _value(v) for k, v in node.items.items()}
    if isinstance(node, _List):
        return [_value(v) for v in node.items]
    if isinstance(node, tuple):
        return tuple(_value(v) for v in node)
    if isinstance(node, _Array) and node.array is not None:
        return node.array
    if isinstance(node, _Global):
        raise _Refused(f"a bare reference to {node}")
    if isinstance(node, _Dtype):
        raise _Refused("a dtype outside an array")
    raise _Refused("an array without its data (no BUILD)")


class _Capped:
    """A binary file read by pickletools, refused past limit bytes (a file growing under us):
    arguments are read from the file as they come, so its bytes are never all in memory on
    top of the arrays built from them."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self.f, self.limit = f, limit
        self.start = f.tell()

    def _check(self) -> None:
        if self.f.tell() - self.start > self.limit:
            raise ValueError(f"the stream is longer than {self.limit:,} bytes")

    def read(self, n: int = -1) -> bytes:
        room = self.limit - (self.f.tell() - self.start) + 1
        data = self.f.read(room if n < 0 else min(n, room))
        self._check()
        return data

    def readline(self) -> bytes:
        data = self.f.readline(self.limit - (self.f.tell() - self.start) + 1)
        self._check()
        return data

    def tell(self) -> int:
        return self.f.tell() - self.start


def _ops(data: bytes | _Capped) -> Iterator[tuple[str, Any, int]]:
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with warnings.catch_warnings():  # escape_decode warns about odd escapes: not our output
            warnings.simplefilter("ignore")
            for opcode, arg, pos in pickletools.genops(stream):  # type: ignore[arg-type]
                yield opcode.name, arg, pos or 0
    except ValueError as exc:  # unknown opcode, truncated argument, a bad literal
        raise _Refused(f"{exc} (at byte {stream.tell()})", unsafe=False, placed=True) from None


def parse_pickle(
    data: bytes | IO[bytes], limit: int | None = None, max_elements: int = MAX_ELEMENTS
) -> Any:
    """The plain value a pickle describes, with NumPy arrays built by nnmnist. Runs nothing.

    data: the pickle's bytes, or a binary file positioned at its start (read as the opcodes
    come, at most limit bytes). max_elements: array values allowed in all, each array's
    count checked against its header before its data is copied. Raises UnsafeFileError for
    what a weight file never holds, WeightsError for a malformed or oversized stream; both
    name the opcode's byte offset.
    """
    machine = _Machine(max_elements)
    name, pos = "", 0  # set by each opcode; a stream broken inside one gives its own offset
    source = data if isinstance(data, bytes) else _Capped(data, limit or 1 << 62)
    try:
        for count, op in enumerate(_ops(source)):
            name, arg, pos = op  # name and pos stay for the error message
            if count >= MAX_OPCODES:
                raise _malformed(f"more than {MAX_OPCODES:,} opcodes")
            machine.step(name, arg)
        if name != "STOP":  # pragma: no cover - genops raises on a missing STOP
            raise _malformed("no STOP opcode")
        if machine.marks or len(machine.stack) != 1:
            raise _malformed("the stream ends with a stack that is not one value")
        _tree_size(machine.stack[0])
        return _value(machine.stack[0])
    except _Refused as exc:
        message = str(exc) if exc.placed else f"{exc} ({name} at byte {pos})"
        if exc.unsafe:
            raise UnsafeFileError(message) from None
        raise WeightsError(message) from None
    except RecursionError:  # pragma: no cover - depth is bounded above
        raise WeightsError("nested too deeply") from None
