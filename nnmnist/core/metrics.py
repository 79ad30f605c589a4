"""Counting right and wrong: confusion matrices and per-class precision and recall."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nnmnist.core.network import N_CLASSES


def confusion_matrix(
    y_true: NDArray[np.integer], y_pred: NDArray[np.integer], n_classes: int = N_CLASSES
) -> NDArray[np.int64]:
    """Counts of shape (n_classes, n_classes): rows are true labels, columns predictions."""
    flat = np.asarray(y_true, dtype=np.int64) * n_classes + np.asarray(y_pred, dtype=np.int64)
    counts = np.bincount(flat, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes)


def precision_recall(
    confusion: NDArray[np.integer],
    unanswered: NDArray[np.integer] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per-class precision (of column sums) and recall (of row sums, plus the inputs of each
    true class that got no answer, when given); 0 where nothing was counted."""
    diag = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1) + (0 if unanswered is None else unanswered)
    precision = np.divide(diag, predicted, out=np.zeros_like(diag), where=predicted > 0)
    recall = np.divide(diag, actual, out=np.zeros_like(diag), where=actual > 0)
    return precision, recall
