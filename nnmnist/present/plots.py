"""Pictures of what a network computes, drawn with matplotlib (the optional extra
`nnmnist[plot]`, imported only here) into PNG or SVG files.

Every figure is built from nnmnist's own computations (core.activations, a network's arrays,
an Evaluation, a training history) and drawn in one fixed style, so that the same inputs give
the same file: Agg renderer, DejaVu Sans, no dates in the metadata, a fixed SVG id salt.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core import activations
from nnmnist.core.network import Network, as_images
from nnmnist.errors import NnmnistError

STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "svg.hashsalt": "nnmnist",
    "svg.fonttype": "none",
}
BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#7f7f7f"
FORMATS = ("png", "svg")


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise NnmnistError(
            "plots need matplotlib: pip install 'nnmnist[plot]' (or pip install matplotlib)"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcdefaults()
    plt.rcParams.update(STYLE)  # type: ignore[arg-type]  # keys are checked by matplotlib
    return plt


def save(fig: Any, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes, without a creation date (the same input, the same file)."""
    buf = io.BytesIO()
    meta = {"Software": "nnmnist"} if fmt == "png" else {"Date": None, "Creator": "nnmnist"}
    fig.savefig(buf, format=fmt, metadata=meta, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def activations_figure(derivatives: bool = False) -> Any:
    """The notebook's pictures in one: step, sigmoid, the two together, ReLU, tanh, and softmax
    as bars over a small input vector; with derivatives, each one's dashed beside it."""
    plt = _pyplot()
    x = np.arange(-5.0, 5.0, 0.1)
    fig, axes = plt.subplots(2, 3, figsize=(10, 6))
    panels = [
        ("step function", ["step"]),
        ("sigmoid function", ["sigmoid"]),
        ("step and sigmoid", ["step", "sigmoid"]),
        ("ReLU function", ["relu"]),
        ("tanh function", ["tanh"]),
    ]
    colours = {"step": GREY, "sigmoid": BLUE, "relu": GREEN, "tanh": ORANGE}
    for ax, (title, names) in zip(axes.flat, panels, strict=False):
        for name in names:
            fn, derivative = activations.HIDDEN_ACTIVATIONS[name]
            y = fn(x)
            style = "--" if name == "step" and len(names) > 1 else "-"
            ax.plot(x, y, style, color=colours[name], label=name)
            if derivatives and derivative is not None:
                ax.plot(x, derivative(y), ":", color=colours[name], label=f"{name}'")
        low = -1.1 if "tanh" in names else -0.1
        ax.set_ylim(low, 5.1 if names == ["relu"] else 1.1)
        ax.set_title(title)
        if len(names) > 1 or derivatives:
            ax.legend(loc="upper left", frameon=False)
    a = np.array([0.3, 2.9, 4.0])  # the notebook's example
    y = activations.softmax(a)
    ax = axes.flat[5]
    bars = ax.bar([f"a{i + 1} = {v}" for i, v in enumerate(a)], y, color=BLUE)
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in y])
    ax.set_ylim(0, 1)
    ax.set_title("softmax([0.3, 2.9, 4.0])")
    fig.suptitle("activation functions, computed by nnmnist.core.activations")
    fig.tight_layout()
    return fig


def weights_figure(net: Network, digit: NDArray[np.uint8] | None, units: int = 64) -> Any:
    """An MLP's first-layer weights as 28x28 images, one per hidden unit (the first `units`);
    a ConvNet's first filters, and, given a digit, each filter's response to it."""
    plt = _pyplot()
    w = net.weights[0]
    if w.ndim == 2:  # (784, n1)
        n = min(units, w.shape[1])
        cols = int(np.ceil(np.sqrt(n)))
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.4), squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.axis("off")
            if k < n:
                img = w[:, k].reshape(28, 28)
                lim = float(np.abs(img).max()) or 1.0
                ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        fig.suptitle(f"first-layer weights of {n} of {w.shape[1]} hidden units (red +, blue -)")
        return fig
    filters = w[:, 0] if w.shape[1] == 1 else w.mean(axis=1)  # (F, kh, kw)
    n = min(units, len(filters))
    responses = None
    if digit is not None and net.layers is not None:
        x = as_images(digit[None], net.dtype)  # (1, 28, 28, 1)
        first = net.layers[0]
        out, _ = first.forward(x, (net.weights[0], net.biases[0]), _inference())
        responses = out[0]  # (oh, ow, F)
    rows = 2 if responses is not None else 1
    fig, axes = plt.subplots(rows, n, figsize=(n * 0.8, rows * 0.9 + 0.5), squeeze=False)
    for k in range(n):
        ax = axes[0, k]
        ax.axis("off")
        lim = float(np.abs(filters[k]).max()) or 1.0
        ax.imshow(filters[k], cmap="RdBu_r", vmin=-lim, vmax=lim)
        if responses is not None:
            axes[1, k].axis("off")
            axes[1, k].imshow(responses[:, :, k], cmap="viridis")
    what = (
        "filters (top) and their responses to the digit (bottom)"
        if responses is not None
        else "filters"
    )
    fig.suptitle(f"first convolution: {n} of {len(filters)} {what}")
    return fig


def _inference() -> Any:
    from nnmnist.core.layers import INFERENCE

    return INFERENCE


def history_figure(history: list[dict[str, Any]], title: str) -> Any:
    """Loss, training and validation accuracy and learning rate per epoch."""
    require_history(history)
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (left, mid, right) = plt.subplots(1, 3, figsize=(11, 3.4))
    left.plot(epochs, [h["train_loss"] for h in history], "o-", color=BLUE, ms=3)
    left.set_title("training loss")
    mid.plot(
        epochs, [h["train_accuracy"] for h in history], "o-", color=BLUE, ms=3, label="training"
    )
    val = [(h["epoch"], h["val_accuracy"]) for h in history if h.get("val_accuracy") is not None]
    if val:
        mid.plot(*zip(*val, strict=True), "o-", color=ORANGE, ms=3, label="validation")
    mid.set_title("accuracy")
    mid.legend(frameon=False)
    right.plot(epochs, [h["lr"] for h in history], "o-", color=GREEN, ms=3)
    right.set_title("learning rate (end of epoch)")
    for ax in (left, mid, right):
        ax.set_xlabel("epoch")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def require_history(history: list[dict[str, Any]]) -> None:
    if not history:
        raise NnmnistError(
            "this weight file records no training history (files written by nnmnist train "
            "from this version on do)"
        )


def confusion_figure(confusion: NDArray[np.int64], title: str) -> Any:
    """The confusion matrix as a heat map, counts written in the cells (rows: true digit)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    share = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for t in range(10):
        for p in range(10):
            count = int(confusion[t, p])
            if count:
                colour = "white" if share[t, p] > 0.5 else ("#b00000" if t != p else "black")
                ax.text(p, t, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set_xticks(range(10))
    ax.set_yticks(range(10))
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.grid(False)
    fig.colorbar(image, ax=ax, label="share of the true digit's images")
    ax.set_title(title)
    return fig


def errors_figure(
    images: NDArray[np.uint8],
    true: NDArray[np.integer],
    predicted: NDArray[np.integer],
    confidence: NDArray[np.floating],
    title: str,
) -> Any:
    """A grid of misread digits: true label, prediction and its probability under each."""
    plt = _pyplot()
    n = len(images)
    if n == 0:
        raise NnmnistError("no image was misread: nothing to draw")
    cols = min(10, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.0, rows * 1.25 + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k].reshape(28, 28), cmap="gray_r", vmin=0, vmax=255)
            ax.set_title(f"{true[k]}→{predicted[k]} {confidence[k]:.2f}", fontsize=7)
    fig.suptitle(title)
    return fig
