"""The command line: parse arguments, call the library, render the result.

A package with a room per command: `base.py` holds the app and turns failures into lines and
exit statuses, `options.py` the options every command shares (defined once), and `init.py`,
`evaluate.py`, `predict.py`, `train.py` and `models.py` one command each. Heavy modules are imported inside
the commands, so `--help` and `--version` stay fast.
"""

from nnmnist.cli import evaluate, init, models, predict, train  # noqa: F401 - registers the commands
from nnmnist.cli.base import app, main

__all__ = ["app", "main"]
