"""Memory claims, measured: predict's peak resident memory stays flat as the input grows.

The peak is the command's own ru_maxrss (tests/measure.py). A memory map of the input would
grow with it (issue 6 found 809 MB for a large .npy); reading batch by batch does not.
"""

from __future__ import annotations

import io
import os

import numpy as np

from tests.measure import run_measured

BOUND_MB = 300
GROWTH_MB = 20  # from 10^5 to 10^6 images: allocator noise, not the input


def _sparse_npy(path, n: int) -> None:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": (n, 784)}
    )
    with open(path, "wb") as f:
        f.write(buf.getvalue())
        f.truncate(len(buf.getvalue()) + n * 784)  # zeros, without writing them


def test_predict_memory_is_flat_from_ten_thousand_to_a_million_images(tmp_path):
    env = {**os.environ, "NO_COLOR": "1"}
    peaks = {}
    for n in (10**5, 10**6):
        folder = tmp_path / f"n{n}"
        folder.mkdir()
        _sparse_npy(folder / "x.npy", n)
        run = run_measured(
            ["predict", "x.npy", "--format", "csv", "--model", "mlp"], folder, env, None, 300
        )
        # all-zero rows: each keeps its line, without a label, and one line on stderr says so
        assert run.status == 1 and run.signal is None, run.stderr
        assert run.stderr.count("\n") == 2, run.stderr  # the weights used, and the blank rows
        assert f"x.npy: {n:,} rows are blank" in run.stderr
        assert run.stdout.count("\n") == n + 1
        peaks[n] = run.peak_mb
    assert peaks[10**6] < BOUND_MB, peaks
    assert peaks[10**6] - peaks[10**5] < GROWTH_MB, peaks
