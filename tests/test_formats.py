"""Result lines: the column-at-a-time formatter gives exactly the bytes of the line-by-line one."""

import numpy as np
import pytest

from nnmnist import formats


def _both(names, labels, probs, fmt, rejected=None):
    columns = formats._columns(names, labels, probs, fmt, rejected)
    rows = formats._rows(names, labels, probs, fmt, rejected)
    return columns, rows


def test_every_millionth_is_written_as_python_writes_it():
    micro = np.arange(1_000_001)  # 0.0, 1e-06, ..., 1.0: each rounding case once
    values = (micro / 1e6).tolist()
    assert formats._fixed6(micro).tolist() == [f"{v:.6f}" for v in values]
    assert formats._shortest(micro).tolist() == [repr(round(v, 6)) for v in values]


@pytest.mark.parametrize("fmt", ["text", "csv", "jsonl"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_random_batches_match_line_by_line(fmt, dtype):
    rng = np.random.default_rng(7)
    for trial in range(60):
        n, k = int(rng.integers(1, 200)), int(rng.integers(1, 11))
        logits = rng.normal(0, [0.1, 3.0, 30.0][trial % 3], (n, 10))
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = (p / p.sum(axis=1, keepdims=True)).astype(dtype)
        labels = np.argsort(-p, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(p, labels, axis=1)
        rejected = rng.random(n) < 0.2 if trial % 2 else None
        names = [f"dir/f{trial}.npy:{i}" for i in range(n)]
        columns, rows = _both(names, labels, best, fmt, rejected)
        assert columns is not None and columns == rows


def test_what_columns_cannot_write_goes_line_by_line():
    labels, probs = np.array([[3]]), np.array([[0.5]])
    assert formats._columns(["a,b.png"], labels, probs, "csv", None) is None  # CSV quotes it
    assert formats._columns(['a"b.png'], labels, probs, "jsonl", None) is None  # JSON escapes
    assert formats._columns(["é.png"], labels, probs, "jsonl", None) is None
    assert formats._columns(["a.png"], labels, np.array([[1.5]]), "text", None) is None
    # a float64 probability half a millionth from a rounding boundary: Python decides
    assert formats._columns(["a.png"], labels, np.array([[0.0000005]]), "text", None) is None
    lines = formats.prediction_lines(["a,b.png"], labels, probs, "csv")
    assert lines == ['"a,b.png",3,0.500000']
