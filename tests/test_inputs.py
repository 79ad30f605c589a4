import io

import numpy as np
import pytest

from nnmnist.engines.inputs import iter_batches
from nnmnist.errors import DataError
from nnmnist.io import idx
from nnmnist.io.arrays import to_pixels


def collect(specs, batch_size=1000, stdin=None):
    names, blocks = [], []
    for n, b in iter_batches(specs, batch_size, stdin):
        names += n
        blocks.append(b)
    return names, np.concatenate(blocks)


@pytest.mark.parametrize("shape", [(6, 784), (6, 28, 28)])
def test_npy_shapes(tmp_path, digits, shape):
    x = digits[0][:6].reshape(shape)
    np.save(tmp_path / "x.npy", x)
    names, got = collect([str(tmp_path / "x.npy")], batch_size=4)
    assert names == [f"{tmp_path / 'x.npy'}:{i}" for i in range(6)]
    np.testing.assert_array_equal(got, digits[0][:6])
    assert got.dtype == np.uint8


def test_single_image_and_npz(tmp_path, digits):
    np.save(tmp_path / "one.npy", digits[0][0].reshape(28, 28))
    np.savez(tmp_path / "many.npz", images=digits[0][:3], labels=digits[1][:3])
    names, got = collect([str(tmp_path / "one.npy"), str(tmp_path / "many.npz")], batch_size=2)
    assert names[0] == str(tmp_path / "one.npy")
    assert names[1:] == [f"{tmp_path / 'many.npz'}:{i}" for i in range(3)]
    np.testing.assert_array_equal(got, digits[0][[0, 0, 1, 2]])


def test_float_pixels(tmp_path, digits):
    x = digits[0][:3].astype(np.float32)
    np.save(tmp_path / "f.npy", x)
    _, got = collect([str(tmp_path / "f.npy")])
    assert got.dtype == np.uint8  # whole numbers stay exact
    np.save(tmp_path / "g.npy", x * 0.5 + 0.25)
    _, got = collect([str(tmp_path / "g.npy")])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, (x * 0.5 + 0.25) / 255)


def test_idx_input(tmp_path, digits):
    idx.write_idx(tmp_path / "imgs.gz", digits[0][:5].reshape(5, 28, 28), gzipped=True)
    names, got = collect([str(tmp_path / "imgs.gz")])
    np.testing.assert_array_equal(got, digits[0][:5])
    assert names[-1].endswith("imgs.gz:4")


def write_csv(path, rows, header=False, label=None):
    lines = []
    if header:
        lines.append(
            ",".join(([("label")] if label is not None else []) + [f"pixel{i}" for i in range(784)])
        )
    for i, r in enumerate(rows):
        vals = [str(v) for v in r]
        if label is not None:
            vals = [str(label[i])] + vals
        lines.append(",".join(vals))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("header", "with_label"), [(False, False), (True, False), (True, True)])
def test_csv(tmp_path, digits, header, with_label):
    write_csv(tmp_path / "d.csv", digits[0][:5], header, digits[1][:5] if with_label else None)
    names, got = collect([str(tmp_path / "d.csv")], batch_size=2)
    np.testing.assert_array_equal(got, digits[0][:5])
    assert len(names) == 5


def test_csv_from_stdin(digits):
    buf = io.BytesIO()
    for row in digits[0][:3]:
        buf.write((",".join(map(str, row)) + "\n").encode())
    buf.seek(0)
    names, got = collect(["-"], stdin=buf)
    assert names == ["stdin:0", "stdin:1", "stdin:2"]
    np.testing.assert_array_equal(got, digits[0][:3])


def test_npy_from_stdin(digits):
    buf = io.BytesIO()
    np.save(buf, digits[0][:4])
    buf.seek(0)
    _, got = collect(["-"], stdin=buf)
    np.testing.assert_array_equal(got, digits[0][:4])


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((3, 783)), r"shape \(3, 783\)"),
        (np.zeros((3, 28, 27)), r"shape \(3, 28, 27\)"),
        (np.full((2, 784), 256.0), "0-255"),
        (np.full((2, 784), -1), "0-255"),
        (np.full((2, 784), np.nan), "NaN"),
        (np.zeros((2, 784), dtype=np.complex64), "dtype complex64"),
    ],
)
def test_bad_arrays(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError, match=message):
        collect([str(tmp_path / "bad.npy")])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3\n", "line 1 has 3 values"),
        (",".join(["0"] * 784) + "\n" + ",".join(["0"] * 700) + "\n", "line 2 has 700 values"),
        (",".join(["1_000"] + ["0"] * 783) + "\n", "'_'"),
        (",".join(["nan"] + ["0"] * 783) + "\n", "line 1"),
        (",".join(["300"] + ["0"] * 783) + "\n", "0-255"),
        (",".join([""] + ["0"] * 783) + "\n", "empty or malformed"),
        ("", "no rows"),
    ],
)
def test_bad_csv(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        collect([str(tmp_path / "bad.csv")])


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        collect([str(tmp_path / "nope.npy")])
    with pytest.raises(DataError, match="is a folder"):
        collect([str(tmp_path)])


def test_to_pixels_passes_uint8_through():
    a = np.zeros((2, 784), np.uint8)
    assert to_pixels(a, "x") is a


def test_a_fortran_ordered_npy_reads_as_the_same_rows(tmp_path):
    a = (np.arange(5 * 784) % 251).astype(np.uint8).reshape(5, 784)
    np.save(tmp_path / "c.npy", a)
    np.save(tmp_path / "f.npy", np.asfortranarray(a))
    c_rows = np.concatenate([p for _, p in iter_batches([str(tmp_path / "c.npy")], 2)])
    f_rows = np.concatenate([p for _, p in iter_batches([str(tmp_path / "f.npy")], 2)])
    np.testing.assert_array_equal(c_rows, a)
    np.testing.assert_array_equal(f_rows, a)


def test_progress_advances_per_file_within_a_batch(tmp_path, digits):
    """on_input hears of each file as it is read, before the batch holding it is yielded, so a
    progress bar moves during a batch of a thousand pictures rather than once at its end."""
    from PIL import Image

    x, _ = digits
    for i in range(5):
        Image.fromarray(255 - x[i].reshape(28, 28)).save(tmp_path / f"{i}.png")
    np.save(tmp_path / "x.npy", x[:3])
    specs = [str(tmp_path / f"{i}.png") for i in range(5)] + [str(tmp_path / "x.npy")]
    events: list[str] = []
    for names, _ in iter_batches(specs, 100, on_input=lambda spec: events.append(spec)):
        events.append(f"batch of {len(names)}")
    assert events == [*specs, "batch of 8"]
