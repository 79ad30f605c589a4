"""Start-up: each command imports what it needs and nothing heavy besides (issue 15).

`python -X importtime` lists every module a process imports; a module on a command's list
below means a dependency crept onto its path (numpy on --version costs 70 ms, pydantic 130 ms,
scikit-learn half a second), which the benchmarks would show only as a slower start.
"""

import os
import subprocess
import sys

import pytest

HEAVY = {"pydantic", "sklearn", "scipy", "PIL", "dask", "distributed", "matplotlib", "torch"}
CASES = {
    # answered by nnmnist.cli.quick: not even Typer
    "--version": HEAVY | {"numpy", "rich", "typer", "click", "nnmnist.core"},
    "--help": HEAVY | {"numpy", "rich", "typer", "click", "nnmnist.core"},
    "-h": HEAVY | {"numpy", "rich", "typer", "click", "nnmnist.core"},
    "models": HEAVY | {"nnmnist.io.mnist", "rich.live"},  # lists, measures nothing
    # the bundled test split to a pipe: NumPy and Rich's tables, no live display, no network
    "evaluate --limit 200 --format text": HEAVY | {"rich.live", "rich.markdown", "socket"},
    "predict examples/digits.npy --format csv": HEAVY | {"rich.live", "rich.markdown", "socket"},
}


def imported(args: list[str]) -> set[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("NNMNIST_WEIGHTS", None)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nnmnist", *args],
        capture_output=True,
        env=env,
        cwd=os.path.join(os.path.dirname(__file__), ".."),
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    names = set()
    for line in result.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    assert names, "no -X importtime report"
    return names


@pytest.mark.parametrize("command", list(CASES))
def test_a_command_imports_nothing_it_does_not_need(command):
    names = imported(command.split())
    unexpected = sorted(
        n for n in names if any(n == m or n.startswith(m + ".") for m in CASES[command])
    )
    assert not unexpected, f"nnmnist {command} imported {', '.join(unexpected[:8])}"


def test_a_command_builds_only_itself():
    names = imported(["evaluate", "--limit", "10"])
    assert "nnmnist.cli.evaluate" in names
    assert not names & {"nnmnist.cli.predict", "nnmnist.cli.train", "nnmnist.cli.init"}


TYPER_HELP = """
import sys
sys.argv = ["nnmnist", "--help"]
from nnmnist.cli import load_commands
load_commands()
from nnmnist.cli.base import main
main()
"""


@pytest.mark.parametrize("columns", ["80", "120", "60"])
def test_the_quick_help_is_typers_page(columns):
    """nnmnist --help (cli/quick.py) prints what the Typer app would, character for character
    (off a terminal, where neither uses colour): its options, commands and summaries."""
    env = {**os.environ, "COLUMNS": columns, "NO_COLOR": "1"}
    run = [sys.executable, "-m", "nnmnist", "--help"]
    quick = subprocess.run(run, capture_output=True, env=env, check=True, timeout=60)
    typer = subprocess.run(
        [sys.executable, "-c", TYPER_HELP], capture_output=True, env=env, check=True, timeout=60
    )
    assert quick.stdout.decode() == typer.stdout.decode()
    alone = subprocess.run(run[:-1], capture_output=True, env=env, check=False, timeout=60)
    assert (alone.returncode, alone.stdout) == (0, quick.stdout)


def test_the_quick_version_is_typers():
    env = {**os.environ, "NO_COLOR": "1"}
    quick = subprocess.run(
        [sys.executable, "-m", "nnmnist", "--version"], capture_output=True, env=env, check=True
    )
    code = TYPER_HELP.replace('"--help"', '"--version"')
    typer = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, check=True)
    assert quick.stdout == typer.stdout


def test_the_quick_help_in_colour_is_the_same_page():
    """On a terminal the page has Typer's colours; without them it is the page above."""
    import re

    from nnmnist.cli.quick import help_page

    coloured = help_page(100, colour=True)
    assert "\033[1;36m--version\033[0m" in coloured and "\033[33mUsage: " in coloured
    assert re.sub(r"\033\[[0-9;]*m", "", coloured) == help_page(100, colour=False)
