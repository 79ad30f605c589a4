"""Options shared by the commands, each defined once, and the small helpers behind them.

The vocabulary: `--weights`/`-w` is a weight file to read (NNMNIST_WEIGHTS), `--out`/`-o` a
weight file to write (NNMNIST_OUT); `--format` picks the output everywhere; `--init` is the
initialisation scheme; `--data` the MNIST source; `--force` allows replacing existing files.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

DEFAULT_WEIGHTS = Path("weights") / "sample_weight.pkl"
# said on stderr by every command that runs weights `nnmnist init` made (and nothing trained)
UNTRAINED = "warning: never-trained weights (nnmnist init), ~10% right; try --model writers"


class Split(str, Enum):
    test = "test"
    notebook = "notebook"


class Scheme(str, Enum):
    notebook = "notebook"
    xavier = "xavier"
    he = "he"


class OptimizerName(str, Enum):
    adam = "adam"
    momentum = "momentum"
    sgd = "sgd"


class Schedule(str, Enum):
    cosine = "cosine"
    constant = "constant"


class EngineName(str, Enum):
    local = "local"
    dask = "dask"


class Format(str, Enum):
    """predict's result lines."""

    text = "text"
    csv = "csv"
    jsonl = "jsonl"


class ReportFormat(str, Enum):
    """evaluate's and train's report."""

    text = "text"
    json = "json"


def batch_size_option(largest: int, why: str) -> Any:
    """--batch-size/-b, the same everywhere but for its default (the help says why) and bound."""
    return typer.Option("--batch-size", "-b", min=1, max=largest, help=f"Images per batch: {why}")


def notice(text: str) -> None:
    """One line on stderr about an old spelling that still works."""
    from nnmnist.present import terminal as render

    render.message(f"note: {text}")


def activation_names() -> list[str]:
    # The same table the core looks activations up in (imported lazily: --help stays fast).
    from nnmnist.core.activations import HIDDEN_ACTIVATIONS

    return list(HIDDEN_ACTIVATIONS)


WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        "-w",
        envvar="NNMNIST_WEIGHTS",
        help="Weight file to read (.pkl or .npz). Default: weights/sample_weight.pkl here if it "
        "exists, else the default shipped model (see --model).",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        "-o",
        envvar="NNMNIST_OUT",
        help="Weight file to write (.pkl: the book's pickle; .npz).",
    ),
]
OldWeightsOutOption = Annotated[
    Path | None,
    typer.Option("--weights", "-w", hidden=True, help="Old spelling of --out."),
]
ReportFormatOption = Annotated[
    ReportFormat,
    typer.Option("--format", "-f", help="text: tables for people; json: one JSON document."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", hidden=True, help="Old spelling of --format json.")
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        envvar="NNMNIST_OFFLINE",
        help="Never use the network (OpenML only from the cache).",
    ),
]
EngineOption = Annotated[
    EngineName,
    typer.Option(help="local: this process; dask: Dask threads, or a cluster with --scheduler."),
]

_ADDRESS = re.compile(
    r"^(tcp|tls|ws|wss)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?):([0-9]{1,5})$"
)


def check_scheduler(value: str | None) -> str | None:
    """A scheduler address is checked at once (distributed took 20 s to call it invalid)."""
    if value is None or value == "":
        return None
    m = _ADDRESS.match(value)
    if m is None or not 0 < int(m.group(4)) < 65536:
        raise typer.BadParameter(
            f"{value[:100]!r} is not a scheduler address such as tcp://10.0.0.5:8786"
        )
    return value


SchedulerOption = Annotated[
    str | None,
    typer.Option(
        callback=check_scheduler,
        envvar="NNMNIST_SCHEDULER",
        help="A Dask scheduler, tcp://host:port (implies --engine dask).",
        show_default=False,
    ),
]
ChunkOption = Annotated[
    int,
    typer.Option(
        "--chunk-size", min=1, max=10_000_000, help="Images per Dask task (whole batches)."
    ),
]
DataOption = Annotated[
    str,
    typer.Option(
        "--data",
        envvar="NNMNIST_DATA",
        help="Where MNIST comes from: auto, bundled, openml, or a folder of MNIST IDX files.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Replace an existing file (never one of the inputs).")
]


def _not_nan(value: float, option: str) -> float:
    """NaN passes every min and max check (no comparison with it is true): refuse it here."""
    if value != value:
        raise typer.BadParameter("must be a number from 0 to 1, not nan", param_hint=option)
    return value


# how pictures are prepared: the same options for predict and evaluate
InvertOption = Annotated[
    bool | None,
    typer.Option(
        "--invert/--no-invert",
        help="Force the polarity of images (default: detect dark ink on light paper).",
        show_default=False,
    ),
]
RawOption = Annotated[
    bool, typer.Option("--raw", help="Images are MNIST-style 28x28 already: no preprocessing.")
]
AnyShapeOption = Annotated[
    bool,
    typer.Option(
        "--any-shape",
        help="Predict pictures whose ink does not look like one digit (specks all over, "
        "marks side by side, a solid blob) or like a digit at all (a letter, a sign; with "
        "--number, any of its marks); by default they are reported, not guessed.",
    ),
]
MinConfidenceOption = Annotated[
    float,
    typer.Option(
        "--min-confidence",
        min=0.0,
        max=1.0,
        callback=lambda value: _not_nan(value, "--min-confidence"),
        help="Withhold the label when the best probability is below P ('?' in text, empty in "
        "CSV, null in JSON) instead of guessing (default 0: always answer).",
    ),
]


def pick_format(fmt: ReportFormat, old_json: bool) -> ReportFormat:
    if old_json:
        notice("--json is now --format json (-f json); --json goes in the next release")
        return ReportFormat.json
    return fmt


def pick_out(out: Path, old: Path | None) -> Path:
    if old is not None:
        notice(
            "--weights for the file to write is now --out (-o); in the next release "
            "--weights will only name a file to read"
        )
        return old
    return out


def resolve_weights(option: Path | None, model: str | None = None) -> Path:
    """--weights, else --model, else NNMNIST_WEIGHTS, else weights/sample_weight.pkl here, else
    the default shipped model (the most accurate). Typer hands NNMNIST_WEIGHTS in as option."""
    from nnmnist.errors import WeightsError
    from nnmnist.models.weights import SHIPPED_MODELS, shipped_model_path

    from_env = option is not None and str(option) == os.environ.get("NNMNIST_WEIGHTS")
    if option is not None and not (model is not None and from_env):  # --model beats the env
        if model is not None:
            raise typer.BadParameter("give --weights or --model, not both", param_hint="--model")
        return option
    if model is not None:
        if model not in SHIPPED_MODELS:
            raise typer.BadParameter(
                f"{model!r} is not a shipped model; choose from {', '.join(SHIPPED_MODELS)} "
                "(nnmnist models lists them)",
                param_hint="--model",
            )
        chosen = shipped_model_path(model)
        if chosen is None:
            raise WeightsError(f"--model {model}: this installation does not have it")
        return chosen
    if DEFAULT_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS
    shipped = shipped_model_path()
    if shipped is not None:
        return shipped
    raise WeightsError(
        f"no weights: {DEFAULT_WEIGHTS} does not exist; run `nnmnist init` to make some, "
        "or pass --weights PATH"
    )


ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="A shipped model by name: writers (the default, most accurate), photos, cnn "
        "(trained on MNIST alone) or mlp (faster); nnmnist models lists them.",
        show_default=False,
    ),
]
ArchOption = Annotated[
    str | None,
    typer.Option(
        "--arch",
        help="The layers of a weight file that does not record them, as a spec such as "
        "conv30k5-relu-pool2-affine10 (see the README).",
        show_default=False,
    ),
]


ActivationOption = Annotated[
    str | None,
    typer.Option(
        help="Run the hidden layers with this activation instead of the one the file records "
        "(a book pickle records none: sigmoid, the book's).",
        show_default=False,
    ),
]


def load_network(
    option: Path | None,
    activation: str | None,
    verb: str | None = None,
    *,
    model: str | None = None,
    spec: str | None = None,
) -> tuple[Any, Path, str]:
    """The weights to read, loaded, with the activation override applied, and said on stderr:
    (network, path, label for messages)."""
    from nnmnist.api import load
    from nnmnist.present import terminal as render

    path = resolve_weights(option, model)
    net = load(path, arch=spec).net
    label = weights_label(path)
    if activation is not None:
        net = _with_activation(net, activation)
    elif "recognised" in net.meta:
        render.message(
            f"note: {label} does not say how its layers run: recognised as {net.meta['recognised']}"
        )
    elif "activation" not in net.meta and net.layers is None:
        render.message(
            f"note: {label} does not say its activation: run as the book's sigmoid network "
            "(--activation to change)"
        )
    if verb is not None:
        render.message(_fitted(f"{verb} {label}", net))
    if net.meta.get("creator") == "nnmnist init":
        render.message(UNTRAINED)
    return net, path, label


def _fitted(start: str, net: Any, width: int = 80) -> str:
    """start and the network's layers in brackets, within width when the spec is long (a
    ConvNet's: `nnmnist models` shows it whole)."""
    line = f"{start} ({net.describe()})"
    if len(line) <= width or net.layers is None:
        return line
    short = f"{start} (ConvNet, {len(net.weights)} weight layers)"
    return short if len(short) <= width else f"{start} (ConvNet)"


def _with_activation(net: Any, activation: str) -> Any:
    """The network with every hidden activation replaced (--activation)."""
    from nnmnist.models.weights import with_activation

    if activation not in activation_names():
        raise typer.BadParameter(
            f"{activation!r} is not one of {', '.join(activation_names())}",
            param_hint="--activation",
        )
    return with_activation(net, activation)


def weights_label(path: Path) -> str:
    from nnmnist.models.weights import weights_label as label

    return label(path)


def parse_hidden(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give layer sizes as numbers, like 50,50") from None
    if any(not 1 <= s <= 100_000 for s in sizes):
        raise typer.BadParameter(f"{text!r}: each layer needs 1 to 100000 units")
    return sizes


def whole_batches(chunk_size: int, batch_size: int) -> int:
    """Chunks hold whole batches, so that every engine forms the same batches."""
    return max(1, -(-chunk_size // batch_size)) * batch_size


@contextlib.contextmanager
def naming_the_weights(label: str) -> Iterator[None]:
    """Errors about the network's outputs name the weights they come from."""
    from nnmnist.errors import NonFiniteOutputs

    try:
        yield
    except NonFiniteOutputs as exc:
        raise NonFiniteOutputs(f"{label}: {exc}") from None


def writable_weights_target(path: Path, readable: bool = True) -> None:
    """The checks init, train and export make before any work (models.weights.check_target)."""
    from nnmnist.models.weights import check_target

    check_target(path, readable)
