"""scikit-learn's MLPClassifier as an nnmnist network (`nnmnist export` reads what
interchange.py writes; this reads a fitted scikit-learn classifier)."""

from __future__ import annotations

from typing import Any

import numpy as np

from nnmnist.core.network import N_CLASSES, Network
from nnmnist.errors import WeightsError
from nnmnist.models.weights import network_from_dict

_SKLEARN_ACTIVATIONS = {
    "relu": "relu",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "identity": "identity",
}


def from_sklearn(clf: Any) -> Network:
    """A fitted sklearn.neural_network.MLPClassifier as an nnmnist Network: its coefs_ and
    intercepts_ (already (in, out), nnmnist's layout) and its activation. The classifier must
    have been fitted on pixels divided by 255, with the classes 0-9: nnmnist feeds it that."""
    coefs, intercepts = getattr(clf, "coefs_", None), getattr(clf, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise WeightsError("the classifier is not fitted (it has no coefs_)")
    classes = [int(c) for c in getattr(clf, "classes_", [])]
    if classes != list(range(N_CLASSES)):
        raise WeightsError(f"the classifier's classes are {classes}, not the digits 0-9")
    hidden = _SKLEARN_ACTIVATIONS.get(getattr(clf, "activation", ""))
    if hidden is None:
        raise WeightsError(f"unknown activation {getattr(clf, 'activation', None)!r}")
    if getattr(clf, "out_activation_", "softmax") != "softmax":
        raise WeightsError(f"the output activation is {clf.out_activation_}, not softmax")
    obj: dict[str, Any] = {"meta": {"activation": hidden, "source": "scikit-learn MLPClassifier"}}
    for i, (w, b) in enumerate(zip(coefs, intercepts, strict=True), start=1):
        obj[f"W{i}"], obj[f"b{i}"] = np.array(w), np.array(b)
    return network_from_dict(obj, "the scikit-learn classifier")
