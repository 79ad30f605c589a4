"""nnmnist evaluate: accuracy on MNIST, batch by batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    ActivationOption,
    AnyShapeOption,
    ArchOption,
    ChunkOption,
    DataOption,
    EngineName,
    EngineOption,
    ForceOption,
    InvertOption,
    JsonOption,
    ModelOption,
    OfflineOption,
    RawOption,
    ReportFormat,
    ReportFormatOption,
    SchedulerOption,
    Split,
    WeightsOption,
    batch_size_option,
    load_network,
    naming_the_weights,
    pick_format,
    whole_batches,
)


@app.command()
@reports_errors
def evaluate(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Labelled digits of your own (default: MNIST): CSV rows of a label and 784 "
            "pixels, .npz with images and labels, an IDX images file beside its labels, or a "
            "folder of pictures in subfolders named 0 to 9.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int,
        batch_size_option(
            1_000_000,
            "100 by default, the notebook's batch, so that the running accuracy matches its "
            "printout.",
        ),
    ] = 100,
    weights: WeightsOption = None,
    model: ModelOption = None,
    arch_spec: ArchOption = None,
    activation: ActivationOption = None,
    data: DataOption = "auto",
    split: Annotated[
        Split,
        typer.Option(help="test: the 10,000 MNIST test images; notebook: the notebook's 14,000."),
    ] = Split.test,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1, help="Evaluate only the first N images (default: all).", show_default=False
        ),
    ] = None,
    fmt: ReportFormatOption = ReportFormat.text,
    as_json: JsonOption = False,
    offline: OfflineOption = False,
    every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Off a terminal, print progress every N batches (default: about 10 lines).",
            show_default=False,
        ),
    ] = None,
    errors: Annotated[
        Path | None,
        typer.Option(
            help="Write each misclassified image into this new or empty folder as a PNG whose "
            "name says its true and predicted labels, and each refused picture with its kind.",
            show_default=False,
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write a report as one self-contained HTML page: the running accuracy, "
            "the confusion matrix linked to the misread digits, per-class figures and the 100 "
            "most confident mistakes.",
            show_default=False,
        ),
    ] = None,
    force: ForceOption = False,
    min_confidence: Annotated[
        float | None,
        typer.Option(
            "--min-confidence",
            min=0.0,
            max=1.0,
            help="Also report how many images the network answers at or above this best "
            "probability, and its accuracy on them (the report shows a few thresholds anyway).",
            show_default=False,
        ),
    ] = None,
    engine: EngineOption = EngineName.local,
    scheduler: SchedulerOption = None,
    chunk_size: ChunkOption = 10_000,
    invert: InvertOption = None,
    raw: RawOption = False,
    any_shape: AnyShapeOption = False,
) -> None:
    """Measure accuracy on MNIST, or on labelled digits of your own, batch by batch.

    Every input counts: a picture refused (blank, not one digit, not a digit) is counted as
    not read right in the accuracy, and the accuracy over the answered inputs is given beside
    it; a file that cannot be read is reported on stderr (exit status 1).

    Examples:

        nnmnist evaluate --batch-size 100

        nnmnist evaluate my-digits/ --errors misread/

        nnmnist evaluate labelled.csv --format json

        nnmnist evaluate --format json | jq .accuracy

        nnmnist evaluate --data path/to/mnist-idx-folder --split notebook

        nnmnist evaluate --report report.html
    """
    from nnmnist.engines.inputs import ImageOptions
    from nnmnist.engines.local import as_they_would_be
    from nnmnist.io import mnist as datasets
    from nnmnist.io.formats import printable
    from nnmnist.io.outputs import prepare_folder
    from nnmnist.present import terminal as render

    fmt = pick_format(fmt, as_json)
    if inputs and (engine is EngineName.dask or scheduler):
        raise typer.BadParameter("the dask engine evaluates MNIST; your own inputs run locally")
    net, path, name = load_network(weights, activation, model=model, spec=arch_spec)
    failures: list[str] = []
    if inputs:
        ds = _own_data(inputs, failures, ImageOptions(invert, raw, any_shape))
        if not len(ds.labels):
            raise typer.Exit(1)  # every input failed, each with its error line
        heading = f"labelled images from {printable(ds.source)}"
    else:
        ds = datasets.load(data, split.value, no_network=offline)
        heading = f"MNIST {ds.split} split from {ds.source}"
    images, labels = ds.images[:limit], ds.labels[:limit]
    # pictures refused (row -> kind), within --limit: counted, never answered
    refused = {r: why for r, why in getattr(ds, "refused", {}).items() if r < len(labels)}
    if errors is not None:
        prepare_folder(errors, force, "--errors")
    collect = None
    render.message(
        f"evaluating {name} ({net.describe()}) on {len(labels):,} images, {heading}, "
        f"batches of {batch_size}"
    )
    if getattr(ds, "split", "") == "notebook" and net.meta.get("data", {}).get("split") == "train":
        render.message(
            "warning: the notebook split is drawn from all 70,000 images, and this network "
            "was trained on the 60,000 training images: the figure below is inflated"
        )
    with naming_the_weights(name):
        if engine is EngineName.dask or scheduler:
            result = _on_dask(net, ds, len(labels), batch_size, chunk_size, scheduler)
        else:
            collect = _collector(labels, refused) if report is not None else None
            result = _locally(net, images, labels, batch_size, every, collect, refused)
    seen = as_they_would_be(ds.names, refused, invert) if refused and (errors or report) else {}
    if errors is not None:
        _write_errors(net, ds, limit, errors, force, refused, seen)
    if report is not None:
        mistakes = collect.mistakes() if collect is not None else None
        _write_report(report, net, ds, limit, result, heading, name, force, mistakes, refused, seen)
    extra: dict[str, Any] = {}
    if min_confidence is not None:
        covered, accepted_accuracy = result.coverage(min_confidence)
        extra = {
            "min_confidence": min_confidence,
            "coverage": covered,
            "accepted_accuracy": accepted_accuracy,
        }
    if fmt is ReportFormat.json:
        render.emit_json(
            {
                **result.to_dict(),
                **extra,
                "weights": printable(str(path)),
                "arch": net.spec,
                "layers": list(net.sizes),
                "activation": net.hidden if net.layers is None else None,
                "source": printable(ds.source),
                "split": getattr(ds, "split", "labelled"),
            }
        )
    else:
        render.evaluation_report(result, f"{heading}, weights: {name}", min_confidence)
    if refused:
        render.message(_refusal_note(ds.names, refused, result))
    if failures:
        render.message(f"{len(failures)} input(s) could not be read; the others were evaluated")
        raise typer.Exit(1)


def _refusal_note(names: list[str], refused: dict[int, str], result: Any) -> str:
    """One line: how many inputs were refused, of which kinds, the first few by name."""
    from nnmnist.io.formats import printable

    rows = sorted(refused)[:3]
    shown = ", ".join(printable(names[r]) for r in rows)
    more = ", ..." if len(refused) > len(rows) else ""
    return (
        f"{len(refused):,} input(s) refused ({result.refusal_kinds()}), counted as not read right: "
        f"{shown}{more} (--any-shape predicts them anyway)"
    )


def _own_data(inputs: list[str], failures: list[str], options: Any) -> Any:
    from nnmnist.engines import labelled
    from nnmnist.errors import DataError
    from nnmnist.present import terminal as render

    def on_error(exc: DataError) -> None:
        failures.append(str(exc))
        render.error(str(exc))

    return labelled.load(inputs, options, on_error)


def _write_errors(
    net: Any,
    ds: Any,
    limit: int | None,
    folder: Path,
    force: bool,
    refused: dict[int, str],
    seen: dict[int, Any],
) -> None:
    """Each misread image, and each refused one as it would have been read, as a PNG file
    (engines.local.write_errors)."""
    from nnmnist.engines.local import names_of, write_errors
    from nnmnist.present import terminal as render

    images, labels = ds.images[:limit], ds.labels[:limit]
    names = names_of(ds, len(labels))
    count = write_errors(
        net, images, labels, names, folder, refused=refused, seen=seen, overwrite=force
    )
    shown = f" and {len(refused):,} refused" if refused else ""
    render.message(f"wrote {count} misclassified{shown} images to {folder}")


def _collector(labels: Any, refused: dict[int, str]) -> Any:
    from nnmnist.present.report import MistakeCollector

    return MistakeCollector(labels, refused)


def _write_report(
    path: Path,
    net: Any,
    ds: Any,
    limit: int | None,
    result: Any,
    data: str,
    name: str,
    force: bool,
    mistakes: Any = None,
    refused: dict[int, str] | None = None,
    seen: dict[int, Any] | None = None,
) -> None:
    """The evaluation as one HTML page (present.report), written through the atomic writer."""
    import shlex
    import sys

    from nnmnist.engines.local import names_of
    from nnmnist.io.outputs import write_text
    from nnmnist.present import report
    from nnmnist.present import terminal as render

    images, labels = ds.images[:limit], ds.labels[:limit]
    page, shown = report.evaluation_html(
        result,
        net,
        f"{name} ({net.describe()})",
        data,
        images,
        labels,
        names_of(ds, len(labels)),
        command=shlex.join(["nnmnist", *sys.argv[1:]]),
        mistakes=mistakes,
        refused=refused,
        refused_pictures=seen,
    )
    write_text(path, page, force, "--report")
    render.message(f"wrote {path}: {shown:,} misread images")


def _locally(
    net: Any,
    images: Any,
    labels: Any,
    batch_size: int,
    every: int | None,
    on_probs: Any = None,
    refused: dict[int, str] | None = None,
) -> Any:
    from nnmnist.core.evaluation import evaluate as run_evaluation
    from nnmnist.present import terminal as render

    batches = -(-len(labels) // batch_size)
    with render.EvalProgress(batches, every=every) as progress:
        return run_evaluation(
            net,
            images,
            labels,
            batch_size,
            on_batch=progress.update,
            on_probs=on_probs,
            refused=refused,
        )


def _on_dask(
    net: Any, ds: Any, n: int, batch_size: int, chunk_size: int, scheduler: str | None
) -> Any:
    from nnmnist.engines import distributed

    chunk = whole_batches(chunk_size, batch_size)
    with distributed.Engine(scheduler) as runner:
        return distributed.evaluate_dataset(runner, net, ds.source, ds.split, n, batch_size, chunk)
