"""nnmnist init: random weights in the book's format."""

from __future__ import annotations

from typing import Annotated

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    DEFAULT_WEIGHTS,
    ForceOption,
    OldWeightsOutOption,
    OutOption,
    Scheme,
    activation_names,
    notice,
    parse_hidden,
    pick_out,
    writable_weights_target,
)


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
        typer.Option(
            "--init", help="notebook: 0.01 x randn; xavier: randn / sqrt(n); he: randn x sqrt(2/n)."
        ),
    ] = Scheme.notebook,
    old_scheme: Annotated[
        Scheme | None, typer.Option("--scheme", hidden=True, help="Old spelling of --init.")
    ] = None,
    out: OutOption = DEFAULT_WEIGHTS,
    old_out: OldWeightsOutOption = None,
    force: ForceOption = False,
) -> None:
    """Write random weights (untrained: about 10% accuracy) in the book's pickle format.

    With the defaults the arrays equal the notebook's `np.random.seed(42)` weights exactly.

    Examples:

        nnmnist init --seed 42

        nnmnist init --hidden 50,100 --init xavier -o book.pkl
    """
    import numpy as np

    from nnmnist import __version__
    from nnmnist.core.network import N_CLASSES, N_INPUTS, init_network
    from nnmnist.errors import NnmnistError
    from nnmnist.models.weights import save_weights
    from nnmnist.present import terminal as render

    out = pick_out(out, old_out)
    if old_scheme is not None:
        notice("--scheme is now --init, as in train; --scheme goes in the next release")
        scheme = old_scheme
    sizes = (N_INPUTS, *parse_hidden(hidden), N_CLASSES)
    if activation not in activation_names():
        raise typer.BadParameter(
            f"{activation!r} is not one of {', '.join(activation_names())}",
            param_hint="--activation",
        )
    writable_weights_target(out)
    if out.exists() and not force:
        raise NnmnistError(f"{out}: already exists; pass --force to overwrite it")
    net = init_network(
        sizes, scheme=scheme.value, rng=np.random.RandomState(seed), hidden=activation
    )
    meta = {"seed": seed, "init": scheme.value, "creator": "nnmnist init", "version": __version__}
    save_weights(net, out, meta, overwrite=force)
    render.message(f"wrote {out}: {net.describe()}, {scheme.value} init, seed {seed}")
