"""nnmnist plot: pictures of what a network computes, as PNG or SVG, or in the terminal."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    ActivationOption,
    ArchOption,
    DataOption,
    ForceOption,
    ModelOption,
    WeightsOption,
    load_network,
)


class PlotKind(str, Enum):
    activations = "activations"
    weights = "weights"
    history = "history"
    confusion = "confusion"
    errors = "errors"


@app.command()
@reports_errors
def plot(
    kind: Annotated[
        PlotKind,
        typer.Argument(
            help="activations: step, sigmoid, ReLU, tanh, softmax; weights: the first layer's "
            "weights (an MLP) or filters (a ConvNet); history: a trained file's curves; "
            "confusion: the confusion matrix of an evaluation; errors: its misread digits.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="PNG or SVG file to write (by its suffix). Without it, on a terminal, the "
            "picture is drawn there.",
            show_default=False,
        ),
    ] = None,
    weights: WeightsOption = None,
    model: ModelOption = None,
    arch_spec: ArchOption = None,
    activation: ActivationOption = None,
    data: DataOption = "auto",
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="confusion, errors: evaluate the first N test images only.",
            show_default=False,
        ),
    ] = None,
    derivatives: Annotated[
        bool, typer.Option("--derivatives", help="activations: draw each one's derivative too.")
    ] = False,
    units: Annotated[
        int, typer.Option(min=1, max=1024, help="weights: how many hidden units or filters.")
    ] = 64,
    index: Annotated[
        int,
        typer.Option(min=0, help="weights: the test image whose filter responses a ConvNet shows."),
    ] = 0,
    force: ForceOption = False,
) -> None:
    """Draw what a network computes: PNG or SVG files (matplotlib, the plot extra), or
    half blocks in the terminal.

    Files need matplotlib: pip install 'nnmnist[plot]'.

    Examples:

        nnmnist plot activations -o activations.png

        nnmnist plot weights --model mlp -o weights.svg

        nnmnist plot confusion --model mlp

        nnmnist plot errors --limit 2000 -o misread.png
    """
    from nnmnist.errors import NnmnistError
    from nnmnist.present import terminal as render

    fmt = None
    if out is not None:
        fmt = out.suffix.lower().lstrip(".")
        if fmt not in ("png", "svg"):
            raise typer.BadParameter(f"{out.name}: give a .png or .svg file", param_hint="--out")
    elif not render.out_console().is_terminal:
        raise NnmnistError("give -o FILE.png or FILE.svg: standard output is not a terminal")
    picture: bytes | None
    if kind is PlotKind.activations:
        picture = _activations(derivatives, fmt)
    elif kind is PlotKind.weights:
        picture = _weights(weights, model, arch_spec, activation, units, index, fmt)
    elif kind is PlotKind.history:
        picture = _history(weights, model, arch_spec, fmt)
    else:
        picture = _evaluated(kind, weights, model, arch_spec, activation, data, limit, fmt)
    if out is not None and picture is not None:
        from nnmnist.io.outputs import write_bytes

        write_bytes(out, picture, force, "--out")
        render.message(f"wrote {out}")


def _activations(derivatives: bool, fmt: str | None) -> Any:
    import numpy as np

    from nnmnist.core import activations
    from nnmnist.present import drawing, plots
    from nnmnist.present import terminal as render

    if fmt is not None:
        return plots.save(plots.activations_figure(derivatives), fmt)
    x = np.arange(-5.0, 5.0, 0.1)
    colours = {"step": "grey62", "sigmoid": "blue", "relu": "green", "tanh": "dark_orange"}
    series = []
    for name, colour in colours.items():
        fn, derivative = activations.HIDDEN_ACTIVATIONS[name]
        y = np.clip(fn(x), -1.1, 1.1)
        series.append((name, colour, x, y))
        if derivatives and derivative is not None:
            series.append((f"{name}'", f"{colour} dim", x, derivative(fn(x))))
    console = render.out_console()
    drawing.show_chart(console, "activation functions (ReLU shown up to 1.1)", series)
    a = np.array([0.3, 2.9, 4.0])
    y = activations.softmax(a)
    console.print("softmax([0.3, 2.9, 4.0]):", highlight=False)
    for v, p in zip(a, y, strict=True):
        console.print(f"  {v:4.1f} {'█' * round(p * 40):40s} {p:.3f}", highlight=False)
    return None


def _weights(
    weights: Any, model: Any, spec: Any, activation: Any, units: int, index: int, fmt: Any
) -> Any:
    import numpy as np

    from nnmnist.io import mnist as datasets
    from nnmnist.present import drawing, plots
    from nnmnist.present import terminal as render

    net, _, label = load_network(weights, activation, model=model, spec=spec)
    digit = None
    if net.weights[0].ndim == 4:  # a ConvNet's filters are shown answering a test digit
        test = datasets.load("bundled", "test")
        digit = test.images[min(index, len(test.images) - 1)]
    if fmt is not None:
        return plots.save(plots.weights_figure(net, digit, units), fmt)
    w = net.weights[0]
    pictures = w.T.reshape(-1, 28, 28) if w.ndim == 2 else w[:, 0]
    pictures = pictures[:units]
    zoom = 1 if w.ndim == 2 else 4  # a filter is a few pixels wide: drawn four times larger
    scaled = [
        np.kron(((p - p.min()) / (np.ptp(p) or 1) * 255).astype(int), np.ones((zoom, zoom), int))
        for p in pictures
    ]
    drawing.show_images(
        render.out_console(),
        f"first-layer {'weights' if w.ndim == 2 else 'filters'} of {label} (light: positive)",
        scaled,
        [str(k) for k in range(len(scaled))],
    )
    return None


def _history(weights: Any, model: Any, spec: Any, fmt: Any) -> Any:
    from nnmnist.present import drawing, plots
    from nnmnist.present import terminal as render

    net, _, label = load_network(weights, None, model=model, spec=spec)
    history = net.meta.get("history") or []
    if fmt is not None:
        return plots.save(plots.history_figure(history, f"training of {label}"), fmt)
    plots.require_history(history)
    epochs = [h["epoch"] for h in history]
    series = [("train accuracy", "blue", epochs, [h["train_accuracy"] for h in history])]
    val = [(h["epoch"], h["val_accuracy"]) for h in history if h.get("val_accuracy") is not None]
    if val:
        series.append(
            ("validation accuracy", "dark_orange", [e for e, _ in val], [v for _, v in val])
        )
    console = render.out_console()
    drawing.show_chart(console, f"accuracy per epoch, {label}", series)
    drawing.show_chart(
        console, "training loss", [("loss", "red", epochs, [h["train_loss"] for h in history])]
    )
    return None


def _evaluated(
    kind: PlotKind,
    weights: Any,
    model: Any,
    spec: Any,
    activation: Any,
    data: str,
    limit: Any,
    fmt: Any,
) -> Any:
    """Evaluate on the MNIST test split, then draw its confusion matrix or its misread digits."""
    import numpy as np

    from nnmnist.core.evaluation import evaluate
    from nnmnist.core.network import forward
    from nnmnist.io import mnist as datasets
    from nnmnist.present import drawing, plots
    from nnmnist.present import terminal as render
    from nnmnist.present.report import find_mistakes

    net, _, label = load_network(weights, activation, "evaluating", model=model, spec=spec)
    ds = datasets.load(data, "test")
    images, labels = ds.images[:limit], ds.labels[:limit]
    title = f"{label}\non {len(labels):,} MNIST test images"
    if kind is PlotKind.confusion:
        result = evaluate(net, images, labels, 1000)
        if fmt is not None:
            return plots.save(
                plots.confusion_figure(
                    result.confusion, f"{title}: accuracy {result.accuracy:.4f}"
                ),
                fmt,
            )
        render.out_console().print(render.confusion_table(result.confusion))
        return None
    m = find_mistakes(lambda x: forward(net, x), images, labels)
    order = np.argsort(-m.top3_probs[:, 0], kind="stable")[:100]
    pick = m.index[order]
    if fmt is not None:
        return plots.save(
            plots.errors_figure(
                images[pick],
                labels[pick],
                m.predicted[order],
                m.top3_probs[order, 0],
                f"{len(m.index)} misread of {' '.join(title.split())} (the most confident first)",
            ),
            fmt,
        )
    drawing.show_images(
        render.out_console(),
        f"{len(m.index)} misread, {' '.join(title.split())}: true->read probability",
        [images[k].reshape(28, 28).astype(int) for k in pick],
        [
            f"{labels[k]}->{m.predicted[j]} {m.top3_probs[j, 0]:.2f}"
            for j, k in zip(order, pick, strict=True)
        ],
    )
    return None
