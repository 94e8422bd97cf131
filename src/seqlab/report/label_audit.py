"""Which labels of a classification split look wrong: each text's probability of its own label under a model
that never saw that text.

The model is the report's TF-IDF baseline (``seqlab.report.baseline``), C chosen on the valid split as the
baseline stage chooses it. Train rows are scored out of fold (k folds, each scored by a model fitted on the
others); valid and test rows by the model fitted on all of train. A row whose own label gets a low
probability is a suspect: a wrong label, a text with no sign of any label, or a hard case. Only a person
reading the suspects can tell which; ``seqlab audit-labels`` ranks them so that reading starts with the
likeliest.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.prepare import require_prepared
from seqlab.paths import SPLITS
from seqlab.report.baseline import (
    C_GRID,
    baseline_classifier,
    baseline_vectorizer,
    choose_c,
    load_split,
)

logger = logging.getLogger(__name__)

BANDS: tuple[float, ...] = (0.1, 0.3, 0.5)
"""Upper edges of the probability bands the summary counts: below 0.1, 0.1 to 0.3, 0.3 to 0.5."""


@dataclass(frozen=True)
class Suspect:
    """One row of the audited split whose label the held-out model doubts."""

    line: int  # 1-based line of the split's JSONL file
    text: str
    label: str
    predicted: str
    p_label: float  # held-out probability of the row's own label


def held_out_probabilities(prepared_dir: Path, labels: list[str], split: str, folds: int = 5, seed: int = 1234,
                           c_grid: tuple[float, ...] = C_GRID) -> tuple[np.ndarray, np.ndarray, list[str], float]:
    """Class probabilities (N, C) of every row of ``split`` from a baseline that never saw the row, with the
    rows' label ids (N,), their texts and the C chosen on valid (for the valid split itself, C is the only
    thing its labels chose)."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}' (choose from: {', '.join(SPLITS)})")
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    require_prepared(prepared_dir, ("train", "valid") if split != "test" else SPLITS)
    train_texts, train_labels = load_split(prepared_dir / "train.jsonl", labels)
    valid_texts, valid_labels = load_split(prepared_dir / "valid.jsonl", labels)
    vectorizer = baseline_vectorizer()
    train_features = vectorizer.fit_transform(train_texts)  # (N_train, F) sparse
    c_value, model = choose_c(train_features, train_labels, vectorizer.transform(valid_texts), valid_labels,
                              len(labels), c_grid, seed)
    if split == "train":
        # Each fold refits the vectorizer too, so no text's own n-grams shape the features that score it.
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        probabilities = cross_val_predict(make_pipeline(baseline_vectorizer(), baseline_classifier(c_value, seed)),
                                          train_texts, train_labels, cv=splitter, method="predict_proba")
        return probabilities, train_labels, train_texts, c_value
    texts, label_ids = (valid_texts, valid_labels) if split == "valid" \
        else load_split(prepared_dir / "test.jsonl", labels)
    return model.predict_proba(vectorizer.transform(texts)), label_ids, texts, c_value


def audit_labels(prepared_dir: Path, labels: list[str], split: str, folds: int = 5, seed: int = 1234,
                 below: float = 0.5, c_grid: tuple[float, ...] = C_GRID) -> dict[str, Any]:
    """The audit of one split: its suspects (own-label probability below ``below``, least likely first) and a
    summary (rows, C, held-out accuracy, suspects per probability band)."""
    if not 0.0 < below <= 1.0:
        raise ValueError(f"below must be in (0, 1], got {below}")
    probabilities, label_ids, texts, c_value = held_out_probabilities(prepared_dir, labels, split, folds, seed, c_grid)
    own = probabilities[np.arange(len(label_ids)), label_ids]  # (N,)
    predicted = probabilities.argmax(axis=1)  # (N,)
    # Stable sort: rows with equal probability keep file order, so the ranking is reproducible.
    order = [int(i) for i in np.argsort(own, kind="stable") if own[i] < below]
    suspects = [Suspect(line=i + 1, text=texts[i], label=labels[label_ids[i]], predicted=labels[predicted[i]],
                        p_label=round(float(own[i]), 4)) for i in order]
    edges = (0.0, *BANDS)
    bands = {f"{low:g}-{high:g}": int(((own >= low) & (own < high)).sum()) for low, high in pairwise(edges)}
    summary = {"split": split, "rows": len(label_ids), "C": c_value, "folds": folds if split == "train" else None,
               "held_out_accuracy": round(float((predicted == label_ids).mean()), 4), "p_label_bands": bands,
               "suspects": len(suspects), "below": below}
    logger.info("label audit of %s: %s", split, summary)
    return {"summary": summary, "suspects": [asdict(suspect) for suspect in suspects]}

