"""nnmnist train: backpropagation on the MNIST training images, with checkpoints and resume."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from nnmnist.cli.base import app, reports_errors
from nnmnist.cli.options import (
    DEFAULT_WEIGHTS,
    DataOption,
    ForceOption,
    JsonOption,
    OfflineOption,
    OldWeightsOutOption,
    OptimizerName,
    OutOption,
    ReportFormat,
    ReportFormatOption,
    Schedule,
    Scheme,
    activation_names,
    batch_size_option,
    parse_hidden,
    pick_format,
    pick_out,
    writable_weights_target,
)
from nnmnist.cli.runs import (
    _checked_arch,
    _checkpoint,
    _given,
    _refuse_existing,
    _restore,
    _resumed_config,
    _run_and_report,
)


@app.command()
@reports_errors
def train(
    ctx: typer.Context,
    epochs: Annotated[
        int, typer.Option(min=1, max=10_000, help="Passes over the training images.")
    ] = 10,
    batch_size: Annotated[
        int,
        batch_size_option(
            60_000, "128 by default (one gradient step each), a usual minibatch for Adam."
        ),
    ] = 128,
    lr: Annotated[
        float, typer.Option(min=0.0, help="Learning rate (the peak, with --schedule cosine).")
    ] = 1e-3,
    optimizer: Annotated[OptimizerName, typer.Option(help="Update rule.")] = OptimizerName.adam,
    hidden: Annotated[
        str, typer.Option(help="Hidden layer sizes of an MLP, comma-separated.")
    ] = "256,128",
    activation: Annotated[
        str, typer.Option(help="Hidden activation of an MLP: relu, sigmoid, tanh or identity.")
    ] = "relu",
    arch_spec: Annotated[
        str | None,
        typer.Option(
            "--arch",
            help="The layers, as a spec such as conv32k5-relu-pool2-affine10 (see the README); "
            "instead of --hidden and --activation.",
            show_default=False,
        ),
    ] = None,
    init: Annotated[Scheme, typer.Option("--init", help="Weight initialisation.")] = Scheme.he,
    weight_decay: Annotated[float, typer.Option(min=0.0, help="L2 penalty on the weights.")] = 0.0,
    schedule: Annotated[
        Schedule, typer.Option(help="Learning rate over the run.")
    ] = Schedule.cosine,
    augment: Annotated[
        int, typer.Option(min=0, max=8, help="Shift training images by up to N pixels at random.")
    ] = 0,
    rotate: Annotated[
        float,
        typer.Option(min=0.0, max=180.0, help="Rotate training images by up to N degrees."),
    ] = 0.0,
    scale: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.5, help="Scale training images by a factor within 1 +- N (0.1: +-10%)."
        ),
    ] = 0.0,
    elastic: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=100.0,
            help="Elastic distortions of this strength in pixels (Simard et al. 2003; 0: none).",
        ),
    ] = 0.0,
    thickness: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=3.0,  # training.MAX_THICKNESS
            help="Thicken or thin the strokes by up to N 3x3 dilations or erosions.",
        ),
    ] = 0.0,
    noise: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Add Gaussian noise of sigma up to N (0-1 scale) to images."
        ),
    ] = 0.0,
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
            help="Stop after N epochs without a better validation accuracy (default: never).",
            show_default=False,
        ),
    ] = None,
    data: DataOption = "auto",
    offline: OfflineOption = False,
    out: OutOption = DEFAULT_WEIGHTS,
    old_out: OldWeightsOutOption = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the checkpoint beside --out.")
    ] = False,
    force: ForceOption = False,
    keep_checkpoint: Annotated[
        bool,
        typer.Option("--keep-checkpoint", help="Keep OUT.ckpt.npz after training ends normally."),
    ] = False,
    fmt: ReportFormatOption = ReportFormat.text,
    as_json: JsonOption = False,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Also write a report of the run as one self-contained HTML page: curves, a "
            "table per epoch, and the best epoch's evaluation on the MNIST test split.",
            show_default=False,
        ),
    ] = None,
    from_model: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Fine-tune this model (a shipped model's name or a weight file) on your own "
            "labelled digits, given with --data (a folder of digit folders, CSV, .npz or IDX, "
            "as evaluate reads them).",
            show_default=False,
        ),
    ] = None,
    mnist: Annotated[
        str,
        typer.Option(
            help="With --from: MNIST training digits to mix in (auto, openml or a folder of "
            "IDX files; none: no mixing, a pull towards the starting weights instead).",
        ),
    ] = "auto",
    mix: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="With --from: how many MNIST training digits to mix in (default: 4 per own "
            "digit, at most 6,000).",
            show_default=False,
        ),
    ] = None,
    anchor: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="With --from: pull towards the starting weights (L2 on the change; default "
            "0 with MNIST mixed in, 0.01 without).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train the network with backpropagation on the MNIST training images.

    The best epoch by validation accuracy is saved (atomically, after every epoch that improves);
    a checkpoint beside it (`OUT.ckpt.npz`) lets `--resume` continue after Ctrl-C, with the
    same settings and data (`--epochs` may be raised); it is removed when training ends normally.

    Examples:

        nnmnist train --data path/to/mnist-idx-folder --epochs 5

        nnmnist train --hidden 512,256 --augment 2 --epochs 30 -o big.npz

        nnmnist train -o big.npz --resume --data path/to/mnist-idx-folder

        nnmnist train --from photos --data my-digits/ -o mine.npz
    """
    from nnmnist import __version__
    from nnmnist.errors import NnmnistError
    from nnmnist.io import mnist as datasets
    from nnmnist.present import terminal as render
    from nnmnist.training.trainer import (
        TrainConfig,
        Trainer,
        budget_problem,
        checkpoint_run,
        run_metadata,
    )

    out, fmt = pick_out(out, old_out), pick_format(fmt, as_json)
    ckpt = out.with_name(out.name + ".ckpt.npz")
    writable_weights_target(out)
    if from_model is not None:
        from nnmnist.cli.finetune import fine_tune

        fine_tune(ctx, from_model, out, ckpt, fmt, report)
        return
    for name in ("mnist", "mix", "anchor"):
        if _given(ctx, name):
            raise typer.BadParameter("goes with --from (fine-tuning)", param_hint=f"--{name}")
    command = "nnmnist " + " ".join(sys.argv[1:])
    run = {"data": data, "command": command}
    if resume:
        saved, config = _checkpoint(ckpt)
        config = _resumed_config(ctx, config)
        run = {**run, **checkpoint_run(saved)}
        if _given(ctx, "data"):
            run["data"] = data
        else:
            data = run["data"]
        command = f"{run['command']} (resumed: {command})"
    else:
        _refuse_existing((out, ckpt), force)
        if arch_spec is not None and (_given(ctx, "hidden") or _given(ctx, "activation")):
            raise typer.BadParameter(
                "--arch gives every layer; drop --hidden and --activation", param_hint="--arch"
            )
        config = TrainConfig(
            hidden=parse_hidden(hidden),
            activation=_trainable(activation),
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
            arch=_checked_arch(arch_spec),
            rotate=rotate,
            scale=scale,
            elastic=elastic,
            thickness=thickness,
            noise=noise,
        )
    if (problem := budget_problem(config)) is not None:
        raise NnmnistError(problem)
    ds = datasets.load(data, "train", no_network=offline)
    if not config.val_size < len(ds):
        raise NnmnistError(
            f"--val-size {config.val_size} leaves no training images (there are {len(ds)})"
        )
    trainer = Trainer(config, ds.images, ds.labels, run_info=run)
    if resume:
        _restore(trainer, saved, ckpt)
    meta = run_metadata(config, trainer, ds.source, len(ds), command, __version__)
    render.message(
        f"training {trainer.net.describe()} with "
        f"{config.optimizer} on {len(ds) - config.val_size:,} MNIST training images from "
        f"{ds.source} ({config.val_size:,} held out), seed {config.seed}"
        + (f", resuming after epoch {trainer.epoch}" if resume else "")
    )
    _run_and_report(trainer, meta, out, ckpt, force or resume, fmt, report)
    if not keep_checkpoint:
        from nnmnist.io.atomic import remove_own

        remove_own(ckpt)  # finished: nothing to resume (only a checkpoint this run wrote)


# What a resumed run takes from its checkpoint; --epochs alone may change (raised, to go on).
def _trainable(activation: str) -> str:
    trainable = [a for a in activation_names() if a != "step"]
    if activation not in trainable:
        raise typer.BadParameter(
            f"{activation!r} is not one of {', '.join(trainable)}", param_hint="--activation"
        )
    return activation
