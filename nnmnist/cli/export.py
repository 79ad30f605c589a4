"""nnmnist export: a model in another format (ONNX, safetensors, .npz, the book's pickle)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import ActivationOption, ArchOption, ForceOption, load_network


class ExportFormat(str, Enum):
    onnx = "onnx"
    safetensors = "safetensors"
    npz = "npz"
    pkl = "pkl"


@app.command()
@reports_errors
def export(
    model: Annotated[
        str,
        typer.Argument(
            help="A weight file (.pkl, .npz, .safetensors) or a shipped model by name "
            "(writers, photos, cnn, mlp; nnmnist models lists them).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The file to write; its suffix gives the format (.onnx, .safetensors, .npz, "
            ".pkl) unless --format does.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="onnx: a graph of the whole network (opset 13; input pixels (N, 784) float32 "
            "0-255, output probabilities); safetensors: the arrays W1, b1, ... and the layer "
            "spec; npz; pkl: the book's pickle.",
            show_default=False,
        ),
    ] = None,
    arch: ArchOption = None,
    activation: ActivationOption = None,
    force: ForceOption = False,
) -> None:
    """Write a model in another format, for ONNX Runtime, a browser, PyTorch or the book's code.

    ONNX and safetensors need the optional packages: pip install 'nnmnist[interchange]'.
    Every format is written through the same atomic writer as nnmnist's own files.

    Examples:

        nnmnist export mlp -o mnist-mlp.onnx

        nnmnist export weights/mnist-cnn.npz -o mnist-cnn.safetensors

        nnmnist export torch-mlp.safetensors -o from-torch.npz
    """
    from nnmnist.cli.options import writable_weights_target
    from nnmnist.errors import NnmnistError
    from nnmnist.models.weights import SAVE_FORMATS, SHIPPED_MODELS, save_weights
    from nnmnist.present import terminal as render

    shipped = model in SHIPPED_MODELS and not Path(model).exists()
    net, path, label = load_network(
        None if shipped else Path(model),
        activation,
        model=model if shipped else None,
        spec=arch,
    )
    kind = fmt.value if fmt is not None else SAVE_FORMATS.get(out.suffix.lower())
    if kind is None:
        raise typer.BadParameter(
            f"{out.name}: give the file a suffix (.onnx, .safetensors, .npz, .pkl) or --format",
            param_hint="--out",
        )
    writable_weights_target(out, readable=False)
    if out.exists() and not force:
        raise NnmnistError(f"{out}: already exists; pass --force to overwrite it")
    save_weights(net, out, overwrite=force, fmt=kind)
    what = {
        "onnx": "ONNX opset 13, input pixels (N, 784) float32 0-255, output probabilities (N, 10)",
        "safetensors": "safetensors, arrays W1, b1, ... and the layer spec in the metadata",
        "npz": "nnmnist's .npz",
        "pkl": "the book's pickle format",
    }[kind]
    render.message(f"wrote {out}: {net.describe()} from {label}; {what}")
