"""nnmnist plot and the HTML reports, as files (issue 16). The pictures are opened and looked at
by numbers: the right size, not blank; the report is checked for what it holds and for what it
must not (anything fetched from elsewhere, unescaped names)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXE = os.path.join(os.path.dirname(sys.executable), "nnmnist")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    env.pop("NNMNIST_WEIGHTS", None)
    return subprocess.run(
        [EXE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300, check=False
    )


def looks_drawn(path: Path, min_size: tuple[int, int]) -> np.ndarray:
    img = np.asarray(Image.open(path).convert("L"))
    assert img.shape[1] >= min_size[0] and img.shape[0] >= min_size[1], img.shape
    assert img.std() > 10, "the picture is blank"
    assert len(np.unique(img)) > 20, "hardly anything drawn on it"
    return img


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory,
) -> Path:
    """A tiny network trained for two epochs (its file records the history)."""
    from nnmnist.io import idx
    from nnmnist.io import mnist as data

    folder = tmp_path_factory.mktemp("train")
    ds = data.load("bundled", "test")
    idx.write_idx(folder / "train-images-idx3-ubyte", ds.images[:1200].reshape(-1, 28, 28))
    idx.write_idx(folder / "train-labels-idx1-ubyte", ds.labels[:1200])
    made = run(
        [
            "train",
            "--hidden",
            "16",
            "--epochs",
            "2",
            "--val-size",
            "200",
            "--data",
            ".",
            "-o",
            "t.npz",
            "--report",
            "train.html",
        ],
        folder,
    )
    assert made.returncode == 0, made.stderr
    return folder


@pytest.mark.parametrize(
    ("kind", "extra", "size"),
    [
        ("activations", [], (900, 500)),
        ("activations", ["--derivatives"], (900, 500)),
        ("weights", ["--model", "mlp", "--units", "16"], (250, 250)),
        ("weights", ["--model", "cnn", "--units", "8"], (400, 100)),
        ("confusion", ["--model", "mlp", "--limit", "1000"], (500, 450)),
        ("errors", ["--model", "mlp", "--limit", "1000"], (300, 100)),
    ],
)
def test_each_plot_draws_a_png(kind, extra, size, tmp_path):
    pytest.importorskip("matplotlib")
    result = run(["plot", kind, *extra, "-o", "p.png"], tmp_path)
    assert result.returncode == 0, result.stderr
    looks_drawn(tmp_path / "p.png", size)


def test_history_plot_of_a_trained_file_and_the_same_bytes_twice(trained):
    pytest.importorskip("matplotlib")
    for name in ("h1.svg", "h2.svg", "h.png"):
        assert run(["plot", "history", "-w", "t.npz", "-o", name], trained).returncode == 0
    assert (trained / "h1.svg").read_bytes() == (trained / "h2.svg").read_bytes()
    assert b"<svg" in (trained / "h1.svg").read_bytes()[:500]
    looks_drawn(trained / "h.png", (800, 200))


def test_a_file_without_history_says_so(tmp_path):
    pytest.importorskip("matplotlib")
    result = run(["plot", "history", "--model", "mlp", "-o", "h.png"], tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: this weight file records no training history (files written by nnmnist train "
        "from this version on do)"
    ]
    assert not (tmp_path / "h.png").exists()


def test_without_a_file_or_a_terminal_it_asks_for_one(tmp_path):
    result = run(["plot", "activations"], tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "give -o FILE.png or FILE.svg" in result.stderr
    odd = run(["plot", "activations", "-o", "a.gif"], tmp_path)
    assert odd.returncode == 2 and "give a .png or .svg file" in odd.stderr


def test_plots_on_a_terminal_are_half_blocks(tmp_path):
    """Through a pseudo-terminal, as a person at a terminal would run it."""
    pty = pytest.importorskip("pty")
    out = tmp_path / "screen.txt"
    script = (
        "import os, pty, sys; os.environ['COLUMNS'] = '100'; "
        f"fd = os.open({str(out)!r}, os.O_WRONLY | os.O_CREAT); "
        "pid, master = pty.fork()\n"
        "if pid == 0: os.execv(sys.argv[1], sys.argv[1:])\n"
        "while True:\n"
        "    try: chunk = os.read(master, 65536)\n"
        "    except OSError: break\n"
        "    if not chunk: break\n"
        "    os.write(fd, chunk)\n"
    )
    del pty
    subprocess.run(
        [sys.executable, "-c", script, EXE, "plot", "errors", "--model", "mlp", "--limit", "300"],
        timeout=120,
        check=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    screen = out.read_text(errors="replace")
    assert "misread" in screen and "▀" in screen or "█" in screen
    assert re.search(r"\d->\d 0\.\d\d", screen)


def test_the_evaluation_report_is_self_contained_and_escaped(tmp_path):
    from nnmnist.io import mnist as data

    ds = data.load("bundled", "test")
    hostile = tmp_path / "<i>evil'\"\x1b[31m"
    (hostile / "3").mkdir(parents=True)
    (hostile / "8").mkdir()
    for k, label in enumerate(ds.labels[:200]):
        if label in (3, 8):
            Image.fromarray(ds.images[k].reshape(28, 28)).save(hostile / str(label) / f"{k}.png")
    result = run(["evaluate", hostile.name, "--model", "mlp", "--report", "r.html"], tmp_path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "r.html").read_text()
    assert "<i>" not in page and "\x1b" not in page
    assert "&lt;i&gt;evil&#x27;&quot;\\x1b[31m" in page
    # nothing from elsewhere: no scripts, no external sources or links
    assert "<script" not in page
    assert not re.search(r"""(src|href)=['"](?!data:|#)""", page)
    assert "@import" not in page and "url(" not in page
    # every mistake in the matrix links to a section of its digits
    for t, p in re.findall(r"href='#t(\d)p(\d)'", page):
        assert f"id='t{t}p{p}'" in page


def test_the_training_report(trained):
    page = (trained / "train.html").read_text()
    assert "<h2>Training</h2>" in page and page.count("<polyline") >= 3
    assert "best so far" in page and "Confusion matrix" in page


def test_report_refuses_to_overwrite(tmp_path):
    (tmp_path / "r.html").write_text("keep")
    result = run(["evaluate", "--model", "mlp", "--limit", "100", "--report", "r.html"], tmp_path)
    assert result.returncode == 1 and "r.html: already exists; pass --force" in result.stderr
    assert (tmp_path / "r.html").read_text() == "keep"


def test_without_matplotlib_one_line_says_how_to_get_it(runner, tmp_path, monkeypatch):
    from nnmnist.cli import app

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    result = runner.invoke(app, ["plot", "activations", "-o", str(tmp_path / "a.png")])
    assert result.exit_code == 1
    assert "plots need matplotlib: pip install 'nnmnist[plot]'" in result.output
    assert not (tmp_path / "a.png").exists()
