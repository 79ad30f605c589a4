"""`nnmnist --help`, `nnmnist -h`, `nnmnist` alone and `nnmnist --version` answered without
building the app: the same information as Typer's help (its usage line, the app's options and
every command with its summary, in panels drawn alike), from the standard library only, so that
they cost the interpreter's start and not Typer's and Rich's imports. tests/test_startup.py
checks that this page lists exactly what the Typer app would (names, options, summaries).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap

ABOUT = (
    "MNIST batch inference with neural networks (MLPs and ConvNets) written from scratch in NumPy."
)

OPTIONS = [
    ("--version", "", "Show the version and exit."),
    ("--debug", "", "Show a traceback when something goes wrong."),
    ("--install-completion", "", "Install completion for the current shell."),
    (
        "--show-completion",
        "",
        "Show completion for the current shell, to copy it or customize the installation.",
    ),
    ("--help", "-h", "Show this message and exit."),
]

# Each command's summary: the first line of its docstring (the test compares them).
SUMMARIES = {
    "init": "Write random weights (untrained: about 10% accuracy) in the book's pickle format.",
    "evaluate": "Measure accuracy on MNIST, or on labelled digits of your own, batch by batch.",
    "predict": "Predict the digit in each image: one line per image on stdout, in input order.",
    "train": "Train the network with backpropagation on the MNIST training images.",
    "models": "List the shipped models: layers, size, test accuracy (and, with --speed, speed).",
    "export": "Write a model in another format, for ONNX Runtime, a browser, PyTorch or the "
    "book's code.",
    "plot": "Draw what a network computes: PNG or SVG files (matplotlib, the plot extra), or "
    "half blocks in the terminal.",
    "serve": "Serve a drawing pad in the browser and a JSON API for predictions.",
}


def _colour() -> bool:
    """As Rich decides: a terminal, NO_COLOR unset, TERM not dumb."""
    return (
        sys.stdout.isatty()
        and "NO_COLOR" not in os.environ
        and os.environ.get("TERM", "") != "dumb"
    )


def answers(argv: list[str]) -> bool:
    """Whether these arguments are ones this module answers (then it has answered them)."""
    if "_NNMNIST_COMPLETE" in os.environ:  # the shell asks Click for completions
        return False
    if argv in ([], ["--help"], ["-h"]):
        sys.stdout.write(help_page(_width(), _colour()))
        return True
    if argv == ["--version"]:
        from nnmnist import __version__

        sys.stdout.write(f"nnmnist {__version__}\n")
        return True
    return False


def _width() -> int:
    """As Rich measures: COLUMNS, else the terminal's width, else 80."""
    if os.environ.get("COLUMNS", "").isdigit():
        return max(40, int(os.environ["COLUMNS"]))
    if sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((80, 24)).columns)
    return 80


def _panel(title: str, rows: list[tuple[str, str]], width: int, colour: bool) -> list[str]:
    """Rows of (left, text) in a rounded box, the text wrapped beside the left column; in
    Typer's colours on a terminal (dim borders, bold cyan names, bold green short options)."""
    dim, off = ("\033[2m", "\033[0m") if colour else ("", "")
    left = max(len(name) for name, _ in rows)
    inner = width - 4  # the borders and a space inside each
    text_width = max(10, inner - left - 2)
    lines = [f"{dim}╭─ {off}{title}{dim} " + "─" * (width - len(title) - 5) + f"╮{off}"]
    for name, text in rows:
        wrapped = textwrap.wrap(text, text_width) or [""]
        for k, part in enumerate(wrapped):
            shown = f"{name if k == 0 else '':<{left}}"
            if colour and k == 0:
                shown = re.sub(r"(--?[a-z-]+|^[a-z]+)", "\033[1;36m\\1\033[0m", shown, count=1)
                shown = re.sub(r"( )(-[a-z])( |$)", "\\1\033[1;32m\\2\033[0m\\3", shown)
            cell = f"{shown}  {part}" + " " * (inner - left - 2 - len(part))
            lines.append(f"{dim}│{off} {cell} {dim}│{off}")
    lines.append(f"{dim}╰" + "─" * (width - 2) + f"╯{off}")
    return lines


def help_page(width: int = 80, colour: bool = False) -> str:
    width = min(width, 200)
    about = textwrap.wrap(ABOUT, width - 2)
    options = [(f"{long:<22}{short:<8}", text) for long, short, text in OPTIONS]
    usage = "\033[33mUsage: \033[39m" if colour else "Usage: "
    head = ["", f" {usage}nnmnist [OPTIONS] COMMAND [ARGS]...", ""]
    head += [f" {line}" for line in about] + [""]
    lines = [line + " " * (width - len(re.sub(r"\033\[[0-9;]*m", "", line))) for line in head]
    lines += _panel("Options", options, width, colour)
    lines += _panel("Commands", list(SUMMARIES.items()), width, colour)
    return "\n".join(lines) + "\n\n"
