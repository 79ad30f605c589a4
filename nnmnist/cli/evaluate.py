"""nnmnist evaluate: accuracy on MNIST, batch by batch."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    ActivationOption,
    ChunkOption,
    DataOption,
    EngineName,
    EngineOption,
    JsonOption,
    OfflineOption,
    ReportFormat,
    ReportFormatOption,
    SchedulerOption,
    Split,
    WeightsOption,
    load_network,
    naming_the_weights,
    pick_format,
    whole_batches,
)


@app.command()
@reports_errors
def evaluate(
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            "-b",
            min=1,
            max=1_000_000,
            help="Images per batch: 100 by default, the notebook's batch, so that the running "
            "accuracy matches its printout.",
        ),
    ] = 100,
    weights: WeightsOption = None,
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
    engine: EngineOption = EngineName.local,
    scheduler: SchedulerOption = None,
    chunk_size: ChunkOption = 10_000,
) -> None:
    """Measure accuracy on MNIST, batch by batch, with a running accuracy.

    Examples:

        nnmnist evaluate --batch-size 100

        nnmnist evaluate --format json | jq .accuracy

        nnmnist evaluate --data path/to/mnist-idx-folder --split notebook
    """
    from nnmnist import data as datasets
    from nnmnist import render
    from nnmnist.formats import printable

    fmt = pick_format(fmt, as_json)
    net, path, name = load_network(weights, activation)
    ds = datasets.load(data, split.value, no_network=offline)
    images, labels = ds.images[:limit], ds.labels[:limit]
    heading = f"MNIST {ds.split} split from {ds.source}"
    render.message(
        f"evaluating {name} ({net.describe()}) on {len(labels):,} images, {heading}, "
        f"batches of {batch_size}"
    )
    if ds.split == "notebook" and net.meta.get("data", {}).get("split") == "train":
        render.message(
            "warning: the notebook split is drawn from all 70,000 images, and this network "
            "was trained on the 60,000 training images: the figure below is inflated"
        )
    with naming_the_weights(name):
        if engine is EngineName.dask or scheduler:
            result = _on_dask(net, ds, len(labels), batch_size, chunk_size, scheduler)
        else:
            result = _locally(net, images, labels, batch_size, every)
    if fmt is ReportFormat.json:
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


def _locally(net: Any, images: Any, labels: Any, batch_size: int, every: int | None) -> Any:
    from nnmnist import render
    from nnmnist.evaluation import evaluate as run_evaluation

    batches = -(-len(labels) // batch_size)
    with render.EvalProgress(batches, every=every) as progress:
        return run_evaluation(net, images, labels, batch_size, on_batch=progress.update)


def _on_dask(
    net: Any, ds: Any, n: int, batch_size: int, chunk_size: int, scheduler: str | None
) -> Any:
    from nnmnist import distributed

    chunk = whole_batches(chunk_size, batch_size)
    with distributed.Engine(scheduler) as runner:
        return distributed.evaluate_dataset(runner, net, ds.source, ds.split, n, batch_size, chunk)
