"""Remake the README's pictures of `nnmnist plot` and of an HTML report (`make docs`).

    python docs/make_pictures.py

Needs the plot extra (matplotlib) and, for the report's screenshot, Playwright and Debian's
Chromium (as the tests do). The training curves need the MNIST training files in
../shared/data/mnist (or NNMNIST_DATA); without them that picture is left as it is.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXE = str(Path(sys.executable).parent / "nnmnist")
DATA = Path(os.environ.get("NNMNIST_DATA", HERE.parents[1] / "shared" / "data" / "mnist"))


def nnmnist(*args: str, cwd: Path = HERE) -> None:
    subprocess.run([EXE, *args], cwd=cwd, check=True)


def main() -> None:
    nnmnist("plot", "activations", "-o", "activations.png", "--force")
    nnmnist(
        "plot", "weights", "--model", "mlp", "--units", "36", "-o", "weights-mlp.png", "--force"
    )
    nnmnist("plot", "errors", "--model", "cnn", "-o", "errors-cnn.png", "--force")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if (DATA / "train-images-idx3-ubyte.gz").is_file():
            nnmnist(
                "train",
                "--hidden",
                "64",
                "--epochs",
                "8",
                "--data",
                str(DATA),
                "-o",
                "t.npz",
                cwd=work,
            )
            nnmnist(
                "plot",
                "history",
                "-w",
                "t.npz",
                "-o",
                str(HERE / "history.png"),
                "--force",
                cwd=work,
            )
        nnmnist("evaluate", "--model", "cnn", "--report", "report.html", cwd=work)
        chromium = shutil.which("chromium")
        if chromium is None:
            print("make_pictures: no chromium: the report's screenshot is left as it is")
            return
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 1250})
            page.goto((work / "report.html").as_uri())
            page.screenshot(path=str(HERE / "report.png"))
            browser.close()


if __name__ == "__main__":
    main()
