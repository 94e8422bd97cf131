"""Classification quality metrics, from one confusion matrix.

Computed with numpy rather than scikit-learn: importing ``sklearn.metrics`` pulls in scipy and pandas,
about 3 seconds in every train, export, quantize and evaluate process, for a few array sums. The
definitions are scikit-learn's with ``zero_division=0`` (tests/unit/test_metrics.py checks them against it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class ClassScores(NamedTuple):
    """Per class scores, one entry per class in the order asked for."""

    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray


def confusion_matrix(gold: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, num_classes) counts of (gold, predicted) class-id pairs: rows gold, columns predicted."""
    gold, predicted = np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    pairs = np.bincount(gold * num_classes + predicted, minlength=num_classes * num_classes)
    return pairs.reshape(num_classes, num_classes)


def class_scores(matrix: np.ndarray, classes: Sequence[int]) -> ClassScores:
    """Precision, recall, F1 and support of ``classes`` from a full confusion ``matrix`` (0 where undefined)."""
    rows = list(classes)
    hits = np.diag(matrix)[rows].astype(np.float64)
    predicted = matrix.sum(axis=0)[rows]
    support = matrix.sum(axis=1)[rows]
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    both = predicted + support
    f1 = np.divide(2 * hits, both, out=np.zeros_like(hits), where=both > 0)
    return ClassScores(precision, recall, f1, support)


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (every class counted, even one never predicted)."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    scores = class_scores(confusion_matrix(labels, predictions, num_classes), range(num_classes))
    return {"accuracy": float((labels == predictions).mean()), "macro_f1": float(scores.f1.mean())}
