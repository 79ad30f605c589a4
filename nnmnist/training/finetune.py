"""Fine-tuning a trained network on someone's own labelled digits (nnmnist train --from).

The data side only: which rows train, which validate, what is mixed in. The training itself is
training.Trainer's, started from the given weights (Trainer.start), its validation rows drawn
from the user's digits alone (Trainer.val_pool), with MNIST training digits mixed in when they
are at hand and otherwise a pull towards the starting weights (TrainConfig.anchor), so that
what the network knew of MNIST is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

# What a fine-tuning does unless told otherwise: a tenth of training from scratch's step size,
# a fifth of the user's digits held out, MNIST digits mixed in at up to 4 per own digit (at
# most MAX_MIX), stop after PATIENCE epochs without a better validation accuracy.
LR = 1e-4
VAL_SHARE = 0.2
MIX_PER_DIGIT = 4
MAX_MIX = 6000
PATIENCE = 4
ANCHOR_WITHOUT_MNIST = 0.01  # the pull towards the starting weights when no MNIST is mixed in
# Augmentations a model's meta may record, continued when fine-tuning it
RECIPE = ("augment", "rotate", "scale", "elastic", "thickness", "noise")


@dataclass(frozen=True)
class TuningData:
    images: NDArray[np.uint8]  # (n, 784): the user's digits first, then the MNIST ones
    labels: NDArray[np.uint8]
    own: int  # how many of the rows are the user's (validation is drawn from these)
    mixed: int  # how many are MNIST training digits
    left_out: int  # the user's pictures left out: refused (no picture to learn from)


def as_uint8(images: NDArray[Any]) -> NDArray[np.uint8]:
    """Pixels as uint8 0-255 (a float array in [0, 1] rounded)."""
    if images.dtype == np.uint8:
        return images
    out: NDArray[np.uint8] = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    return out


def tuning_data(
    images: NDArray[Any],
    labels: NDArray[np.integer],
    refused: dict[int, str],
    mnist: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None,
    mix: int | None,
    seed: int,
) -> TuningData:
    """The rows to fine-tune on: the user's digits (less the refused ones), then mix (default
    MIX_PER_DIGIT per own digit, at most MAX_MIX) MNIST training digits drawn at random with
    the seed (its own generator: the Trainer's draws are not changed by it)."""
    keep = np.array([i for i in range(len(labels)) if i not in refused], dtype=np.intp)
    own_x, own_y = as_uint8(images[keep]), np.asarray(labels)[keep].astype(np.uint8)
    if mnist is None:
        return TuningData(own_x, own_y, len(own_y), 0, len(refused))
    mx, my = mnist
    count = min(len(my), MAX_MIX, MIX_PER_DIGIT * len(own_y)) if mix is None else mix
    count = min(count, len(my))
    rows = np.sort(np.random.default_rng([seed, 27]).choice(len(my), count, replace=False))
    x = np.concatenate([own_x, mx.reshape(len(my), 784)[rows]])
    y = np.concatenate([own_y, my[rows].astype(np.uint8)])
    return TuningData(x, y, len(own_y), count, len(refused))


def val_size(own: int, given: int | None) -> int:
    """The user's digits held out for validation: given, else VAL_SHARE of them (at least 1
    when there are two or more)."""
    if given is not None:
        return given
    return max(1, round(VAL_SHARE * own)) if own >= 2 else 0


def recipe(meta: dict[str, Any]) -> dict[str, Any]:
    """The augmentation settings a model's meta records (those it was trained with), checked
    to be numbers; others are not taken."""
    found = {}
    for key in RECIPE:
        value = meta.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            found[key] = int(value) if key == "augment" else float(value)
    return found
