"""The one reader and the .npy/.npz checks, in process: the exact message for each refusal,
each cap at its value and one past it, and how much a check reads (issue 26, item 8)."""

from __future__ import annotations

import io
import os
import socket
import stat
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nnmnist.errors import DataError, WeightsError
from nnmnist.io import npyfile, reading

# ---- reading.py ---------------------------------------------------------------------------


@pytest.fixture
def run():
    reading.start_run()
    yield reading.INPUTS
    reading.end_run()


def test_read_file_reads_whole_files_under_the_cap_and_counts_them_as_inputs(tmp_path, run):
    p = tmp_path / "w.pkl"
    p.write_bytes(b"x" * 10)
    assert reading.read_file(p, "w.pkl", DataError, 10) == b"x" * 10
    assert run == {(p.stat().st_dev, p.stat().st_ino)}
    run.clear()
    assert reading.read_file(p, "w.pkl", DataError, 10, register=False) == b"x" * 10
    assert run == set()
    with pytest.raises(DataError) as info:
        reading.read_file(p, "w.pkl", DataError, 9)
    assert str(info.value) == (
        "w.pkl: refused: 10 bytes is more than the 9 bytes allowed for this kind of file"
    )


def test_nothing_is_counted_once_the_run_ends(tmp_path):
    p = tmp_path / "w.pkl"
    p.write_bytes(b"x")
    reading.start_run()
    reading.end_run()
    reading.read_file(p, "w", DataError, 10)
    reading.register_inputs([str(p)])
    assert set() == reading.INPUTS


def _message(path, error=DataError) -> str:
    with pytest.raises(error) as info:
        reading.open_file(path, "it", error).close()
    assert type(info.value) is error
    return str(info.value)


def test_each_kind_of_file_that_is_not_regular_is_named(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    assert _message(tmp_path / "fifo") == "it: refused: a FIFO, not a regular file"
    assert _message("/dev/null", WeightsError) == "it: refused: a device, not a regular file"
    assert _message(tmp_path) == "it: is a folder, not a file"
    assert _message(tmp_path / "none") == "it: no such file"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock"))
        assert _message(tmp_path / "sock") == "it: not a regular file"
    finally:
        sock.close()
    assert _message(tmp_path / ("n" * 300)) == "it: cannot read (File name too long)"
    os.symlink("loop", tmp_path / "loop")
    assert _message(tmp_path / "loop") == "it: cannot read (Too many levels of symbolic links)"


def test_a_block_device_is_a_device():
    blocks = [p for p in Path("/dev").iterdir() if p.is_block_device() and os.access(p, os.R_OK)]
    if not blocks:
        pytest.skip("no readable block device on this machine")
    assert _message(blocks[0]) == "it: refused: a device, not a regular file"


def test_a_file_opened_for_reading_blocks_again(tmp_path):
    """It is opened without blocking (so a FIFO cannot hold the process), then read as usual."""
    p = tmp_path / "a"
    p.write_bytes(b"abc")
    with reading.open_file(p, "a", DataError) as f:
        import fcntl

        assert not fcntl.fcntl(f.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        assert stat.S_ISREG(os.fstat(f.fileno()).st_mode) and f.read() == b"abc"


class _Endless(io.RawIOBase):
    """An input with no end (stdin from /dev/zero): a read must say how much it wants."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        assert n is not None and n >= 0, "a read with no size on an endless stream"
        self.asked.append(n)
        return b"x" * n

    def readline(self, n: int | None = -1) -> bytes:
        return self.read(n)


def test_a_capped_read_asks_for_one_byte_past_the_cap_and_no_more():
    stream = _Endless()
    with pytest.raises(DataError) as info:
        reading.read_capped(stream, "stdin", DataError, 100)
    assert str(info.value) == (
        "stdin: refused: more than 100 bytes; nnmnist loads this kind of input whole"
    )
    assert stream.asked == [101]
    assert reading.read_capped(io.BytesIO(b"y" * 100), "s", DataError, 100) == b"y" * 100


def test_a_line_past_the_bound_is_refused_after_reading_one_character_past_it():
    stream = _Endless()
    with pytest.raises(DataError) as info:
        list(reading.bounded_lines(stream, "in.csv", DataError, limit=50))  # type: ignore[arg-type]
    assert str(info.value) == (
        "in.csv: line 1 is longer than 50 characters (no line of this input should be)"
    )
    assert stream.asked == [51]
    ok = io.StringIO("a" * 50 + "\n" + "b\n")
    assert list(reading.bounded_lines(ok, "x", DataError, limit=51)) == [
        (1, "a" * 50 + "\n"),
        (2, "b\n"),
    ]


def test_text_is_strict_utf8_with_universal_newlines():
    assert reading.text_stream(io.BytesIO("é\r\nb".encode())).read() == "é\nb"
    with pytest.raises(UnicodeDecodeError):
        reading.text_stream(io.BytesIO(b"\xff")).read()


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("1", 0),
        ("[1][2][3]", 1),
        ('{"a": [[1]], "b": "[[[["}', 3),
        ('["\\"[[[", [2]]', 2),
        ("[\udcff]", 1),  # a lone surrogate outside strings: counted, not an encoding error
        ("[" * 40 + "]" * 40, 40),
    ],
)
def test_json_depth_counts_brackets_outside_strings(text, depth):
    assert reading.json_depth(text) == depth


def test_parse_json_refuses_deep_nesting_and_constants():
    assert reading.parse_json("[" * 32 + "]" * 32) is not None
    with pytest.raises(ValueError, match="^it nests 33 levels deep; at most 32 are allowed$"):
        reading.parse_json("[" * 33 + "]" * 33)
    with pytest.raises(ValueError, match="^NaN is not a JSON number$"):
        reading.parse_json("[NaN]")


# ---- npyfile.py ---------------------------------------------------------------------------


def _npy(a: np.ndarray, version=None) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def _check(data: bytes, offset: int = 0) -> npyfile.NpyHeader:
    f = io.BytesIO(b"j" * offset + data)
    f.seek(offset)
    return npyfile.check_npy(f, len(data), "x.npy", DataError)


def _refused(call, error=DataError) -> str:
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    return str(info.value)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_headers_of_each_version_from_any_position(version):
    data = _npy(np.zeros((2, 3), "<f4"), version)
    for offset in (0, 7):
        header = _check(data, offset)
        assert (header.shape, header.fortran_order, header.dtype) == ((2, 3), False, "<f4")
        assert header.data_offset == len(data) - 24


def _long_header(size: int, version: tuple[int, int]) -> bytes:
    """A .npy whose header text is exactly size bytes (padded with spaces)."""
    magic = np.lib.format.magic(*version)
    head = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"
    text = (head + " " * (size - len(head) - 1) + "\n").encode()
    length = len(text).to_bytes(2 if version == (1, 0) else 4, "little")
    return magic + length + text + b"\0" * 4


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_npy_header_size_at_the_cap_and_one_past(version):
    assert _check(_long_header(10_000, version)).shape == (1,)
    message = _refused(lambda: _check(_long_header(10_001, version)))
    assert message.startswith("x.npy: not a valid .npy header (") and "10001" in message


def test_npy_refusals_say_what_and_where():
    bad = _refused(lambda: _check(b"\x93NUMPY\x01\x00junk"))
    assert bad.startswith("x.npy: not a valid .npy header (")
    obj = _npy(np.array([None, 1], object))
    assert _refused(lambda: _check(obj)) == (
        "x.npy: refused: an object array (it would need pickle to load)"
    )
    data = _npy(np.zeros(3, "<f8"))
    f = io.BytesIO(data)
    assert _refused(
        lambda: npyfile.check_npy(f, len(data) + 8, "y", WeightsError), WeightsError
    ) == (
        "y: refused: the header claims shape (3,) of float64 (24 bytes) but the file holds "
        "32 bytes of data"
    )


def _npz(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


W1 = _npy(np.zeros((2, 2), "<f4"))


def test_npz_member_count_at_the_cap_and_one_past(monkeypatch):
    monkeypatch.setattr(npyfile, "MAX_MEMBERS", 3)
    three = _npz({f"a{k}.npy": W1 for k in range(3)})
    assert npyfile.check_npz(three, "m.npz", DataError) == ["a0", "a1", "a2"]
    four = _npz({f"a{k}.npy": W1 for k in range(4)})
    assert _refused(lambda: npyfile.check_npz(four, "m.npz", DataError)) == (
        "m.npz: refused: 4 members in one .npz"
    )


def test_npz_inflated_size_at_the_cap_and_one_past():
    data = _npz({"a.npy": W1, "b.npy": W1})
    total = 2 * len(W1)
    assert npyfile.check_npz(data, "m.npz", DataError, max_total=total) == ["a", "b"]
    assert _refused(lambda: npyfile.check_npz(data, "m.npz", DataError, max_total=total - 1)) == (
        f"m.npz: refused: its members inflate to {total:,} bytes, more than the "
        f"{total - 1:,} bytes allowed"
    )


def test_npz_members_must_be_arrays_the_caller_expects():
    odd = _npz({"a.npy": W1, "notes.txt": b"hello"})
    assert _refused(lambda: npyfile.check_npz(odd, "m.npz", DataError)) == (
        "m.npz: refused: an unexpected member 'notes.txt'"
    )
    long = _npz({"b" * 100 + ".npy": W1})
    assert _refused(lambda: npyfile.check_npz(long, "m.npz", DataError, lambda n: n == "a")) == (
        f"m.npz: refused: an unexpected member {'b' * 80!r}"
    )
    short = _npz({"a.npy": W1[:-1]})
    assert _refused(lambda: npyfile.check_npz(short, "m.npz", WeightsError), WeightsError) == (
        "m.npz: a: refused: the header claims shape (2, 2) of float32 (16 bytes) but the file "
        "holds 15 bytes of data"
    )
    assert _refused(lambda: npyfile.check_npz(b"PK\x03\x04junk", "m.npz", DataError)) == (
        "m.npz: not a readable .npz file (File is not a zip file)"
    )


def test_npz_check_reads_only_each_member_s_header():
    """A 60 MB member (zeros, a few kB compressed) is checked without inflating it."""
    big = np.lib.format.header_data_from_array_1_0(np.zeros(15_000_000, "<f4"))
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, big)
    data = _npz({"a.npy": buf.getvalue() + bytes(60_000_000)}, zipfile.ZIP_DEFLATED)
    tracemalloc.start()
    try:
        assert npyfile.check_npz(data, "m.npz", DataError) == ["a"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, peak


def test_load_npz_checks_first_then_loads_from_bytes_or_a_file(tmp_path):
    data = _npz({"W1.npy": W1, "b1.npy": _npy(np.ones(2, "<f4"))})
    for source in (data, io.BytesIO(data)):
        arrays = npyfile.load_npz(source, "m.npz", DataError, {"W1", "b1"}.__contains__, "damaged")
        assert sorted(arrays) == ["W1", "b1"] and arrays["b1"].tolist() == [1, 1]
    only_w1 = "W1".__eq__
    assert _refused(lambda: npyfile.load_npz(data, "m.npz", DataError, only_w1, "damaged")) == (
        "m.npz: refused: an unexpected member 'b1.npy'"
    )
    assert _refused(
        lambda: npyfile.load_npz(data, "m.npz", DataError, lambda n: True, "d", max_total=10)
    ).startswith("m.npz: refused: its members inflate to")


def test_load_npz_names_damage_found_past_the_headers():
    """A member whose bytes past its header are damaged passes the check (which reads only
    headers) and fails while loading: one error, with the caller's words."""
    big = _npy(np.zeros(10_000, "<f4"))
    data = bytearray(_npz({"W1.npy": big}))
    data[data.index(big[:200]) + 30_000] ^= 0xFF  # inside the stored member, past 20 kB
    data = bytes(data)
    assert npyfile.check_npz(data, "m.npz", WeightsError) == ["W1"]
    message = _refused(
        lambda: npyfile.load_npz(data, "m.npz", WeightsError, "W1".__eq__, "a damaged archive"),
        WeightsError,
    )
    assert message == "m.npz: a damaged archive (Bad CRC-32 for file 'W1.npy')"


def test_a_file_that_holds_more_than_its_size_says_is_still_capped():
    """/proc files report a size of 0 and hold more: the cap holds while reading too."""
    if not Path("/proc/self/maps").exists():
        pytest.skip("no /proc on this machine")
    with pytest.raises(DataError) as info:
        reading.read_file("/proc/self/maps", "maps", DataError, 10)
    assert str(info.value) == (
        "maps: refused: more than 10 bytes; nnmnist loads this kind of input whole"
    )
