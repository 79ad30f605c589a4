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
    "--version": HEAVY | {"numpy", "rich", "nnmnist.core"},
    "--help": HEAVY | {"numpy", "nnmnist.core", "nnmnist.present.terminal"},
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
