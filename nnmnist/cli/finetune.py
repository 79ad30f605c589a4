"""nnmnist train --from MODEL --data MINE: fine-tune a model on one's own labelled digits."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from nnmnist.cli.options import ReportFormat


def _on_command_line(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def fine_tune(
    ctx: typer.Context, from_model: str, out: Path, ckpt: Path, fmt: ReportFormat, report: Any
) -> None:
    """Parse what is fine-tuned on what, run it through the Trainer (train.py's loop, saves
    and checkpoints), and report."""
    from nnmnist import __version__
    from nnmnist.cli.runs import (
        _checkpoint,
        _refuse_existing,
        _restore,
        _resumed_config,
        _run_and_report,
    )
    from nnmnist.errors import NnmnistError
    from nnmnist.present import terminal as render
    from nnmnist.training import finetune
    from nnmnist.training.trainer import Trainer, budget_problem, checkpoint_run, run_metadata

    p = ctx.params
    run = {"data": p["data"], "from": from_model, "mnist": p["mnist"]}
    run["command"] = "nnmnist " + " ".join(sys.argv[1:])
    if p["resume"]:
        saved, config = _checkpoint(ckpt)
        config = _resumed_config(ctx, config)
        before = checkpoint_run(saved)
        for key in ("data", "from", "mnist"):
            given = key == "from" or _on_command_line(ctx, key)
            if given and before.get(key, run[key]) != run[key]:
                raise typer.BadParameter(
                    f"{run[key]} is not what the checkpoint was fine-tuned with "
                    f"({before.get(key)}); drop it to resume",
                    param_hint=f"--{key}",
                )
            run[key] = before.get(key, run[key])
        run["command"] = f"{before.get('command', '')} (resumed: {run['command']})"
    else:
        _refuse_existing((out, ckpt), p["force"])
        if not _on_command_line(ctx, "data"):
            raise typer.BadParameter(
                "--from fine-tunes on your own labelled digits: give them with --data "
                "(a folder of digit folders, CSV, .npz or IDX)",
                param_hint="--data",
            )
    start, label = _starting_model(run["from"])
    data = _own_digits(run["data"])
    mnist = _mnist_digits(run["mnist"])
    tuning = finetune.tuning_data(
        data.images, data.labels, data.refused, mnist, p["mix"], p["seed"]
    )
    if tuning.own < 2:
        raise NnmnistError(f"{run['data']}: fewer than 2 digits to fine-tune on")
    if not p["resume"]:
        config = _config(ctx, start, tuning)
    if (problem := budget_problem(config)) is not None:
        raise NnmnistError(problem)
    trainer = Trainer(
        config, tuning.images, tuning.labels, run_info=run, start=start, val_pool=tuning.own
    )
    if p["resume"]:
        _restore(trainer, saved, ckpt)
    meta = run_metadata(
        config,
        trainer,
        f"{run['data']} and {tuning.mixed:,} MNIST training digits",
        len(tuning.labels),
        run["command"],
        __version__,
    )
    meta["fine_tuned"] = _card(trainer, start, label, run, tuning)
    start_val = meta["fine_tuned"]["start_val_accuracy"]
    render.message(
        f"fine-tuning {label} ({start.describe()}) on {tuning.own - config.val_size:,} of your "
        f"{tuning.own:,} digits from {run['data']} ({config.val_size:,} held out: "
        f"{render.maybe(start_val)} before), {tuning.mixed:,} MNIST training digits mixed in"
        + (f", anchor {config.anchor:g}" if config.anchor else "")
        + (f"; {tuning.left_out:,} refused pictures left out" if tuning.left_out else "")
    )
    _run_and_report(trainer, meta, out, ckpt, p["force"] or p["resume"], fmt, report)
    if not p["keep_checkpoint"]:
        from nnmnist.io.atomic import remove_own

        remove_own(ckpt)


def _starting_model(name: str) -> tuple[Any, str]:
    """The weights to start from: a shipped model by name, or a weight file (read safely);
    its meta gains the file's sha256 (for the card)."""
    import hashlib

    from nnmnist.cli.options import resolve_weights, weights_label
    from nnmnist.models.weights import SHIPPED_MODELS, load_weights

    path = resolve_weights(None, name) if name in SHIPPED_MODELS else Path(name)
    net = load_weights(path)
    with open(path, "rb") as f:  # read safely just above: a regular file, within the limits
        net.meta["file_sha256"] = hashlib.file_digest(f, "sha256").hexdigest()
    return net, weights_label(path)


def _own_digits(spec: str) -> Any:
    """The user's labelled digits, prepared as predict prepares pictures; a file that cannot
    be read gets its line and is left out (said once more at the end)."""
    from nnmnist.engines import labelled
    from nnmnist.engines.inputs import ImageOptions
    from nnmnist.errors import DataError, NnmnistError
    from nnmnist.present import terminal as render

    failed = []

    def on_error(exc: DataError) -> None:
        failed.append(exc)
        render.error(str(exc))

    data = labelled.load([spec], ImageOptions(), on_error)
    if not len(data.labels):
        if failed:  # each has had its line: nothing is left to say
            raise typer.Exit(1)
        raise NnmnistError(f"{spec}: no labelled digits to fine-tune on")
    if failed:
        render.message(f"{len(failed)} input(s) could not be read and are left out")
    return data


def _mnist_digits(source: str) -> Any:
    """MNIST training digits to mix in, or None (--mnist none, or none at hand: said)."""
    from nnmnist.errors import SourceUnavailableError
    from nnmnist.io import mnist as datasets
    from nnmnist.present import terminal as render

    if source == "none":
        return None
    try:
        ds = datasets.load(source, "train", no_network=True)
    except SourceUnavailableError as exc:
        render.message(
            f"note: no MNIST training digits at hand ({exc}); a pull towards the starting "
            "weights keeps what the model knew instead (--mnist DIR to mix them in)"
        )
        return None
    return ds.images, ds.labels


def _config(ctx: typer.Context, start: Any, tuning: Any) -> Any:
    """The fine-tuning's settings: the options given, else finetune's defaults and the
    augmentations the starting model was trained with."""
    from nnmnist.training import finetune
    from nnmnist.training.trainer import TrainConfig

    p = ctx.params
    given = {name for name in p if _on_command_line(ctx, name)}
    recipe = finetune.recipe(start.meta)
    return TrainConfig(
        arch=start.spec,
        optimizer=getattr(p["optimizer"], "value", p["optimizer"]),
        lr=p["lr"] if "lr" in given else finetune.LR,
        weight_decay=p["weight_decay"],
        batch_size=p["batch_size"],
        epochs=p["epochs"],
        seed=p["seed"],
        val_size=finetune.val_size(tuning.own, p["val_size"] if "val_size" in given else None),
        patience=p["patience"] if "patience" in given else finetune.PATIENCE,
        schedule=getattr(p["schedule"], "value", p["schedule"]),
        **{k: p[k] if k in given else recipe.get(k, p[k]) for k in finetune.RECIPE},
        anchor=p["anchor"]
        if p["anchor"] is not None
        else (0.0 if tuning.mixed else finetune.ANCHOR_WITHOUT_MNIST),
    )


def _card(trainer: Any, start: Any, label: str, run: dict[str, str], tuning: Any) -> dict[str, Any]:
    """The model card entry of a fine-tuning: where it started, on what, and the starting
    model's figures (validation on the held-out own digits, MNIST test)."""
    from nnmnist.core.evaluation import evaluate
    from nnmnist.io import mnist as datasets

    test = datasets.load("bundled", "test")
    held_out = trainer.val_rows
    return {
        "from": label,
        "from_sha256": start.meta.get("file_sha256"),
        "data": run["data"],
        "own_digits": tuning.own,
        "held_out": len(held_out),
        "refused_left_out": tuning.left_out,
        "mnist_mixed": tuning.mixed,
        "mnist_source": run["mnist"],
        "start_val_accuracy": trainer.accuracy(start, held_out) if len(held_out) else None,
        "start_test_accuracy": evaluate(start, test.images, test.labels, 1000).accuracy,
    }
