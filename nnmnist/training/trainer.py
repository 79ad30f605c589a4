"""The training loop: mini-batch backprop with one seeded generator, reporting through callbacks.

It never prints and never touches files: the caller's on_epoch callback decides what to show and
what to save (the CLI writes the best weights and a checkpoint after each epoch). Everything that
resumes a run exactly (weights, optimiser state, generator state, epoch, best so far, history) is
in checkpoint(), and restore() takes it back.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core import arch
from nnmnist.core.backprop import loss_and_gradients
from nnmnist.core.network import (
    INIT_SCHEMES,
    N_CLASSES,
    N_INPUTS,
    Network,
    init_layers,
    init_network,
    predict,
)
from nnmnist.core.optim import OPTIMIZERS, Optimizer
from nnmnist.io.reading import parse_json
from nnmnist.training.augment import (
    MAX_THICKNESS,
    add_noise,
    change_thickness,
    distort_images,
    shift_images,
)


@dataclass(frozen=True)
class TrainConfig:
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    init: str = "he"
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 10
    seed: int = 0
    val_size: int = 5000
    patience: int | None = None
    schedule: str = "cosine"
    augment: int = 0  # largest random shift, in pixels, applied to training images
    dtype: str = "float32"
    arch: str | None = None  # a layer spec (core.arch); None: the MLP of hidden and activation
    rotate: float = 0.0  # largest random rotation of a training image, in degrees
    scale: float = 0.0  # largest random change of size, as a fraction (0.1: 90% to 110%)
    elastic: float = 0.0  # strength (alpha, in pixels) of elastic distortions; 0: none
    thickness: float = 0.0  # largest change of stroke width, in 3x3 dilations or erosions
    noise: float = 0.0  # largest sigma of Gaussian noise added to a training image (0-1 scale)
    anchor: float = 0.0  # pull towards the starting weights of a fine-tuning (L2-SP); 0: none

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> TrainConfig:
        """A config read back from a checkpoint: every key, type and range checked (the file
        may have been edited); ValueError names what is wrong."""
        if not isinstance(d, dict):
            raise ValueError("the config is not a JSON object")
        names = {f.name for f in fields(cls)}
        d = {**_ADDED_IN_0_2, **d}  # checkpoints written before these settings existed
        if set(d) != names:
            odd = sorted(set(d) ^ names)[0]
            raise ValueError(f"the config has {'an unknown' if odd in d else 'no'} key {odd!r}")
        hidden = d["hidden"]
        if not (
            isinstance(hidden, list)
            and 1 <= len(hidden) <= 32
            and all(_is_int(h, 1, 100_000) for h in hidden)
        ):
            raise ValueError("hidden must be a list of 1 to 32 layer sizes of 1 to 100000")
        choices = {
            "activation": ("relu", "sigmoid", "tanh", "identity"),
            "init": INIT_SCHEMES,
            "optimizer": tuple(OPTIMIZERS),
            "schedule": ("cosine", "constant"),
            "dtype": ("float32", "float64"),
        }
        for key, allowed in choices.items():
            if d[key] not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}")
        ints = {
            "batch_size": (1, 60_000),
            "epochs": (1, 10_000),
            "seed": (0, 2**63 - 1),
            "val_size": (0, 10**7),
            "augment": (0, 8),
        }
        for key, (lo, hi) in ints.items():
            if not _is_int(d[key], lo, hi):
                raise ValueError(f"{key} must be a whole number from {lo} to {hi}")
        if d["patience"] is not None and not _is_int(d["patience"], 1, 10_000):
            raise ValueError("patience must be null or a whole number from 1 to 10000")
        for key in (
            "lr",
            "weight_decay",
            "rotate",
            "scale",
            "elastic",
            "thickness",
            "noise",
            "anchor",
        ):
            value = d[key]
            if not (isinstance(value, int | float) and not isinstance(value, bool)):
                raise ValueError(f"{key} must be a number")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a finite number >= 0")
        if not (
            d["rotate"] <= 180
            and d["scale"] < 1
            and d["elastic"] <= 100
            and d["thickness"] <= MAX_THICKNESS
            and d["noise"] <= 1
        ):
            raise ValueError("rotate, scale, elastic, thickness or noise is out of range")
        if d["arch"] is not None:
            if not isinstance(d["arch"], str):
                raise ValueError("arch must be null or a layer spec")
            try:
                arch.parse(d["arch"])
            except arch.SpecError as exc:
                raise ValueError(f"arch: {exc}") from None
        config = cls(**{**d, "hidden": tuple(hidden)})
        if (problem := budget_problem(config)) is not None:
            raise ValueError(problem)
        return config


def budget_problem(c: TrainConfig, outputs: int = N_CLASSES, inputs: int = N_INPUTS) -> str | None:
    """Why this configuration would pass the memory bounds, known before anything is
    allocated (None if it fits): at most arch.MAX_PARAMETERS parameters; a layer network's
    steps run in blocks of images that fit arch.TRAIN_BATCH_BYTES (one image at least must);
    an MLP's batch runs whole, so it must fit there itself."""
    itemsize = 4 if c.dtype == "float32" else 8
    if c.arch is not None:
        try:
            layers = arch.parse(c.arch, outputs)
        except arch.SpecError as exc:
            return f"--arch: {exc}"
        if arch.largest_training_batch(arch.train_image_values(layers), itemsize) < 1:
            return (
                f"--arch: training needs more than {arch.TRAIN_BATCH_BYTES // arch.MB} MB "
                "for one image of this network"
            )
        return None
    sizes = (inputs, *c.hidden, outputs)
    params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if params > arch.MAX_PARAMETERS:
        return (
            f"--hidden {','.join(map(str, c.hidden))}: the network has {params:,} parameters; "
            f"nnmnist allows at most {arch.MAX_PARAMETERS:,}"
        )
    row = sum(sizes) + 2 * arch.mlp_row_values(sizes)  # kept for backward, and the products
    most = arch.largest_training_batch(row, itemsize)
    if c.batch_size > most:
        return (
            f"--batch-size {c.batch_size}: a batch of this network needs "
            f"{c.batch_size * row * itemsize / arch.MB:,.0f} MB; at most {most:,} images fit "
            f"in the {arch.TRAIN_BATCH_BYTES // arch.MB} MB allowed"
        )
    return None


_ADDED_IN_0_2 = {
    "anchor": 0.0,
    "arch": None,
    "rotate": 0.0,
    "scale": 0.0,
    "elastic": 0.0,
    "thickness": 0.0,
    "noise": 0.0,
}


def _is_int(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


@dataclass(frozen=True)
class EpochReport:
    epoch: int  # 1-based
    epochs: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None  # None without a validation set
    seconds: float
    lr: float  # at the end of the epoch
    improved: bool  # best validation accuracy so far


BatchCallback = Callable[[int, int, float], None]  # (batch, batches, running loss)
EpochCallback = Callable[[EpochReport], None]


def split_validation(
    n: int, val_size: int, rng: np.random.Generator
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Indices (train, validation): a random val_size of n rows held out, both sorted."""
    if not 0 <= val_size < n:
        raise ValueError(f"validation size {val_size} must be below the {n} training images")
    order = rng.permutation(n)
    return np.sort(order[val_size:]), np.sort(order[:val_size])


@dataclass
class Trainer:
    config: TrainConfig
    images: NDArray[np.uint8]  # (N, 784) the training split, validation rows included
    labels: NDArray[np.uint8]  # (N,)
    rng: np.random.Generator = field(init=False)
    net: Network = field(init=False)
    optimizer: Optimizer = field(init=False)
    train_rows: NDArray[np.intp] = field(init=False)
    val_rows: NDArray[np.intp] = field(init=False)
    epoch: int = 0
    best_val: float = -1.0
    best_epoch: int = 0
    best: list[NDArray[np.floating]] = field(default_factory=list)
    history: list[EpochReport] = field(default_factory=list)
    run_info: dict[str, str] = field(default_factory=dict)  # where the data came from, the command
    outputs: int = N_CLASSES  # one per digit; another number for a network answering otherwise
    # Fine-tuning: the weights to start from (the spec's network), and how many of the first
    # rows (the user's own digits) the validation rows are drawn from; None: all of them.
    start: Network | None = None
    val_pool: int | None = None
    inputs: int = N_INPUTS  # pixels per image; another number for an MLP on other features
    anchor_params: list[NDArray[np.floating]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        c = self.config
        if (problem := budget_problem(c, self.outputs, self.inputs)) is not None:
            raise ValueError(problem)
        # One generator, in a fixed order: validation split, then weights, then every shuffle.
        self.rng = np.random.default_rng(c.seed)
        pool = len(self.labels) if self.val_pool is None else self.val_pool
        train, self.val_rows = split_validation(pool, c.val_size, self.rng)
        self.train_rows = np.concatenate([train, np.arange(pool, len(self.labels))])
        dtype = np.float32 if c.dtype == "float32" else np.float64
        if c.arch is not None:
            self.net = init_layers(
                arch.parse(c.arch, self.outputs), scheme=c.init, rng=self.rng, dtype=dtype
            )
        else:
            self.net = init_network(
                (self.inputs, *c.hidden, self.outputs),
                scheme=c.init,
                rng=self.rng,
                hidden=c.activation,
                dtype=dtype,
            )
        if self.start is not None:
            self._take(self.start)
        self.optimizer = OPTIMIZERS[c.optimizer](self.params, lr=c.lr)
        self.best = [p.copy() for p in self.params]

    def _take(self, start: Network) -> None:
        """Start from these weights (a fine-tuning), kept as the anchor too."""
        given = [a for pair in zip(start.weights, start.biases, strict=True) for a in pair]
        mine = self.params
        if len(given) != len(mine) or any(
            g.shape != p.shape for g, p in zip(given, mine, strict=True)
        ):
            raise ValueError("the starting weights do not fit the network of this spec")
        for p, g in zip(mine, given, strict=True):
            p[...] = g
        self.anchor_params = [p.copy() for p in mine]

    @property
    def params(self) -> list[NDArray[np.floating]]:
        return [a for pair in zip(self.net.weights, self.net.biases, strict=True) for a in pair]

    def _lr(self, step: int, total: int) -> float:
        if self.config.schedule == "constant":
            return self.config.lr
        return self.config.lr * 0.5 * (1 + math.cos(math.pi * step / total))

    @property
    def val_accuracy(self) -> float | None:
        """Validation accuracy of the best epoch (None before the first, or without a validation set)."""
        return self.best_val if len(self.val_rows) and self.best_epoch else None

    def best_network(self) -> Network:
        w, b = self.best[0::2], self.best[1::2]
        return replace(self.net, weights=tuple(w), biases=tuple(b))

    def accuracy(self, net: Network, rows: NDArray[np.intp], batch_size: int = 2000) -> float:
        correct = 0
        for lo in range(0, len(rows), batch_size):
            part = rows[lo : lo + batch_size]
            y_pred, _ = predict(net, self.images[part])
            correct += int(np.count_nonzero(y_pred == self.labels[part]))
        return correct / len(rows)

    def run(
        self, on_batch: BatchCallback | None = None, on_epoch: EpochCallback | None = None
    ) -> list[EpochReport]:
        c = self.config
        n = len(self.train_rows)
        batches = -(-n // c.batch_size)
        total_steps = c.epochs * batches
        while self.epoch < c.epochs:
            start = time.perf_counter()
            order = self.train_rows[self.rng.permutation(n)]  # without replacement, new each epoch
            loss_sum = 0.0
            correct = 0
            for b in range(batches):
                rows = order[b * c.batch_size : (b + 1) * c.batch_size]
                x: NDArray[Any] = self.images[rows]
                if c.augment:
                    x = shift_images(x, c.augment, self.rng)
                if c.thickness:
                    x = change_thickness(x, c.thickness, self.rng)
                if c.rotate or c.scale or c.elastic:
                    x = distort_images(x, c.rotate, c.scale, c.elastic, self.rng)
                if c.noise:
                    x = add_noise(x, c.noise, self.rng)
                y = self.labels[rows]
                self.optimizer.lr = self._lr(self.epoch * batches + b, total_steps)
                loss, gw, gb, probs = loss_and_gradients(self.net, x, y, c.weight_decay, self.rng)
                grads = [g for pair in zip(gw, gb, strict=True) for g in pair]
                if c.anchor and self.anchor_params:  # d/dw of anchor/2 * |w - w_start|^2
                    for g, p, p0 in zip(grads, self.params, self.anchor_params, strict=True):
                        g += c.anchor * (p - p0)
                self.optimizer.step(grads)
                loss_sum += loss * len(rows)
                correct += int(np.count_nonzero(probs.argmax(axis=1) == y))
                if on_batch is not None:
                    on_batch(b + 1, batches, loss_sum / min(n, (b + 1) * c.batch_size))
            self.epoch += 1
            # Without a validation set the latest epoch counts as the best.
            val = self.accuracy(self.net, self.val_rows) if len(self.val_rows) else None
            improved = val is None or val > self.best_val
            if improved:
                self.best_val, self.best_epoch = (-1.0 if val is None else val), self.epoch
                self.best = [p.copy() for p in self.params]
            report = EpochReport(
                epoch=self.epoch,
                epochs=c.epochs,
                train_loss=loss_sum / n,
                train_accuracy=correct / n,
                val_accuracy=val,
                seconds=time.perf_counter() - start,
                lr=self.optimizer.lr,
                improved=improved,
            )
            self.history.append(report)
            if on_epoch is not None:
                on_epoch(report)
            if c.patience is not None and self.epoch - self.best_epoch >= c.patience:
                break
        return self.history

    def checkpoint(self) -> dict[str, NDArray[Any]]:
        """Arrays (and one JSON string) that restore() turns back into this exact state."""
        arrays: dict[str, NDArray[Any]] = {}
        for i, p in enumerate(self.params):
            arrays[f"param{i}"] = p
        for i, p in enumerate(self.best):
            arrays[f"best{i}"] = p
        for k, v in self.optimizer.state().items():
            arrays[f"opt_{k}"] = v
        for i, p in enumerate(self.anchor_params):
            arrays[f"start{i}"] = p
        state = {
            "config": self.config.to_dict(),
            "epoch": self.epoch,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "rng": self.rng.bit_generator.state,
            "history": [asdict(r) for r in self.history],
            "run": self.run_info,
        }
        arrays["state"] = np.array(json.dumps(state))
        return arrays

    def restore(self, arrays: dict[str, NDArray[Any]]) -> None:
        """Take back a checkpoint() (read from a file: shapes, dtypes and values checked;
        ValueError names what does not fit)."""
        state = _state(arrays)
        expected = self.checkpoint()
        if "start0" in arrays and not self.anchor_params:  # a fine-tuning's: its anchor
            expected.update({f"start{i}": p for i, p in enumerate(self.params)})
        for key, want in expected.items():
            if key == "state":
                continue
            got = arrays.get(key)
            if got is None or got.shape != want.shape or got.dtype != want.dtype:
                raise ValueError(f"{key} is missing or does not fit this network")
            if got.dtype.kind == "f" and not np.isfinite(got).all():
                raise ValueError(f"{key} holds NaN or infinite values")
        extra = sorted(set(arrays) - set(expected))
        if extra:
            raise ValueError(f"unexpected array {extra[0]!r}")
        for i, p in enumerate(self.params):
            p[...] = arrays[f"param{i}"]
        self.best = [np.array(arrays[f"best{i}"]) for i in range(len(self.params))]
        if "start0" in arrays:
            self.anchor_params = [np.array(arrays[f"start{i}"]) for i in range(len(self.params))]
        self.optimizer.load_state({k[4:]: v for k, v in arrays.items() if k.startswith("opt_")})
        self.epoch, self.best_epoch = state["epoch"], state["best_epoch"]
        self.best_val = state["best_val"]
        try:
            self.rng.bit_generator.state = state["rng"]
            self.history = [EpochReport(**r) for r in state["history"]]
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"the saved generator state or history is damaged ({exc})") from None


def _state(arrays: dict[str, NDArray[Any]]) -> dict[str, Any]:
    raw = arrays.get("state")
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise ValueError("no state entry")
    try:
        state = parse_json(str(raw))
    except ValueError as exc:
        raise ValueError(f"the state entry is not valid JSON ({exc})") from None
    required = {"config", "epoch", "best_val", "best_epoch", "rng", "history"}
    if not isinstance(state, dict) or set(state) - {"run"} != required:
        raise ValueError("the state entry does not have the keys nnmnist writes")
    run = state.get("run", {})  # checkpoints of 0.1 have none
    if not (
        isinstance(run, dict)
        and set(run) <= {"data", "command", "from", "mnist"}
        and all(isinstance(v, str) and len(v) <= 4096 for v in run.values())
    ):
        raise ValueError("the run entry must hold the data source and command as text")
    epochs = state["config"].get("epochs") if isinstance(state["config"], dict) else None
    top: int = epochs if isinstance(epochs, int) and _is_int(epochs, 1, 10_000) else 10_000
    if not (_is_int(state["epoch"], 0, top) and _is_int(state["best_epoch"], 0, top)):
        raise ValueError("epoch and best_epoch must be whole numbers within the run")
    best = state["best_val"]
    if not (isinstance(best, float | int) and -1 <= best <= 1):
        raise ValueError("best_val must be a number from -1 to 1")
    if not isinstance(state["history"], list) or len(state["history"]) > top:
        raise ValueError("history must be a list of epochs")
    return state


def checkpoint_run(arrays: dict[str, NDArray[Any]]) -> dict[str, str]:
    """Where the checkpointed run's data came from and the command that started it (checked)."""
    run: dict[str, str] = _state(arrays).get("run", {})
    return run


def checkpoint_config(arrays: dict[str, NDArray[Any]]) -> TrainConfig:
    """The config a checkpoint was made with, checked (ValueError names what is wrong)."""
    return TrainConfig.from_dict(_state(arrays)["config"])


def run_metadata(
    config: TrainConfig, trainer: Trainer, source: str, n_images: int, command: str, version: str
) -> dict[str, Any]:
    """What a trained weight file records about its making (the meta dict)."""
    import platform

    return {
        "creator": "nnmnist train",
        "version": version,
        "command": command,
        "init": config.init,
        "optimizer": trainer.optimizer.settings() | {"lr": config.lr},
        "schedule": config.schedule,
        "weight_decay": config.weight_decay,
        "batch_size": config.batch_size,
        "augment": config.augment,
        **({"rotate": config.rotate} if config.rotate else {}),
        **({"scale": config.scale} if config.scale else {}),
        **({"elastic": config.elastic} if config.elastic else {}),
        **({"thickness": config.thickness} if config.thickness else {}),
        **({"noise": config.noise} if config.noise else {}),
        **({"anchor": config.anchor} if config.anchor else {}),
        "seed": config.seed,
        "epochs": config.epochs,
        "data": {
            "source": source,
            "split": "train",
            "train_images": n_images - config.val_size,
            "val_images": config.val_size,
        },
        "versions": {
            "nnmnist": version,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
