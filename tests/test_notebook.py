"""examples/notebook.ipynb runs on a real Jupyter kernel (nbclient), and says what it should."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def test_the_notebook_runs_and_tells_the_chapters_story():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    text, kinds = [], set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", out
            text.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
            kinds |= set(out.get("data", {}))
    shown = "\n".join(text)
    chance = float(re.search(r"random weights: accuracy ([0-9.]+)", shown).group(1))
    assert 0.07 < chance < 0.13  # about one in ten
    assert "accuracy 0.99" in shown and "read as 2" in shown and "0123" in shown
    assert {"text/html", "image/png"} <= kinds  # a report, a model and a digit show themselves
    before = float(re.search(r"mlp before: ([0-9.]+)", shown).group(1))
    after = float(re.search(r"mlp after: +([0-9.]+)", shown).group(1))
    assert after > before
    own = float(re.search(r"own digits: accuracy ([0-9.]+)", shown).group(1))
    assert own > 0.9
