"""The run behind `nnmnist train` and `train --from`: resuming, checkpoints, the loop with its
progress, and the report (shared by cli/train.py and cli/finetune.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from nnmnist.cli.options import (
    ReportFormat,
    parse_hidden,
)

_SETTINGS = (
    "hidden",
    "activation",
    "init",
    "optimizer",
    "lr",
    "weight_decay",
    "batch_size",
    "seed",
    "val_size",
    "patience",
    "schedule",
    "augment",
    "arch_spec",
    "rotate",
    "scale",
    "elastic",
    "thickness",
    "noise",
)


def _checked_arch(spec: str | None) -> str | None:
    from nnmnist.core import arch

    if spec is None:
        return None
    try:
        return arch.to_spec(arch.parse(spec))
    except arch.SpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--arch") from None


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _resumed_config(ctx: typer.Context, config: Any) -> Any:
    """The checkpoint's settings; a given option that contradicts one is refused, and a
    larger --epochs is applied and said."""
    import dataclasses

    from nnmnist.present import terminal as render

    saved = config.to_dict()
    for name in _SETTINGS:
        if not _given(ctx, name):
            continue
        value = ctx.params[name]
        value = getattr(value, "value", value)  # enums
        if name == "hidden":
            value = list(parse_hidden(value))
        key = "arch" if name == "arch_spec" else name
        if key == "arch":
            value = _checked_arch(value)
        if value != saved[key]:
            flag = "--" + key.replace("_", "-")
            raise typer.BadParameter(
                f"{flag} {ctx.params[name]} contradicts the checkpoint ({saved[key]}); "
                "drop it to resume, or start a new run without --resume",
                param_hint=flag,
            )
    if _given(ctx, "epochs") and ctx.params["epochs"] != config.epochs:
        epochs = ctx.params["epochs"]
        if epochs < config.epochs:
            raise typer.BadParameter(
                f"--epochs {epochs} is fewer than the checkpoint's {config.epochs}",
                param_hint="--epochs",
            )
        render.message(
            f"note: resuming with --epochs {epochs} (the run started with {config.epochs}; "
            "the learning-rate schedule stretches to the new length)"
        )
        config = dataclasses.replace(config, epochs=epochs)
    return config


def _refuse_existing(targets: tuple[Path, ...], force: bool) -> None:
    from nnmnist.errors import NnmnistError

    for target in targets:
        if (target.exists() or target.is_symlink()) and not force:
            raise NnmnistError(
                f"{target}: already exists; pass --force to overwrite it or --resume"
            )


def _checkpoint(ckpt: Path) -> tuple[dict[str, Any], Any]:
    from nnmnist.errors import NnmnistError
    from nnmnist.models.weights import read_checkpoint
    from nnmnist.training.trainer import checkpoint_config

    if not ckpt.exists():
        raise NnmnistError(f"{ckpt}: no checkpoint to resume from; train without --resume")
    saved = read_checkpoint(ckpt)
    try:
        return saved, checkpoint_config(saved)
    except ValueError as exc:
        raise NnmnistError(f"{ckpt}: not a usable checkpoint ({exc})") from None


def _restore(trainer: Any, saved: dict[str, Any], ckpt: Path) -> None:
    from nnmnist.errors import NnmnistError

    try:
        trainer.restore(saved)
    except ValueError as exc:
        raise NnmnistError(f"{ckpt}: not a usable checkpoint ({exc})") from None


def _run_and_report(
    trainer: Any,
    meta: dict[str, Any],
    out: Path,
    ckpt: Path,
    replace: bool,
    fmt: ReportFormat,
    report: Path | None = None,
) -> None:
    """Train with a save after every better epoch and a checkpoint after every epoch, then
    score the best epoch on the bundled test split and report."""
    import numpy as np

    from nnmnist.core.evaluation import evaluate as run_evaluation
    from nnmnist.errors import NnmnistError
    from nnmnist.io import mnist as datasets
    from nnmnist.io.atomic import failures_as, write_file
    from nnmnist.models.weights import save_weights
    from nnmnist.present import terminal as render

    def save_best() -> None:
        from dataclasses import asdict

        meta.update(
            best_epoch=trainer.best_epoch,
            val_accuracy=trainer.val_accuracy,
            # for nnmnist plot history; without the seconds, so that a seed gives the same bytes
            history=[
                {k: v for k, v in asdict(r).items() if k != "seconds"} for r in trainer.history
            ],
        )
        save_weights(trainer.best_network(), out, meta, overwrite=replace)

    def on_epoch(report: Any) -> None:
        if report.improved:  # saved before the row that says so is shown
            save_best()
        progress.on_epoch(report)
        with failures_as(NnmnistError, ckpt, "cannot write the checkpoint ({})"):
            write_file(ckpt, lambda f: np.savez(f, **trainer.checkpoint()), overwrite=replace)

    try:
        with render.TrainProgress() as progress:
            trainer.run(on_batch=progress.on_batch, on_epoch=on_epoch)
    except KeyboardInterrupt:
        if trainer.best_epoch:
            render.message(
                f"interrupted: the best weights so far (epoch {trainer.best_epoch}, validation "
                f"{render.maybe(trainer.val_accuracy)}) are in {out}; continue with --resume"
            )
        else:
            render.message("interrupted before the first epoch ended: nothing was saved")
        raise typer.Exit(130) from None
    test = datasets.load("bundled", "test")
    collect = None
    if report is not None:  # the report's misread digits, kept as the evaluation goes
        from nnmnist.present.report import MistakeCollector

        collect = MistakeCollector(test.labels)
    result = run_evaluation(
        trainer.best_network(), test.images, test.labels, 1000, on_probs=collect
    )
    meta["test_accuracy"] = result.accuracy
    save_best()
    seconds = sum(r.seconds for r in trainer.history)
    render.message(
        f"saved {out}: epoch {trainer.best_epoch}, validation accuracy "
        f"{render.maybe(trainer.val_accuracy)}, test accuracy {result.accuracy:.4f}, "
        f"{seconds:.1f} s of training"
    )
    if collect is not None and report is not None:
        _write_report(report, trainer, meta, result, collect.mistakes(), test, out, replace)
    if fmt is ReportFormat.json:
        from dataclasses import asdict

        render.emit_json(
            {
                "weights": str(out),
                "checkpoint": str(ckpt),
                "config": trainer.config.to_dict(),
                "history": [asdict(r) for r in trainer.history],
                "best_epoch": trainer.best_epoch,
                "val_accuracy": trainer.val_accuracy,
                "test_accuracy": result.accuracy,
                "seconds": seconds,
            }
        )


def _write_report(
    path: Path,
    trainer: Any,
    meta: dict[str, Any],
    result: Any,
    mistakes: Any,
    test: Any,
    out: Path,
    force: bool,
) -> None:
    """The run as one HTML page: curves and epochs on top, then the test evaluation."""
    from dataclasses import asdict

    from nnmnist.io.arrays import row_names
    from nnmnist.io.outputs import write_text
    from nnmnist.present import report as pages
    from nnmnist.present import terminal as render

    net = trainer.best_network()
    history = [asdict(r) for r in trainer.history]
    page = pages.evaluation_page(
        result,
        mistakes,
        test.images,
        test.labels,
        row_names("mnist-test", 0, len(test.labels)),
        title=f"nnmnist train: {net.describe()}, test accuracy {result.accuracy:.4f}",
        summary={
            "weights": str(out),
            "model": net.describe(),
            "best epoch": f"{trainer.best_epoch} of {len(history)}",
            "validation accuracy": render.maybe(trainer.val_accuracy),
            "test accuracy": f"{result.accuracy:.4f} ({result.correct:,} of {result.total:,})",
            "training time": f"{sum(h['seconds'] for h in history):.1f} s",
        },
        command=str(meta.get("command", "")),
        extra=pages.training_section(history, trainer.config.to_dict()),
    )
    write_text(path, page, force, "--report")
    render.message(f"wrote {path}")
