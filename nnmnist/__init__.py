"""nnmnist: MNIST batch inference with neural networks (MLPs and ConvNets) written from scratch in NumPy.

The public API (see nnmnist.api): load, Model, prepare, Report, Results, Digit, Number, the
exceptions, and the modules datasets and sklearn. Names are imported on first use, so that
`import nnmnist` (and the command line's start) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nnmnist import datasets as datasets
    from nnmnist import sklearn as sklearn
    from nnmnist.api import Digit, Model, Number, Report, Results, load, prepare
    from nnmnist.errors import DataError, ImageError, NnmnistError, Refused, WeightsError

_FROM = {
    **dict.fromkeys(("Digit", "Model", "Number", "Report", "Results", "load", "prepare"), "api"),
    **dict.fromkeys(
        ("DataError", "ImageError", "NnmnistError", "Refused", "WeightsError"), "errors"
    ),
}
_MODULES = ("datasets", "sklearn")

__all__ = [
    "DataError",
    "Digit",
    "ImageError",
    "Model",
    "NnmnistError",
    "Number",
    "Refused",
    "Report",
    "Results",
    "WeightsError",
    "__version__",
    "datasets",
    "load",
    "prepare",
    "sklearn",
]


def __getattr__(name: str) -> Any:
    if name in _FROM:
        return getattr(importlib.import_module(f"nnmnist.{_FROM[name]}"), name)
    if name in _MODULES:
        return importlib.import_module(f"nnmnist.{name}")
    raise AttributeError(f"module 'nnmnist' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
