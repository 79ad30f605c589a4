"""Result lines: the column-at-a-time formatter gives exactly the bytes of the line-by-line one."""

import json

import numpy as np
import pytest

from nnmnist.io import formats


def _both(names, labels, probs, fmt):
    columns = formats._columns(names, labels, probs, fmt)
    rows = formats._rows(names, labels, probs, fmt)
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
        names = [f"dir/f{trial}.npy:{i}" for i in range(n)]
        columns, rows = _both(names, labels, best, fmt)
        assert columns is not None and columns == rows


def test_what_columns_cannot_write_goes_line_by_line():
    labels, probs = np.array([[3]]), np.array([[0.5]])
    assert formats._columns(["a,b.png"], labels, probs, "csv") is None  # CSV quotes it
    assert formats._columns(['a"b.png'], labels, probs, "jsonl") is None  # JSON escapes
    assert formats._columns(["é.png"], labels, probs, "jsonl") is None
    assert formats._columns(["a.png"], labels, np.array([[1.5]]), "text") is None
    # a float64 probability half a millionth from a rounding boundary: Python decides
    assert formats._columns(["a.png"], labels, np.array([[0.0000005]]), "text") is None
    lines = formats.prediction_lines(["a,b.png"], labels, probs, "csv")
    assert lines == ['"a,b.png",3,0.500000,']


def test_a_withheld_label_comes_with_its_reason_in_every_format():
    labels, probs = np.array([[3, 5], [4, 1], [2, 8]]), np.array([[0.9, 0.1], [0.4, 0.3], [0, 0]])
    reasons = [None, "below --min-confidence", "refused: not a digit"]
    unread = {2: "refused: not a digit"}
    lines = {
        fmt: formats.prediction_lines(["a", "b", "c"], labels, probs, fmt, reasons, unread)
        for fmt in ("text", "csv", "jsonl")
    }
    assert lines["text"] == [
        "a\t3\t0.900000\t5:0.100000",
        "b\t?\t0.400000\t1:0.300000\tbelow --min-confidence",
        "c\t?\t-\trefused: not a digit",
    ]
    assert lines["csv"] == [
        "a,3,0.900000,5,0.100000,",
        "b,,0.400000,1,0.300000,below --min-confidence",
        "c,,,,,refused: not a digit",
    ]
    assert [json.loads(line) for line in lines["jsonl"]] == [
        {
            "input": "a",
            "label": 3,
            "probability": 0.9,
            "top_k": [{"label": 3, "probability": 0.9}, {"label": 5, "probability": 0.1}],
        },
        {
            "input": "b",
            "label": None,
            "probability": 0.4,
            "top_k": [{"label": 4, "probability": 0.4}, {"label": 1, "probability": 0.3}],
            "reason": "below --min-confidence",
        },
        {"input": "c", "label": None, "probability": None, "reason": "refused: not a digit"},
    ]
    quoted = formats.prediction_lines(["x"], labels[:1], probs[:1], "csv", ["a, b"], {})
    assert quoted == ['x,,0.900000,5,0.100000,"a, b"']
