"""Batch-by-batch evaluation: a running accuracy and a confusion matrix, reported by callback."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nnmnist.core.metrics import confusion_matrix, precision_recall
from nnmnist.core.network import N_CLASSES, Network, predict
from nnmnist.errors import NonFiniteOutputs

THRESHOLDS = (0.5, 0.9, 0.99, 0.999)


@dataclass(frozen=True)
class BatchReport:
    number: int  # 1-based
    batches: int
    size: int
    correct: int
    seen: int  # images so far, this batch included
    total_correct: int
    elapsed: float  # seconds since the first batch started

    @property
    def accuracy(self) -> float:
        return self.correct / self.size

    @property
    def running_accuracy(self) -> float:
        return self.total_correct / self.seen

    @property
    def images_per_second(self) -> float:
        return self.seen / self.elapsed if self.elapsed > 0 else float("inf")


@dataclass
class Evaluation:
    batch_size: int
    correct: int = 0
    total: int = 0
    seconds: float = 0.0
    running_accuracy: list[float] = field(default_factory=list)
    batch_correct: list[int] = field(default_factory=list)  # correct predictions per batch
    confusion: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    )
    # per image: the best probability and whether its label was right (for coverage figures)
    confidence: list[NDArray[np.float32]] = field(default_factory=list)
    hits: list[NDArray[np.bool_]] = field(default_factory=list)
    # inputs read and refused (not one digit, not a digit, blank): in total, never right, kept
    # out of the confusion matrix; counted by kind and by true label
    refusals: dict[str, int] = field(default_factory=dict)
    refused_by_label: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(N_CLASSES, dtype=np.int64)
    )

    @property
    def accuracy(self) -> float:
        """Right answers over every input: a refusal counts as not right."""
        return self.correct / self.total if self.total else 0.0

    @property
    def refused(self) -> int:
        return sum(self.refusals.values())

    @property
    def answered(self) -> int:
        return self.total - self.refused

    def refusal_kinds(self) -> str:
        """The refusals by kind, as text: '1 blank, 2 several marks'."""
        return ", ".join(f"{n:,} {kind}" for kind, n in sorted(self.refusals.items()))

    @property
    def answered_accuracy(self) -> float | None:
        """Right answers over the inputs answered (None when none was)."""
        return self.correct / self.answered if self.answered else None

    @classmethod
    def combine(cls, parts: list[Evaluation], batch_size: int, seconds: float) -> Evaluation:
        """One evaluation from consecutive parts, each a whole number of batches but the last,
        with the same running accuracies the parts would have given in one run."""
        result = cls(batch_size=batch_size, seconds=seconds)
        for part in parts:
            sizes = [batch_size] * len(part.batch_correct)
            if sizes:
                sizes[-1] = part.total - batch_size * (len(sizes) - 1)
            for correct, size in zip(part.batch_correct, sizes, strict=True):
                result.correct += correct
                result.total += size
                result.batch_correct.append(correct)
                result.running_accuracy.append(result.correct / result.total)
            result.confusion += part.confusion
            result.confidence += part.confidence
            result.hits += part.hits
        return result

    def coverage(self, min_confidence: float) -> tuple[float, float | None]:
        """(share of images whose best probability reaches min_confidence, accuracy on those)."""
        if not self.confidence:
            return 1.0, self.accuracy
        conf, hits = np.concatenate(self.confidence), np.concatenate(self.hits)
        kept = conf >= min_confidence
        covered = float(np.mean(kept)) if kept.size else 0.0
        return covered, (float(np.mean(hits[kept])) if kept.any() else None)

    def tradeoff(self, thresholds: tuple[float, ...] = THRESHOLDS) -> list[dict[str, Any]]:
        """Coverage and accuracy at a few confidence thresholds."""
        rows = []
        for t in thresholds:
            covered, accuracy = self.coverage(t)
            rows.append({"min_confidence": t, "coverage": covered, "accuracy": accuracy})
        return rows

    def to_dict(self) -> dict[str, Any]:
        precision, recall = precision_recall(self.confusion, self.refused_by_label)
        return {
            "accuracy": self.accuracy,
            "correct": self.correct,
            "total": self.total,
            "answered": self.answered,
            "refused": self.refused,
            "answered_accuracy": self.answered_accuracy,
            "refusals": dict(sorted(self.refusals.items())),
            "refused_by_label": self.refused_by_label.tolist(),
            "batch_size": self.batch_size,
            "batches": len(self.running_accuracy),
            "running_accuracy": self.running_accuracy,
            "confusion_matrix": self.confusion.tolist(),
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "seconds": self.seconds,
            "images_per_second": self.total / self.seconds if self.seconds > 0 else None,
            "tradeoff": self.tradeoff(),
        }


def evaluate(
    net: Network,
    images: NDArray[np.uint8],
    labels: NDArray[np.integer],
    batch_size: int,
    on_batch: Callable[[BatchReport], None] | None = None,
    on_probs: Callable[[int, NDArray[np.floating]], None] | None = None,
    refused: dict[int, str] | None = None,
) -> Evaluation:
    """Predict images (N, 784) batch by batch and count against labels (N,).

    The final partial batch counts; the running accuracy after each batch is correct / seen.
    on_probs(first row, probabilities): each batch's outputs, for a report that shows them.
    refused: rows that were refused (row -> kind): counted among the inputs, never right.
    """
    n = int(labels.shape[0])
    batches = -(-n // batch_size)
    result = Evaluation(batch_size=batch_size)
    mask = np.zeros(n, dtype=bool)
    if refused:
        mask[list(refused)] = True
        for kind in refused.values():
            result.refusals[kind] = result.refusals.get(kind, 0) + 1
        result.refused_by_label += np.bincount(labels[mask], minlength=N_CLASSES)
    start = time.perf_counter()
    for number, lo in enumerate(range(0, n, batch_size), start=1):
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            y_pred, probs = predict(net, images[lo : lo + batch_size])  # (b,), (b, 10)
        if not np.isfinite(probs).all():
            bad = lo + int(np.flatnonzero(~np.isfinite(probs).all(axis=1))[0])
            raise NonFiniteOutputs(
                f"the weights give NaN or infinite outputs for image {bad} "
                "(they are too large to compute with)"
            )
        if on_probs is not None:
            on_probs(lo, probs)
        y_true = labels[lo : lo + batch_size]
        answered = ~mask[lo : lo + batch_size]
        hit = (y_pred == y_true) & answered
        result.confidence.append(np.where(answered, probs.max(axis=1), 0).astype(np.float32))
        result.hits.append(hit)
        correct = int(np.count_nonzero(hit))
        result.correct += correct
        result.total += len(y_true)
        result.confusion += confusion_matrix(y_true[answered], y_pred[answered])
        result.running_accuracy.append(result.correct / result.total)
        result.batch_correct.append(correct)
        if on_batch is not None:
            on_batch(
                BatchReport(
                    number=number,
                    batches=batches,
                    size=len(y_true),
                    correct=correct,
                    seen=result.total,
                    total_correct=result.correct,
                    elapsed=time.perf_counter() - start,
                )
            )
    result.seconds = time.perf_counter() - start
    return result
