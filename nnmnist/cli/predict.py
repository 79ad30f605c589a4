"""nnmnist predict: a label for every image, one result line each on stdout, in input order."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    ActivationOption,
    AnyShapeOption,
    ArchOption,
    ChunkOption,
    EngineName,
    EngineOption,
    Format,
    InvertOption,
    MinConfidenceOption,
    ModelOption,
    RawOption,
    SchedulerOption,
    WeightsOption,
    batch_size_option,
    load_network,
    naming_the_weights,
    notice,
    whole_batches,
)

# Images read at once, whatever --batch-size says: 8,192 rows of float32 pixels are 26 MB.
MAX_ROWS_READ = 8192


@dataclass(frozen=True)
class _Settings:
    fmt: Format
    top_k: int
    invert: bool | None
    raw: bool
    any_shape: bool
    batch_size: int
    show: bool
    save_preprocessed: Path | None
    force: bool
    min_confidence: float
    debug_stages: Path | None


@app.command()
@reports_errors
def predict(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Image files (PNG, JPEG, BMP, GIF, TIFF, PGM, WebP), folders of them, glob "
            "patterns, IDX, .npy, .npz or CSV files; - reads pixel data, or a list of paths, "
            "from stdin.",
            show_default=False,
        ),
    ] = None,
    weights: WeightsOption = None,
    model: ModelOption = None,
    arch_spec: ArchOption = None,
    activation: ActivationOption = None,
    fmt: Annotated[
        Format, typer.Option("--format", "-f", help="Result lines: text, csv or jsonl.")
    ] = Format.text,
    top_k: Annotated[
        int, typer.Option("--top-k", "-k", min=1, max=10, help="Show the K best labels.")
    ] = 1,
    min_confidence: MinConfidenceOption = 0.0,
    invert: InvertOption = None,
    raw: RawOption = False,
    any_shape: AnyShapeOption = False,
    show: Annotated[
        bool,
        typer.Option(
            "--show",
            help="Draw each digit as the network saw it, with its probabilities (with "
            "--number: the picture, with a box round each digit found).",
        ),
    ] = False,
    save_preprocessed: Annotated[
        Path | None,
        typer.Option(
            help="Write the 28x28 images fed to the network into this new or empty folder.",
            show_default=False,
        ),
    ] = None,
    number: Annotated[
        bool,
        typer.Option(
            "--number",
            help="Each picture holds a written number: read its digits left to right (lines top "
            "to bottom, a space between) and print the whole number (the probability shown is "
            "the least sure digit's).",
        ),
    ] = False,
    debug_stages: Annotated[
        Path | None,
        typer.Option(
            "--debug-stages",
            help="Write every preprocessing stage of every picture (grey, denoised, light, "
            "flattened, mask, digit) as PNG files into this new or empty folder.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        batch_size_option(
            1_000_000,
            f"1000 by default, for speed (results do not depend on it; at most "
            f"{MAX_ROWS_READ:,} are read at once, so that memory stays bounded).",
        ),
    ] = 1000,
    engine: EngineOption = EngineName.local,
    scheduler: SchedulerOption = None,
    chunk_size: ChunkOption = 10_000,
    parts: Annotated[
        Path | None,
        typer.Option(
            help="With the dask engine: the workers write one file per chunk into this new or "
            "empty folder, plus manifest.json (instead of lines on stdout).",
            show_default=False,
        ),
    ] = None,
    old_output: Annotated[
        Path | None, typer.Option("--output", hidden=True, help="Old spelling of --parts.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a --save-preprocessed or --parts folder that is not empty "
            "(inputs are never written over).",
        ),
    ] = False,
) -> None:
    """Predict the digit in each image: one line per image on stdout, in input order.

    Pictures of digits (any size, colour or polarity) are prepared the way MNIST's were: ink
    found, scaled into 20x20, centred by centre of mass in 28x28. Arrays hold pixel values 0-255
    in shape (N, 784), (N, 28, 28) or (28, 28); CSV rows hold 784 values (a leading label column
    and a header row are recognised). Every input keeps its line: one that fails gets no label
    and its reason ('could not be read' for a broken or too large file; 'refused: blank',
    'refused: not a digit', ... for a picture read and not predicted: blank, specks all over, a
    number of several digits, a dot, a letter), a line on stderr, and the exit status 1; the
    others go on. So does a row of an array or CSV file whose pixels are all 0.

    Examples:

        nnmnist predict digit.png --show

        nnmnist predict scans/ --format csv | sort -t, -k2

        find . -name '*.jpg' | nnmnist predict - --top-k 3

        nnmnist predict digits.npy t10k-images-idx3-ubyte.gz --format jsonl
    """
    from nnmnist.engines.inputs import STDIN, gather, peekable
    from nnmnist.io.outputs import prepare_folder
    from nnmnist.io.reading import register_inputs
    from nnmnist.present import terminal as render

    if old_output is not None:
        notice("--output is now --parts; --output goes in the next release")
        parts = old_output
    use_dask = engine is EngineName.dask or bool(scheduler)
    _check_usage(inputs, use_dask, show, save_preprocessed or debug_stages, parts)
    if number and (use_dask or raw or save_preprocessed or debug_stages):
        raise typer.BadParameter(
            "--number reads pictures locally; it does not go with --engine dask, --raw, "
            "--save-preprocessed or --debug-stages"
        )
    settings = _Settings(
        fmt,
        top_k,
        invert,
        raw,
        any_shape,
        min(batch_size, MAX_ROWS_READ),
        show,
        save_preprocessed,
        force,
        min_confidence,
        debug_stages,
    )
    net, _, label = load_network(
        weights, activation, "predicting with", model=model, spec=arch_spec
    )
    if save_preprocessed is not None:
        prepare_folder(save_preprocessed, force, "--save-preprocessed")
    if debug_stages is not None:
        prepare_folder(debug_stages, force, "--debug-stages")
    stdin = peekable(sys.stdin.buffer) if STDIN in (inputs or []) else None
    specs = gather(inputs or [], stdin)
    register_inputs(specs)  # never written over, even before they are read
    with naming_the_weights(label):
        if use_dask:
            failures = _on_dask(net, specs, settings, chunk_size, scheduler, parts)
        elif number:
            failures = _numbers(net, specs, settings)
        else:
            failures = _locally(net, specs, stdin, settings)
    if failures:
        if len(specs) > 1:
            render.message(_not_predicted(failures, len(specs)))
        raise typer.Exit(1)


def _not_predicted(reasons: list[str], total: int) -> str:
    """The last line when some inputs were not predicted: how many, refused and not read."""
    refused = sum(r.startswith("refused") for r in reasons)
    kinds = [f"{refused} refused"] if refused else []
    if len(reasons) > refused:
        kinds.append(f"{len(reasons) - refused} could not be read")
    if len(reasons) >= total:
        return f"none of the {total} inputs was predicted: {', '.join(kinds)}"
    return f"{len(reasons)} of {total} inputs not predicted ({', '.join(kinds)}); the others were"


def _check_usage(
    inputs: list[str] | None,
    use_dask: bool,
    show: bool,
    save_preprocessed: Path | None,
    parts: Path | None,
) -> None:
    from nnmnist.engines.inputs import STDIN

    if not inputs:
        raise typer.BadParameter("give one or more input files or folders, or - for standard input")
    if STDIN in inputs and sys.stdin.isatty():
        raise typer.BadParameter(
            "standard input is a terminal: pipe data or paths into `nnmnist predict -`"
        )
    if inputs.count(STDIN) > 1:
        raise typer.BadParameter("standard input (-) can be read only once")
    if use_dask and (show or save_preprocessed is not None or STDIN in inputs):
        raise typer.BadParameter(
            "--show, --save-preprocessed, --debug-stages and - (stdin) need --engine local"
        )
    if parts is not None and not use_dask:
        raise typer.BadParameter("--parts needs --engine dask (locally, redirect stdout)")


def _locally(net: Any, specs: list[str], stdin: Any, s: _Settings) -> list[str]:
    """Predict batch by batch in this process (engines.local), a line per input as each batch
    is answered; returns the failed inputs' reasons."""
    from nnmnist.api import Model
    from nnmnist.engines.inputs import ImageOptions, why_failed
    from nnmnist.errors import DataError
    from nnmnist.io.formats import BlankRows, csv_header
    from nnmnist.io.outputs import FileNames
    from nnmnist.present import drawing
    from nnmnist.present import terminal as render

    failures: list[str] = []  # why each input that failed did

    def on_error(exc: DataError) -> None:
        failures.append(why_failed(exc))
        render.failure(exc)

    show_console = render.out_console() if s.fmt is Format.text else render.err_console()
    if s.fmt is Format.csv:
        render.write_lines([csv_header(s.top_k)])
    options = ImageOptions(
        s.invert, s.raw, s.any_shape, s.debug_stages, FileNames(), s.force, gate_later=True
    )
    file_name = FileNames()
    blanks = BlankRows()
    with render.InputProgress(len(specs)) as progress:
        for done in Model(net).iter_answers(
            specs,
            batch_size=s.batch_size,
            stdin=stdin,
            options=options,
            min_confidence=s.min_confidence,
            blanks=blanks,
            on_error=on_error,
            on_input=lambda _: progress.step(),  # as each file is read, within a batch
        ):
            lines = done.lines(s.fmt.value, s.top_k)
            if s.save_preprocessed is not None:
                _save_pictures(done, s.save_preprocessed, file_name, s.force)
            if s.show:  # each digit, then its result line
                for i, name in enumerate(done.names):
                    if i not in done.failed:
                        drawing.show_digit(show_console, name, done.pixels[i], done.probs[i])
                    render.write_lines(lines[i : i + 1])
            else:
                render.write_lines(lines)
    sys.stdout.flush()
    for message in blanks.messages():
        failures.append("refused: blank")
        render.refusal(message)
    return failures


def _save_pictures(done: Any, folder: Path, file_name: Any, force: bool) -> None:
    from nnmnist.vision.images import save_digit  # Pillow, only for pictures

    for i, name in enumerate(done.names):
        if i not in done.failed:
            save_digit(done.pixels[i], folder / file_name(name), overwrite=force)


def _on_dask(
    net: Any,
    specs: list[str],
    s: _Settings,
    chunk_size: int,
    scheduler: str | None,
    parts: Path | None,
) -> list[str]:
    """The same lines through the Dask engine (engines.distributed.Prediction), in order."""
    from nnmnist.engines import distributed
    from nnmnist.engines.inputs import ImageOptions
    from nnmnist.io.formats import csv_header
    from nnmnist.io.outputs import prepare_folder
    from nnmnist.present import terminal as render

    def tell(failed: list[distributed.Failure]) -> None:
        for f in failed:
            (render.refusal if f.refused else render.error)(f.message)

    if parts is not None:
        prepare_folder(parts, s.force, "--parts")
    elif s.fmt is Format.csv:
        render.write_lines([csv_header(s.top_k)])
    run = distributed.Prediction(
        net,
        specs,
        chunk_size=whole_batches(chunk_size, s.batch_size),
        batch_size=s.batch_size,
        fmt=s.fmt.value,
        top_k=s.top_k,
        options=ImageOptions(s.invert, s.raw, s.any_shape),
        parts=parts,
        overwrite=s.force,
        min_confidence=s.min_confidence,
    )
    with (
        distributed.Engine(scheduler) as engine,
        render.InputProgress(len(run.chunks), "chunks", threshold=2) as progress,
    ):
        for text, failed in run.run(engine):
            tell(failed)
            sys.stdout.write(text)
            sys.stdout.flush()
            progress.step()
    tell(run.finish())
    if parts is not None:
        render.message(f"wrote {len(run.written)} parts and manifest.json to {parts}")
        if run.older:
            render.message(
                f"left alone {len(run.older)} part files that this run did not write "
                f"({run.older[0]}, ...); manifest.json names this run's parts"
            )
    return [f.why for f in run.failures]


def _numbers(net: Any, specs: list[str], s: _Settings) -> list[str]:
    """--number: one line per picture, the digits read left to right (lines of writing top to
    bottom, a space between them), by engines.local.read_numbers."""
    from nnmnist.api import Model
    from nnmnist.engines.inputs import why_failed
    from nnmnist.io.formats import NUMBER_HEADER, number_line, unread_number_line
    from nnmnist.present import drawing
    from nnmnist.present import terminal as render

    failures: list[str] = []
    show_console = render.out_console() if s.fmt is Format.text else render.err_console()
    if s.fmt is Format.csv:
        render.write_lines([NUMBER_HEADER])
    numbers = Model(net).iter_numbers(
        specs, invert=s.invert, any_shape=s.any_shape, with_ink=s.show
    )
    for spec, read in numbers:
        if isinstance(read, Exception):
            failures.append(why_failed(read))
            render.failure(read)
            render.write_lines([unread_number_line(spec, s.fmt.value, failures[-1])])
            continue
        if read.ink is not None:
            drawing.show_number(
                show_console, spec, read.ink[0], read.boxes, read.probs, read.ink[1]
            )
        line = number_line(spec, read.boxes, read.probs, s.fmt.value, read.line_sizes)
        render.write_lines([line])
    sys.stdout.flush()
    return failures
