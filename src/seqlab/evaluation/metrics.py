"""Classification quality metrics."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import f1_score


def classification_metrics(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (every class counted, even one never predicted)."""
    return {
        "accuracy": float((labels == predictions).mean()),
        "macro_f1": float(
            f1_score(labels, predictions, average="macro", labels=list(range(num_classes)), zero_division=0)
        ),
    }
