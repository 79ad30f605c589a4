"""The reader and the writer called in-process (the command-level tests run them in child
processes, where a mutation tool cannot see them): every refusal, its errno and its words."""

from __future__ import annotations

import errno
import io
import os
import socket
import stat

import pytest

from nnmnist.errors import DataError
from nnmnist.io import atomic, reading


def test_open_file_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    cases = {
        "fifo": "refused: a FIFO, not a regular file",
        "/dev/zero": "refused: a device, not a regular file",
        str(tmp_path): "is a folder, not a file",
        str(tmp_path / "missing"): "no such file",
    }
    for path, words in cases.items():
        full = tmp_path / path if path == "fifo" else path
        with pytest.raises(DataError, match=words):
            reading.open_file(full, "it", DataError)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        with pytest.raises(DataError, match="it: not a regular file"):
            reading.open_file(tmp_path / "sock", "it", DataError)
    finally:
        sock.close()


def test_open_file_caps_the_size_and_registers_inputs(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 100)
    with pytest.raises(DataError, match="refused: 100 bytes is more than the 99 bytes allowed"):
        reading.open_file(path, "it", DataError, 99)
    reading.start_run()
    try:
        with reading.open_file(path, "it", DataError, 100) as f:
            assert f.read() == b"x" * 100
            assert os.get_blocking(f.fileno())  # O_NONBLOCK only while it is checked
        assert reading.file_identity(path) in reading.INPUTS
        other = tmp_path / "b.bin"
        other.write_bytes(b"")
        with reading.open_file(other, "it", DataError, register=False):
            pass
        assert reading.file_identity(other) not in reading.INPUTS
    finally:
        reading.end_run()
    assert not reading.INPUTS


def test_read_file_and_read_capped_refuse_past_the_cap(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"12345")
    assert reading.read_file(path, "it", DataError, 5) == b"12345"
    with pytest.raises(DataError, match="refused: more than 4 bytes; nnmnist loads"):
        reading.read_capped(io.BytesIO(b"12345"), "it", DataError, 4)
    assert reading.read_capped(io.BytesIO(b"1234"), "it", DataError, 4) == b"1234"


def test_bounded_lines_numbers_lines_and_refuses_a_long_one():
    lines = list(reading.bounded_lines(io.StringIO("a\nbb\n"), "it", DataError, limit=3))
    assert lines == [(1, "a\n"), (2, "bb\n")]
    with pytest.raises(DataError, match="it: line 2 is longer than 3 characters"):
        list(reading.bounded_lines(io.StringIO("a\nbbbb\n"), "it", DataError, limit=3))
    assert list(reading.bounded_lines(io.StringIO("abc"), "it", DataError, limit=3)) == [(1, "abc")]


def test_size_text_and_text_stream():
    assert reading.size_text(1 << 20) == "1 MB"
    assert reading.size_text(1000) == "1,000 bytes"
    stream = reading.text_stream(io.BytesIO(b"\xff"))
    with pytest.raises(UnicodeDecodeError):
        stream.read()


def test_parse_json_depth_is_exact_and_strings_do_not_count():
    assert reading.json_depth('{"a": [[1]], "b": "[[[[["}') == 3
    assert reading.json_depth("1") == 0
    ok = "[" * 32 + "]" * 32
    assert reading.parse_json(ok) is not None
    with pytest.raises(ValueError, match="nests 33 levels deep; at most 32"):
        reading.parse_json("[" * 33 + "]" * 33)
    with pytest.raises(ValueError, match="NaN is not a JSON number"):
        reading.parse_json("[NaN]")
    assert reading.parse_json('"\\\\[["') == "\\[["


def test_is_regular_and_file_identity(tmp_path):
    path = tmp_path / "a"
    path.write_bytes(b"")
    assert reading.is_regular(path) and not reading.is_regular(tmp_path)
    assert not reading.is_regular(tmp_path / "missing")
    st = os.stat(path)
    assert reading.file_identity(path) == (st.st_dev, st.st_ino)
    assert reading.file_identity(tmp_path / "missing") is None
    assert reading.file_identity("a\0b") is None


def test_check_target_refuses_each_kind_with_its_errno(tmp_path):
    atomic.forget_created()
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "file").write_bytes(b"")
    expected = {
        "link": (errno.EEXIST, "is a symbolic link; nnmnist never writes through one"),
        ".": (errno.EISDIR, "is a folder"),
        "fifo": (errno.EEXIST, "is not a regular file"),
        "file": (errno.EEXIST, "already exists; pass --force to replace it"),
    }
    for name, (code, words) in expected.items():
        with pytest.raises(atomic.RefusedTarget) as caught:
            atomic.check_target(tmp_path / name)
        assert (caught.value.errno, caught.value.strerror) == (code, words), name
    assert atomic.check_target(tmp_path / "new") is None
    assert stat.S_ISREG(atomic.check_target(tmp_path / "file", overwrite=True).st_mode)
    reading.start_run()
    try:
        reading.register_inputs([str(tmp_path / "file")])
        with pytest.raises(atomic.RefusedTarget) as caught:
            atomic.check_target(tmp_path / "file", overwrite=True)
        assert caught.value.strerror == "is one of this run's inputs; it is never written"
    finally:
        reading.end_run()


def test_write_file_replaces_only_its_own_files_without_overwrite(tmp_path):
    atomic.forget_created()
    path = tmp_path / "w.bin"
    atomic.write_file(path, lambda f: f.write(b"one"))
    atomic.write_file(path, lambda f: f.write(b"two"))  # this run's own: replaced
    assert path.read_bytes() == b"two"
    atomic.forget_created()
    with pytest.raises(atomic.RefusedTarget, match="already exists"):
        atomic.write_file(path, lambda f: f.write(b"three"))
    assert path.read_bytes() == b"two"
    os.chmod(path, 0o640)
    atomic.write_file(path, lambda f: f.write(b"four"), overwrite=True)
    assert path.read_bytes() == b"four" and stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.bin"]


def test_a_new_file_gets_the_umask_mode_and_a_failed_write_leaves_nothing(tmp_path):
    old = os.umask(0o027)
    try:
        atomic.write_file(tmp_path / "n.bin", lambda f: f.write(b"x"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "n.bin").st_mode) == 0o640

    def fails(f):
        f.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.write_file(tmp_path / "m.bin", fails)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.bin"]


def test_the_temporary_is_locked_while_it_is_written(tmp_path):
    import fcntl

    def write(f):
        (tmp,) = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
        with open(tmp, "rb") as other, pytest.raises(BlockingIOError):
            fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        f.write(b"x")

    atomic.write_file(tmp_path / "l.bin", write)


def test_temporary_names_are_cut_to_fit(tmp_path):
    name = "n" * 250
    assert atomic.temporary_prefix(tmp_path / name) == "." + "n" * 120 + ".nnmnist-"
    atomic.write_file(tmp_path / name, lambda f: f.write(b"x"))
    assert (tmp_path / name).read_bytes() == b"x"


def test_make_folder_records_and_removes_only_empty_own_folders(tmp_path):
    atomic.forget_created()
    atomic.make_folder(tmp_path / "a" / "b" / "c")
    atomic.make_folder(tmp_path / "keep")
    (tmp_path / "keep" / "f").write_bytes(b"")
    (tmp_path / "mine").mkdir()
    atomic.make_folder(tmp_path / "mine")  # there already: not this run's
    atomic.remove_empty_own_folders()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "mine"]
    atomic.make_folder(tmp_path / "x")
    os.rmdir(tmp_path / "x")
    (tmp_path / "x").mkdir()  # another folder of the same name
    (tmp_path / "x" / "y").mkdir()
    atomic.remove_empty_own_folders()
    assert (tmp_path / "x" / "y").is_dir()


def test_link_new_falls_back_where_hard_links_are_not_allowed(tmp_path, monkeypatch):
    tmp = tmp_path / ".t.nnmnist-x.tmp"
    tmp.write_bytes(b"ours")

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    atomic._link_new(str(tmp), tmp_path / "t.bin")
    assert (tmp_path / "t.bin").read_bytes() == b"ours" and not tmp.exists()

    def broken(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(atomic.os, "link", broken)
    tmp.write_bytes(b"again")
    with pytest.raises(OSError, match="Input/output error"):
        atomic._link_new(str(tmp), tmp_path / "u.bin")
    assert not (tmp_path / "u.bin").exists()


def test_weight_arrays_of_zero_size_and_meta_fields_of_the_wrong_type_are_one_error():
    import numpy as np

    from nnmnist.errors import WeightsError
    from nnmnist.models.weights import network_from_dict

    good = {
        "W1": np.zeros((784, 4), "f4"),
        "b1": np.zeros(4, "f4"),
        "W2": np.zeros((4, 10), "f4"),
        "b2": np.zeros(10, "f4"),
    }
    empty = {
        **good,
        "W1": np.zeros((784, 0), "f4"),
        "b1": np.zeros(0, "f4"),
        "W2": np.zeros((0, 10), "f4"),
    }
    with pytest.raises(WeightsError, match="W1 has shape \\(784, 0\\): a layer needs at least one"):
        network_from_dict(empty)
    bad_meta = {
        "output": (["softmax"], "meta field 'output' is a list; it must be a str"),
        "activation": ({"relu": 1}, "meta field 'activation' is a dict; it must be a str"),
        "data": ([1], "meta field 'data' is a list; it must be a dict"),
        "test_accuracy": ("high", "'test_accuracy' is a str; it must be a int or float or null"),
        "history": ([{"epoch": 1}], "meta field 'history', entry 1: each epoch needs numbers"),
        "arch": ("", "the arch entry of meta must be a layer spec"),
    }
    for key, (value, words) in bad_meta.items():
        with pytest.raises(WeightsError, match=words.replace("(", "\\(").replace(")", "\\)")):
            network_from_dict({**good, "meta": {key: value}})
    ok = {"history": [{"epoch": 1, "train_loss": 0.5, "train_accuracy": 0.9, "val_accuracy": None}]}
    assert network_from_dict({**good, "meta": ok}).meta["history"][0]["epoch"] == 1


# --- outputs.py and formats.py in-process (the commands reach them in child processes)


def test_prepare_folder_accepts_new_and_empty_folders_only(tmp_path):
    from nnmnist.errors import NnmnistError
    from nnmnist.io.outputs import prepare_folder

    prepare_folder(tmp_path / "new" / "deep", False, "--x")
    assert (tmp_path / "new" / "deep").is_dir()
    prepare_folder(tmp_path / "new" / "deep", False, "--x")  # empty: accepted
    (tmp_path / "new" / "deep" / "f").write_bytes(b"")
    with pytest.raises(NnmnistError, match="deep: is not empty; give --x a new or empty folder"):
        prepare_folder(tmp_path / "new" / "deep", False, "--x")
    prepare_folder(tmp_path / "new" / "deep", True, "--x")  # --force
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NnmnistError, match="file: exists and is not a folder \\(--x\\)"):
        prepare_folder(tmp_path / "file", True, "--x")
    (tmp_path / "link").symlink_to(tmp_path / "new")
    with pytest.raises(NnmnistError, match="link: is a symbolic link; give --x a real folder"):
        prepare_folder(tmp_path / "link", True, "--x")
    with pytest.raises(NnmnistError, match="cannot create the folder"):
        prepare_folder(tmp_path / "file" / "sub", False, "--x")


def test_write_bytes_refuses_folders_existing_files_and_links(tmp_path):
    from nnmnist.errors import NnmnistError
    from nnmnist.io.outputs import write_bytes, write_text

    atomic.forget_created()
    write_text(tmp_path / "sub" / "r.html", "caf\u00e9", False, "--report")
    assert (tmp_path / "sub" / "r.html").read_bytes() == "caf\u00e9".encode()
    with pytest.raises(NnmnistError, match="r.html: already exists; pass --force to overwrite"):
        write_bytes(tmp_path / "sub" / "r.html", b"x", False, "--report")
    write_bytes(tmp_path / "sub" / "r.html", b"x", True, "--report")
    assert (tmp_path / "sub" / "r.html").read_bytes() == b"x"
    with pytest.raises(NnmnistError, match="sub: is a folder; give --report a file name"):
        write_bytes(tmp_path / "sub", b"x", True, "--report")
    (tmp_path / "l.html").symlink_to(tmp_path / "sub" / "r.html")
    with pytest.raises(NnmnistError, match="l.html: is a symbolic link"):
        write_bytes(tmp_path / "l.html", b"y", True, "--report")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NnmnistError, match="cannot write .*; nothing was changed"):
        write_bytes(tmp_path / "file" / "x.png", b"y", False, "-o")


def test_other_parts_lists_only_part_files_this_run_did_not_write(tmp_path):
    from nnmnist.io.outputs import other_parts

    for name in ("part-00000.txt", "part-00001.csv", "part-1.txt", "part-00002.jsonl", "x.txt"):
        (tmp_path / name).write_bytes(b"")
    assert other_parts(tmp_path, {"part-00000.txt"}) == ["part-00001.csv", "part-00002.jsonl"]
    assert other_parts(tmp_path / "missing", set()) == []


def test_blank_rows_are_counted_with_the_first_three_named():
    import numpy as np

    from nnmnist.io.formats import BlankRows, blank_rows

    pixels = np.zeros((6, 784), np.uint8)
    pixels[1, 5] = 1
    blank = blank_rows(pixels)
    assert blank.tolist() == [True, False, True, True, True, True]
    assert blank_rows(pixels.astype(np.float32)).tolist() == blank.tolist()  # the slow path
    counts = BlankRows()
    counts.add([f"a.npy:{i}" for i in range(6)], blank)
    counts.add(["one.png"], np.array([True]))
    other = BlankRows()
    other.add(["a.npy:9"], np.array([True]))
    counts.merge(other)
    assert counts.messages() == [
        "a.npy: 6 rows are blank, every pixel 0 (rows 0, 2, 3, ...): no label given",
        "one.png: the image is blank, every pixel 0: no label given",
    ]
    single = BlankRows()
    single.add(["b.npy:4", "c\x1b.npy:0"], np.array([True, True]))
    assert single.messages() == [
        "b.npy: 1 row is blank, every pixel 0 (row 4): no label given",
        "c\\x1b.npy: 1 row is blank, every pixel 0 (row 0): no label given",
    ]


def test_csv_header_and_number_lines_in_every_format():
    import json

    import numpy as np

    from nnmnist.io.formats import csv_header, number_line

    assert csv_header(1) == "input,label,probability,reason"
    assert csv_header(3) == (
        "input,label,probability,label_2,probability_2,label_3,probability_3,reason"
    )
    probs = np.full((3, 10), 0.01)
    probs[0, 4], probs[1, 2], probs[2, 7] = 0.9, 0.99, 0.5
    boxes = [(0, 0, 10, 20), (12, 0, 22, 20), (0, 30, 10, 50)]
    assert number_line("n\x1b.png", boxes, probs, "text", [2, 1]) == "n\\x1b.png\t42 7\t0.500000"
    assert number_line("a,b.png", boxes, probs, "csv") == '"a,b.png",427,0.500000,'
    obj = json.loads(number_line("n.png", boxes, probs, "jsonl", [2, 1]))
    assert obj["number"] == "42 7" and obj["probability"] == 0.5
    assert [d["line"] for d in obj["digits"]] == [0, 0, 1]
    assert obj["digits"][2] == {"label": 7, "probability": 0.5, "box": [0, 30, 10, 50], "line": 1}


def test_predict_lines_withholds_blank_and_unsure_rows_and_refuses_overflow():
    import numpy as np

    from nnmnist.core.network import Network
    from nnmnist.engines.local import answer
    from nnmnist.errors import NonFiniteOutputs
    from nnmnist.io.formats import BlankRows

    def predict_lines(net, names, pixels, fmt, top_k, min_confidence=0.0, blanks=None):
        return answer(net, names, pixels, min_confidence, blanks).lines(fmt, top_k)

    w = np.zeros((784, 10), np.float32)
    w[0, 3] = 50.0
    net = Network((w,), (np.zeros(10, np.float32),), hidden="relu")
    pixels = np.zeros((3, 784), np.uint8)
    pixels[0, 0] = 255  # sure: a 3
    pixels[1, 1] = 255  # ink, but every output equal: 0.1
    blanks = BlankRows()
    lines = predict_lines(net, ["a", "b", "c"], pixels, "text", 2, 0.5, blanks)
    assert lines[0].startswith("a\t3\t1.000000")
    assert lines[1].startswith("b\t?\t0.100000") and lines[2].startswith("c\t?\t0.100000")
    assert blanks.messages() == ["c: the image is blank, every pixel 0: no label given"]
    huge = Network((np.full((784, 10), np.float32(3e38)),), (np.zeros(10, np.float32),))
    huge = Network(huge.weights, huge.biases, hidden="relu", output="identity")
    with pytest.raises(NonFiniteOutputs, match="for a"):
        predict_lines(huge, ["a"], np.full((1, 784), 255, np.uint8), "text", 1)
