"""Optimisers that update parameter arrays in place: SGD, momentum and Adam.

Each keeps its state in NumPy arrays (and a step count) that state() hands out and
load_state() takes back, so a checkpoint can resume training exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]


class Optimizer:
    name = "sgd"

    def __init__(self, params: list[Array], lr: float) -> None:
        self.params = params
        self.lr = lr
        self.t = 0

    def step(self, grads: list[Array]) -> None:
        self.t += 1
        for p, g in zip(self.params, grads, strict=True):
            p -= self.lr * g

    def settings(self) -> dict[str, Any]:
        return {"optimizer": self.name, "lr": self.lr}

    def state(self) -> dict[str, Array]:
        return {"t": np.array(self.t)}

    def load_state(self, state: dict[str, Array]) -> None:
        self.t = int(state["t"])


class Momentum(Optimizer):
    name = "momentum"

    def __init__(self, params: list[Array], lr: float, momentum: float = 0.9) -> None:
        super().__init__(params, lr)
        self.momentum = momentum
        self.velocity = [np.zeros_like(p) for p in params]

    def step(self, grads: list[Array]) -> None:
        self.t += 1
        for p, g, v in zip(self.params, grads, self.velocity, strict=True):
            v *= self.momentum
            v -= self.lr * g
            p += v

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "momentum": self.momentum}

    def state(self) -> dict[str, Array]:
        return {**super().state(), **{f"v{i}": v for i, v in enumerate(self.velocity)}}

    def load_state(self, state: dict[str, Array]) -> None:
        super().load_state(state)
        for i, v in enumerate(self.velocity):
            v[...] = state[f"v{i}"]


class Adam(Optimizer):
    name = "adam"

    def __init__(
        self,
        params: list[Array],
        lr: float,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(params, lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: list[Array]) -> None:
        self.t += 1
        # bias-corrected step size, as in Kingma & Ba (2015), algorithm 1
        lr_t = float(self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t))
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g * g - v)
            p -= lr_t * m / (np.sqrt(v) + self.eps)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def state(self) -> dict[str, Array]:
        arrays = {f"m{i}": m for i, m in enumerate(self.m)}
        arrays.update({f"v{i}": v for i, v in enumerate(self.v)})
        return {**super().state(), **arrays}

    def load_state(self, state: dict[str, Array]) -> None:
        super().load_state(state)
        for i, (m, v) in enumerate(zip(self.m, self.v, strict=True)):
            m[...] = state[f"m{i}"]
            v[...] = state[f"v{i}"]


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": Optimizer, "momentum": Momentum, "adam": Adam}
