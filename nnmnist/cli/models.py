"""nnmnist models: the shipped models, with their layers, size, accuracy and (--speed) speed."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import JsonOption, ReportFormat, ReportFormatOption, pick_format

SPEED_IMAGES = 2000  # bundled test images timed per model, in batches of 1000


@app.command()
@reports_errors
def models(
    fmt: ReportFormatOption = ReportFormat.text,
    as_json: JsonOption = False,
    speed: Annotated[
        bool,
        typer.Option(
            "--speed",
            help="Also measure each model's speed on this machine (images per second on "
            "2,000 bundled test images, batches of 1,000; a second or more).",
        ),
    ] = False,
) -> None:
    """List the shipped models: layers, size, test accuracy (and, with --speed, speed).

    For each: its name, layer spec, parameters, file size and test accuracy (recorded by the run
    that trained it); --speed measures the inference speed now, on this machine.

    `--model NAME` on evaluate and predict picks one; the first is the default.

    Examples:

        nnmnist models

        nnmnist models --speed

        nnmnist evaluate --model mlp
    """
    from nnmnist.models.weights import shipped_models
    from nnmnist.present import terminal as render

    found = shipped_models()  # the default first
    rows = [_describe(name, path, i == 0, speed) for i, (name, path) in enumerate(found.items())]
    if pick_format(fmt, as_json) is ReportFormat.json:
        render.emit_json({"models": rows})
    else:
        render.models_table(rows)


def _describe(name: str, path: Any, default: bool, speed: bool) -> dict[str, Any]:
    from nnmnist.models.weights import load_weights

    net = load_weights(path)
    return {
        "name": name,
        "arch": net.spec,
        "parameters": int(sum(a.size for a in (*net.weights, *net.biases))),
        "file_bytes": path.stat().st_size,
        "test_accuracy": net.meta.get("test_accuracy"),
        "images_per_second": _speed(net) if speed else None,
        "default": default,
    }


def _speed(net: Any) -> int:
    """Images per second of the forward pass on SPEED_IMAGES bundled test images."""
    import time

    from nnmnist.core.network import forward
    from nnmnist.io import mnist as data

    images = data.load("bundled", "test").images[:SPEED_IMAGES]
    forward(net, images[:100])  # warm up
    start = time.perf_counter()
    for lo in range(0, len(images), 1000):
        forward(net, images[lo : lo + 1000])
    return round(len(images) / (time.perf_counter() - start))
