"""The command line: parse arguments, call the library, render the result.

A package with a room per command: `base.py` holds the app and turns failures into lines and
exit statuses, `options.py` the options every command shares (defined once), and `init.py`,
`evaluate.py`, `predict.py`, `train.py`, `models.py`, `export.py` and `plot.py` one command
each. Heavy modules are imported inside the commands, and `main` imports only the command it
runs (Typer builds a command from its signature, a few ms each), so that start-up stays short.
"""

from __future__ import annotations

import sys
from typing import Any

COMMANDS = ("init", "evaluate", "predict", "train", "models", "export", "plot", "serve")


def load_commands(names: tuple[str, ...] = COMMANDS) -> None:
    """Register these commands on the app (each module's decorator does it on import)."""
    for name in names:
        __import__(f"nnmnist.cli.{name}")  # not importlib's: -X importtime sees this one


def main() -> None:
    """Entry point of the `nnmnist` command: the command named on the line is the only one
    built; help, a typo or no command at all build every one."""
    from nnmnist.cli import quick

    if quick.answers(sys.argv[1:]):  # --help, --version: no app to build
        return
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    load_commands((command,) if command in COMMANDS else COMMANDS)
    from nnmnist.cli.base import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole app, every command registered (tests, CliRunner)
        load_commands()
        from nnmnist.cli.base import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMANDS", "app", "load_commands", "main"]
