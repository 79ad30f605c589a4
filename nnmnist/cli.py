"""The command line: parse arguments, call the library, render the result.

Library errors (NnmnistError) become one 'error: ...' line on stderr and exit status 1
(3 when a data source cannot be reached); usage errors exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from nnmnist import __version__
from nnmnist.errors import NnmnistError

DEFAULT_WEIGHTS = Path("weights") / "sample_weight.pkl"
F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="nnmnist",
    help="MNIST batch inference with a multilayer perceptron written from scratch in NumPy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    text = "text"
    csv = "csv"
    jsonl = "jsonl"


def _activation_names() -> list[str]:
    # The same table the core looks activations up in (imported lazily: --help stays fast).
    from nnmnist.core.activations import HIDDEN_ACTIVATIONS

    return list(HIDDEN_ACTIVATIONS)


def _broken_pipe() -> None:
    # The reader went away (| head -1): stop quietly, and keep Python from complaining at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


_debug = False


def reports_errors(func: F) -> F:
    """Turn library errors into one stderr line and an exit code; Ctrl-C into 130.

    Anything else is a bug: one line too, unless --debug asks for the traceback.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from nnmnist import atomic, reading

        reading.start_run()  # each command is one run (tests invoke several in a process)
        atomic.forget_created()
        try:
            return _run(func, *args, **kwargs)
        finally:
            reading.end_run()

    return wrapper  # type: ignore[return-value]


def _run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a command; turn what it raises into one line on stderr and an exit status."""
    from nnmnist import render

    try:
        return func(*args, **kwargs)
    except (typer.Exit, typer.Abort, typer.BadParameter):
        raise
    except NnmnistError as exc:
        if _debug:
            raise
        render.error(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except MemoryError:
        if _debug:
            raise
        render.error("out of memory: try a smaller --batch-size")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        render.error("interrupted")
        raise typer.Exit(130) from None
    except BrokenPipeError:
        _broken_pipe()
        raise typer.Exit(0) from None
    except Exception as exc:
        if _debug:
            raise
        render.error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        raise typer.Exit(1) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nnmnist {__version__}")
        raise typer.Exit()


def _name_the_weights(label: str) -> Any:
    """Errors about the network's outputs name the weights they come from."""
    import contextlib

    from nnmnist.errors import NonFiniteOutputs

    @contextlib.contextmanager
    def naming() -> Any:
        try:
            yield
        except NonFiniteOutputs as exc:
            raise NonFiniteOutputs(f"{label}: {exc}") from None

    return naming()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when something goes wrong.")
    ] = False,
) -> None:
    """MNIST batch inference with a multilayer perceptron written from scratch in NumPy.

    Start with `nnmnist evaluate`, `nnmnist predict FILE` or `nnmnist train`.
    """
    global _debug
    _debug = debug


WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        "-w",
        envvar="NNMNIST_WEIGHTS",
        help="Weight file (.pkl or .npz). Default: weights/sample_weight.pkl here if it exists, "
        "else the shipped model.",
        show_default=False,
    ),
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


def _check_scheduler(value: str | None) -> str | None:
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
        callback=_check_scheduler,
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


def _resolve_weights(option: Path | None) -> Path:
    """--weights (or NNMNIST_WEIGHTS), else weights/sample_weight.pkl here, else the shipped model."""
    from nnmnist.errors import WeightsError
    from nnmnist.weights import shipped_model_path

    if option is not None:
        return option
    if DEFAULT_WEIGHTS.is_file():
        return DEFAULT_WEIGHTS
    shipped = shipped_model_path()
    if shipped is not None:
        return shipped
    raise WeightsError(
        f"no weights: {DEFAULT_WEIGHTS} does not exist; run `nnmnist init` to make some, "
        "or pass --weights PATH"
    )


def _weights_label(path: Path) -> str:
    from nnmnist.weights import is_shipped_model

    return f"the shipped model {path.name}" if is_shipped_model(path) else str(path)


def _parse_hidden(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give layer sizes as numbers, like 50,50") from None
    if any(not 1 <= s <= 100_000 for s in sizes):
        raise typer.BadParameter(f"{text!r}: each layer needs 1 to 100000 units")
    return sizes


@app.command()
@reports_errors
def init(
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same arrays.")
    ] = 42,
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes, comma-separated.")] = "50,50",
    activation: Annotated[
        str, typer.Option(help="Hidden activation: sigmoid, relu, tanh, identity or step.")
    ] = "sigmoid",
    scheme: Annotated[
        Scheme,
        typer.Option(help="notebook: 0.01*randn; xavier: randn/sqrt(n); he: randn*sqrt(2/n)."),
    ] = Scheme.notebook,
    weights: Annotated[
        Path, typer.Option("--weights", "-w", envvar="NNMNIST_WEIGHTS", help="Where to write.")
    ] = DEFAULT_WEIGHTS,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write random weights (untrained: about 10% accuracy) in the book's pickle format.

    With the defaults the arrays equal the notebook's `np.random.seed(42)` weights exactly.

    Examples:

        nnmnist init --seed 42

        nnmnist init --hidden 50,100 --scheme xavier --weights book.pkl
    """
    import numpy as np

    from nnmnist import render
    from nnmnist.core.network import N_CLASSES, N_INPUTS, init_network
    from nnmnist.errors import NnmnistError
    from nnmnist.weights import is_shipped_model, save_weights

    sizes = (N_INPUTS, *_parse_hidden(hidden), N_CLASSES)
    if activation not in _activation_names():
        raise typer.BadParameter(
            f"{activation!r}: choose from {', '.join(_activation_names())}",
            param_hint="--activation",
        )
    if weights.is_dir():
        raise NnmnistError(f"{weights}: is a folder; give a file name such as {weights / 'w.pkl'}")
    if is_shipped_model(weights):
        raise NnmnistError(f"{weights}: is the shipped model; write random weights elsewhere")
    if weights.exists() and not force:
        raise NnmnistError(f"{weights}: already exists; pass --force to overwrite it")
    net = init_network(
        sizes, scheme=scheme.value, rng=np.random.RandomState(seed), hidden=activation
    )
    meta = {"seed": seed, "init": scheme.value, "creator": "nnmnist init", "version": __version__}
    save_weights(net, weights, meta, overwrite=force)
    render.message(f"wrote {weights}: {net.describe()}, {scheme.value} init, seed {seed}")


@app.command()
@reports_errors
def evaluate(
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, max=1_000_000, help="Images per batch.")
    ] = 100,
    weights: WeightsOption = None,
    data: DataOption = "auto",
    split: Annotated[
        Split,
        typer.Option(help="test: the 10,000 MNIST test images; notebook: the notebook's 14,000."),
    ] = Split.test,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help="Evaluate only the first N images.", show_default=False),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Write one JSON document to stdout instead of tables.")
    ] = False,
    offline: OfflineOption = False,
    every: Annotated[
        int | None,
        typer.Option(
            min=1, help="Off a terminal, print progress every N batches.", show_default=False
        ),
    ] = None,
    engine: EngineOption = EngineName.local,
    scheduler: SchedulerOption = None,
    chunk_size: ChunkOption = 10_000,
) -> None:
    """Measure accuracy on MNIST, batch by batch, with a running accuracy.

    Examples:

        nnmnist evaluate --batch-size 100

        nnmnist evaluate --json | jq .accuracy

        nnmnist evaluate --data ../shared/data/mnist --split notebook
    """
    from nnmnist import data as datasets
    from nnmnist import render
    from nnmnist.evaluation import evaluate as run_evaluation
    from nnmnist.formats import printable
    from nnmnist.weights import load_weights

    path = _resolve_weights(weights)
    net = load_weights(path)
    ds = datasets.load(data, split.value, no_network=offline)
    images, labels = ds.images, ds.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    name = _weights_label(path)
    heading = f"MNIST {ds.split} split from {ds.source}"
    render.message(
        f"evaluating {name} ({net.describe()}) on {len(labels):,} images, {heading}, "
        f"batches of {batch_size}"
    )
    if engine is EngineName.dask or scheduler:
        from nnmnist import distributed

        chunk = _whole_batches(chunk_size, batch_size)
        with distributed.Engine(scheduler) as runner:
            result = distributed.evaluate_dataset(
                runner, net, ds.source, ds.split, len(labels), batch_size, chunk
            )
    else:
        batches = -(-len(labels) // batch_size)
        with _name_the_weights(name), render.EvalProgress(batches, every=every) as progress:
            result = run_evaluation(net, images, labels, batch_size, on_batch=progress.update)
    if as_json:
        render.emit_json(
            {
                **result.to_dict(),
                "weights": printable(str(path)),
                "layers": list(net.sizes),
                "activation": net.hidden,
                "source": ds.source,
                "split": ds.split,
            }
        )
    else:
        render.evaluation_report(result, f"{heading}, weights: {name}")


@app.command()
@reports_errors
def predict(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Image files (PNG, JPEG, BMP, GIF, TIFF, PGM), folders of them, glob patterns, "
            "IDX, .npy, .npz or CSV files; - reads pixel data, or a list of paths, from stdin.",
            show_default=False,
        ),
    ] = None,
    weights: WeightsOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.text,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=10, help="Show the K best labels.")
    ] = 1,
    invert: Annotated[
        bool | None,
        typer.Option(
            "--invert/--no-invert",
            help="Force the polarity of images (default: detect dark ink on light paper).",
            show_default=False,
        ),
    ] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Images are MNIST-style 28x28 already: no preprocessing.")
    ] = False,
    show: Annotated[
        bool,
        typer.Option(
            "--show", help="Draw each digit as the network saw it, with its probabilities."
        ),
    ] = False,
    save_preprocessed: Annotated[
        Path | None,
        typer.Option(
            help="Write the 28x28 images fed to the network into this folder.", show_default=False
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, max=1_000_000, help="Images per batch.")
    ] = 1000,
    engine: EngineOption = EngineName.local,
    scheduler: SchedulerOption = None,
    chunk_size: ChunkOption = 10_000,
    output: Annotated[
        Path | None,
        typer.Option(
            help="With the dask engine: workers write one file per chunk here, plus "
            "manifest.json (a new or empty folder).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a --save-preprocessed or --output folder that is not empty "
            "(inputs are never written over).",
        ),
    ] = False,
) -> None:
    """Predict the digit in each image: one line per image on stdout, in input order.

    Pictures of digits (any size, colour or polarity) are prepared the way MNIST's were: ink
    found, scaled into 20x20, centred by centre of mass in 28x28. Arrays hold pixel values 0-255
    in shape (N, 784), (N, 28, 28) or (28, 28); CSV rows hold 784 values (a leading label column
    and a header row are recognised). An image that fails (unreadable, blank, too large) is
    reported on stderr and the others go on; the exit status is then 1.

    Examples:

        nnmnist predict digit.png --show

        nnmnist predict scans/ --format csv | sort -t, -k2

        find . -name '*.jpg' | nnmnist predict - --top-k 3

        nnmnist predict digits.npy t10k-images-idx3-ubyte.gz --format jsonl
    """

    from nnmnist import render
    from nnmnist.core.network import forward as run_forward
    from nnmnist.errors import DataError
    from nnmnist.formats import csv_header, predict_lines
    from nnmnist.images import save_digit
    from nnmnist.inputs import (
        STDIN,
        ImageOptions,
        expand,
        iter_batches,
        peekable,
        stdin_holds_paths,
        stdin_paths,
    )
    from nnmnist.outputs import FileNames, prepare_folder
    from nnmnist.reading import register_inputs
    from nnmnist.weights import load_weights

    if not inputs:
        raise typer.BadParameter("give one or more input files or folders, or - for standard input")
    if STDIN in inputs and sys.stdin.isatty():
        raise typer.BadParameter(
            "standard input is a terminal: pipe data or paths into `nnmnist predict -`"
        )
    if inputs.count(STDIN) > 1:
        raise typer.BadParameter("standard input (-) can be read only once")
    use_dask = engine is EngineName.dask or bool(scheduler)
    if use_dask and (show or save_preprocessed is not None or STDIN in inputs):
        raise typer.BadParameter("--show, --save-preprocessed and - (stdin) need --engine local")
    if output is not None and not use_dask:
        raise typer.BadParameter("--output needs --engine dask (locally, redirect stdout)")
    net = load_weights(_resolve_weights(weights))
    if save_preprocessed is not None:
        prepare_folder(save_preprocessed, force, "--save-preprocessed")
    stdin = peekable(sys.stdin.buffer) if STDIN in inputs else None
    specs: list[str] = []
    for spec in inputs:
        if spec == STDIN and stdin is not None and stdin_holds_paths(stdin):
            specs.extend(stdin_paths(stdin))
        else:
            specs.extend(expand([spec]))
    if not specs:
        raise DataError(f"{' '.join(inputs)}: no image or array files found")
    register_inputs(specs)  # never written over, even before they are read

    failures: list[str] = []

    def on_error(exc: DataError) -> None:
        failures.append(str(exc))
        render.error(str(exc))

    if use_dask:
        failures = _predict_on_dask(
            net, specs, fmt, top_k, invert, raw, batch_size, chunk_size, scheduler, output, force
        )
        if failures and len(specs) > 1:
            render.message(
                f"{len(failures)} of {len(specs)} inputs failed; the others were predicted"
            )
        if failures:
            raise typer.Exit(1)
        return

    show_console = render.out_console() if fmt is Format.text else render.err_console()
    if fmt is Format.csv:
        render.write_lines([csv_header(top_k)])
    options = ImageOptions(invert=invert, raw=raw)
    file_name = FileNames()
    label = _weights_label(_resolve_weights(weights))
    with _name_the_weights(label), render.InputProgress(len(specs)) as progress:
        batches = iter_batches(specs, batch_size, stdin, images=options, on_error=on_error)
        for names, pixels in batches:
            lines = predict_lines(net, names, pixels, fmt.value, top_k)
            if save_preprocessed is not None:
                for name, digit in zip(names, pixels, strict=True):
                    save_digit(digit, save_preprocessed / file_name(name), overwrite=force)
            if show:  # each digit, then its result line
                probs = run_forward(net, pixels)  # (b, 10)
                for i, name in enumerate(names):
                    render.show_digit(show_console, name, pixels[i], probs[i])
                    render.write_lines(lines[i : i + 1])
            else:
                render.write_lines(lines)
            progress.advance(names)
    sys.stdout.flush()
    if failures:
        if len(specs) > 1:
            render.message(
                f"{len(failures)} of {len(specs)} inputs failed; the others were predicted"
            )
        raise typer.Exit(1)


def _predict_on_dask(
    net: Any,
    specs: list[str],
    fmt: Format,
    top_k: int,
    invert: bool | None,
    raw: bool,
    batch_size: int,
    chunk_size: int,
    scheduler: str | None,
    output: Path | None,
    force: bool,
) -> list[str]:
    """predict's output through the Dask engine: the same lines, chunk by chunk, in order."""
    import json

    from nnmnist import distributed, render
    from nnmnist.atomic import write_file
    from nnmnist.formats import csv_header
    from nnmnist.inputs import ImageOptions
    from nnmnist.outputs import prepare_folder, remove_old_parts

    failures: list[str] = []
    if output is not None:
        prepare_folder(output, force, "--output")
        remove_old_parts(output)
    elif fmt is Format.csv:
        render.write_lines([csv_header(top_k)])
    parts: list[dict[str, Any]] = []
    chunks = distributed.plan(specs, _whole_batches(chunk_size, batch_size))
    with (
        distributed.Engine(scheduler) as runner,
        render.InputProgress(len(chunks), "chunks", threshold=2) as progress,
    ):
        results = distributed.predict(
            runner,
            net,
            chunks,
            batch_size=batch_size,
            fmt=fmt.value,
            top_k=top_k,
            options=ImageOptions(invert=invert, raw=raw),
            output=None if output is None else output.resolve(),  # as the workers see it
        )
        for number, result in results:
            for message in result.errors:
                failures.append(message)
                render.error(message)
            if output is None:
                sys.stdout.write(result.text)
                sys.stdout.flush()
            else:
                parts.append({"chunk": number, "images": result.images, "file": result.file})
            progress.step()
    if output is not None:
        manifest = {
            "format": fmt.value,
            "top_k": top_k,
            "header": csv_header(top_k) if fmt is Format.csv else None,
            "parts": parts,
            "images": sum(p["images"] for p in parts),
            "failures": failures,
        }
        text = (json.dumps(manifest, indent=2) + "\n").encode()
        write_file(output / "manifest.json", lambda f: f.write(text))
        render.message(f"wrote {len(parts)} parts and manifest.json to {output}")
    return failures


def _whole_batches(chunk_size: int, batch_size: int) -> int:
    """Chunks hold whole batches, so that every engine forms the same batches."""
    return max(1, -(-chunk_size // batch_size)) * batch_size


def _checkpoint_path(weights: Path) -> Path:
    return weights.with_name(weights.name + ".ckpt.npz")


@app.command()
@reports_errors
def train(
    epochs: Annotated[
        int, typer.Option(min=1, max=10_000, help="Passes over the training images.")
    ] = 10,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, max=60_000)] = 128,
    lr: Annotated[
        float, typer.Option(min=0.0, help="Learning rate (the peak, with --schedule cosine).")
    ] = 1e-3,
    optimizer: Annotated[OptimizerName, typer.Option(help="Update rule.")] = OptimizerName.adam,
    hidden: Annotated[str, typer.Option(help="Hidden layer sizes, comma-separated.")] = "256,128",
    activation: Annotated[
        str, typer.Option(help="Hidden activation: relu, sigmoid, tanh or identity.")
    ] = "relu",
    init: Annotated[Scheme, typer.Option("--init", help="Weight initialisation.")] = Scheme.he,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="L2 penalty on the weights.")] = 0.0,
    schedule: Annotated[
        Schedule, typer.Option(help="Learning rate over the run.")
    ] = Schedule.cosine,
    augment: Annotated[
        int, typer.Option(min=0, max=8, help="Shift training images by up to N pixels at random.")
    ] = 0,
    seed: Annotated[
        int, typer.Option(help="One seed for the split, the weights and every shuffle.")
    ] = 0,
    val_size: Annotated[
        int, typer.Option(min=0, help="Training images held out to pick the best epoch.")
    ] = 5000,
    patience: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Stop after N epochs without a better validation accuracy.",
            show_default=False,
        ),
    ] = None,
    data: DataOption = "auto",
    offline: OfflineOption = False,
    weights: Annotated[
        Path,
        typer.Option(
            "--weights", "-w", envvar="NNMNIST_WEIGHTS", help="Where to write the best weights."
        ),
    ] = DEFAULT_WEIGHTS,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the checkpoint beside --weights.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing weight file.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Write the history and final figures to stdout as JSON.")
    ] = False,
) -> None:
    """Train the network with backpropagation on the MNIST training images.

    The best epoch by validation accuracy is saved (atomically, after every epoch that improves);
    a checkpoint beside it (`WEIGHTS.ckpt.npz`) lets `--resume` continue after Ctrl-C.

    Examples:

        nnmnist train --data ../shared/data/mnist --epochs 5

        nnmnist train --hidden 512,256 --augment 2 --epochs 30 --weights big.npz

        nnmnist train --weights big.npz --resume --data ../shared/data/mnist
    """
    import platform

    import numpy as np

    from nnmnist import data as datasets
    from nnmnist import render
    from nnmnist.atomic import RefusedTarget, write_file
    from nnmnist.errors import NnmnistError
    from nnmnist.evaluation import evaluate as run_evaluation
    from nnmnist.training import TrainConfig, Trainer, checkpoint_config
    from nnmnist.weights import is_shipped_model, read_checkpoint, save_weights

    ckpt = _checkpoint_path(weights)
    if weights.is_dir():
        raise NnmnistError(f"{weights}: is a folder; give a file name such as {weights / 'w.npz'}")
    if is_shipped_model(weights):
        raise NnmnistError(f"{weights}: is the shipped model; write your own weights elsewhere")
    if resume:
        if not ckpt.exists():
            raise NnmnistError(f"{ckpt}: no checkpoint to resume from; train without --resume")
        saved = read_checkpoint(ckpt)
        try:
            config = checkpoint_config(saved)
        except ValueError as exc:
            raise NnmnistError(f"{ckpt}: not a usable checkpoint ({exc})") from None
    else:
        for target in (weights, ckpt):
            if (target.exists() or target.is_symlink()) and not force:
                raise NnmnistError(
                    f"{target}: already exists; pass --force to overwrite it or --resume"
                )
        trainable = [a for a in _activation_names() if a != "step"]
        if activation not in trainable:
            raise typer.BadParameter(
                f"{activation!r}: choose from {', '.join(trainable)}", param_hint="--activation"
            )
        config = TrainConfig(
            hidden=_parse_hidden(hidden),
            activation=activation,
            init=init.value,
            optimizer=optimizer.value,
            lr=lr,
            weight_decay=weight_decay,
            batch_size=batch_size,
            epochs=epochs,
            seed=seed,
            val_size=val_size,
            patience=patience,
            schedule=schedule.value,
            augment=augment,
        )
    ds = datasets.load(data, "train", no_network=offline)
    if not config.val_size < len(ds):
        raise NnmnistError(
            f"--val-size {config.val_size} leaves no training images (there are {len(ds)})"
        )
    trainer = Trainer(config, ds.images, ds.labels)
    if resume:
        try:
            trainer.restore(saved)
        except ValueError as exc:
            raise NnmnistError(f"{ckpt}: not a usable checkpoint ({exc})") from None
    meta: dict[str, Any] = {
        "creator": "nnmnist train",
        "version": __version__,
        "command": "nnmnist " + " ".join(sys.argv[1:]),
        "init": config.init,
        "optimizer": trainer.optimizer.settings() | {"lr": config.lr},
        "schedule": config.schedule,
        "weight_decay": config.weight_decay,
        "batch_size": config.batch_size,
        "augment": config.augment,
        "seed": config.seed,
        "epochs": config.epochs,
        "data": {
            "source": ds.source,
            "split": "train",
            "train_images": len(ds) - config.val_size,
            "val_images": config.val_size,
        },
        "versions": {
            "nnmnist": __version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    render.message(
        f"training {'-'.join(map(str, trainer.net.sizes))} {config.activation} with {config.optimizer} "
        f"on {len(ds) - config.val_size:,} MNIST training images from {ds.source} "
        f"({config.val_size:,} held out), seed {config.seed}"
        + (f", resuming after epoch {trainer.epoch}" if resume else "")
    )

    def save_best() -> None:
        meta.update(best_epoch=trainer.best_epoch, val_accuracy=trainer.val_accuracy)
        save_weights(trainer.best_network(), weights, meta, overwrite=force or resume)

    def on_epoch(report: Any) -> None:
        progress.on_epoch(report)
        if report.improved:
            save_best()
        try:
            write_file(
                ckpt,
                lambda f: np.savez(f, **trainer.checkpoint()),  # type: ignore[arg-type]
                overwrite=force or resume,
            )
        except RefusedTarget as exc:
            raise NnmnistError(f"{ckpt}: {exc.strerror}") from None
        except OSError as exc:
            raise NnmnistError(
                f"{ckpt}: cannot write the checkpoint ({exc.strerror or exc})"
            ) from None

    try:
        with render.TrainProgress() as progress:
            trainer.run(on_batch=progress.on_batch, on_epoch=on_epoch)
    except KeyboardInterrupt:
        if trainer.best_epoch:
            render.message(
                f"interrupted: the best weights so far (epoch {trainer.best_epoch}, validation "
                f"{render.maybe(trainer.val_accuracy)}) are in {weights}; continue with --resume"
            )
        else:
            render.message("interrupted before the first epoch ended: nothing was saved")
        raise typer.Exit(130) from None

    test = datasets.load("bundled", "test")
    result = run_evaluation(trainer.best_network(), test.images, test.labels, 1000)
    meta["test_accuracy"] = result.accuracy
    save_best()
    seconds = sum(r.seconds for r in trainer.history)
    render.message(
        f"saved {weights}: epoch {trainer.best_epoch}, validation accuracy {render.maybe(trainer.val_accuracy)}, "
        f"test accuracy {result.accuracy:.4f}, {seconds:.0f} s of training"
    )
    if as_json:
        from dataclasses import asdict

        render.emit_json(
            {
                "weights": str(weights),
                "checkpoint": str(ckpt),
                "config": config.to_dict(),
                "history": [asdict(r) for r in trainer.history],
                "best_epoch": trainer.best_epoch,
                "val_accuracy": trainer.val_accuracy,
                "test_accuracy": result.accuracy,
                "seconds": seconds,
            }
        )


def main() -> None:
    """Entry point of the `nnmnist` command."""
    try:
        app()
    except BrokenPipeError:  # pragma: no cover - raised while flushing at exit
        _broken_pipe()
        sys.exit(0)
    except SystemExit as exc:
        _hard_exit_if_needed(exc.code)
        raise


def _hard_exit_if_needed(code: Any) -> None:
    """After a Dask client failed (or Ctrl-C stopped one), end the process at once: its threads
    and finalisers would print tracebacks at interpreter exit, after the one error line."""
    distributed = sys.modules.get("nnmnist.distributed")
    if distributed is not None and getattr(distributed, "needs_hard_exit", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else 1)
