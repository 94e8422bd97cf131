"""A strong non-neural baseline: character n-gram TF-IDF + logistic regression.

Every recurrent model in the report is compared with it: a run that cannot beat a bag of character
1-3 grams has not learned anything about order. The vectorizer is fitted on the train split only;
the regularisation strength C is chosen on the valid split; the test split is scored once with the
chosen model. liblinear with a fixed ``random_state`` makes the result deterministic.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.data.prepare import require_prepared
from seqlab.evaluation.metrics import classification_metrics
from seqlab.io import InputError, read_jsonl

logger = logging.getLogger(__name__)

BASELINE_MODEL = "char 1-3gram TF-IDF + logistic regression"
C_GRID: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)


def load_split(path: Path, labels: list[str]) -> tuple[list[str], np.ndarray]:
    """Texts and label ids (index into ``labels``) of one prepared split (JSONL rows with text and label)."""
    texts: list[str] = []
    ids: list[int] = []
    index = {label: number for number, label in enumerate(labels)}
    for number, row in read_jsonl(path):
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or label not in index:
            raise InputError(f"{path}:{number}: expected a text and one of the labels {labels}, got {row!r:.120}")
        texts.append(text)
        ids.append(index[label])
    if not texts:
        raise InputError(f"{path}: no examples")
    return texts, np.asarray(ids, dtype=np.int64)


def baseline_vectorizer() -> Any:
    """The baseline's features: sublinear TF-IDF of character 1-3 grams seen in at least two texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=2, dtype=np.float64)


def baseline_classifier(c_value: float, seed: int) -> Any:
    """The baseline's logistic regression with regularisation strength ``c_value`` (deterministic: liblinear)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c_value, solver="liblinear", max_iter=2000, random_state=seed)


def choose_c(train_features: Any, train_labels: np.ndarray, valid_features: Any, valid_labels: np.ndarray,
             num_classes: int, c_grid: tuple[float, ...], seed: int) -> tuple[float, Any]:
    """The C of ``c_grid`` with the best valid accuracy (ties go to the smaller, more regularised C) and the
    classifier fitted with it."""
    if not c_grid:
        raise ValueError("c_grid must hold at least one value of C")
    best_accuracy, best_c, best_model = -1.0, 0.0, None
    for c_value in sorted(c_grid):
        model = baseline_classifier(c_value, seed).fit(train_features, train_labels)
        valid = classification_metrics(valid_labels, model.predict(valid_features), num_classes)
        logger.info("baseline: C=%g valid accuracy %.4f, macro-F1 %.4f", c_value, valid["accuracy"], valid["macro_f1"])
        if valid["accuracy"] > best_accuracy:
            best_accuracy, best_c, best_model = valid["accuracy"], c_value, model
    return best_c, best_model


def train_baseline(prepared_dir: Path, labels: list[str], seed: int = 1234,
                   c_grid: tuple[float, ...] = C_GRID) -> dict[str, Any]:
    """Fit the baseline on ``prepared_dir``/train.jsonl, pick C on valid, score on test.

    Returns the metrics record the ``baseline`` stage writes: the model description, the chosen C,
    valid and test accuracy and macro-F1, the seconds spent fitting (vectorizer and C search), and the test
    texts classified per second (vectorized and predicted as one batch).
    Ties in valid accuracy go to the smaller C (the more regularised model).
    """
    require_prepared(prepared_dir)
    train_texts, train_labels = load_split(prepared_dir / "train.jsonl", labels)
    valid_texts, valid_labels = load_split(prepared_dir / "valid.jsonl", labels)
    test_texts, test_labels = load_split(prepared_dir / "test.jsonl", labels)
    num_classes = len(labels)

    start = time.perf_counter()
    vectorizer = baseline_vectorizer()
    train_features = vectorizer.fit_transform(train_texts)  # (N_train, F) sparse
    valid_features = vectorizer.transform(valid_texts)  # (N_valid, F) sparse
    logger.info("baseline: %d train texts, %d character n-gram features", len(train_texts), train_features.shape[1])

    chosen_c, chosen = choose_c(train_features, train_labels, valid_features, valid_labels, num_classes, c_grid, seed)
    train_seconds = time.perf_counter() - start

    valid = classification_metrics(valid_labels, chosen.predict(valid_features), num_classes)
    started = time.perf_counter()
    test_predictions = chosen.predict(vectorizer.transform(test_texts))
    test_seconds = time.perf_counter() - started
    test = classification_metrics(test_labels, test_predictions, num_classes)
    logger.info("baseline: chose C=%g; test accuracy %.4f, macro-F1 %.4f", chosen_c, test["accuracy"], test["macro_f1"])
    return {
        "model": BASELINE_MODEL,
        "C": chosen_c,
        "valid_accuracy": round(valid["accuracy"], 6),
        "valid_macro_f1": round(valid["macro_f1"], 6),
        "test_accuracy": round(test["accuracy"], 6),
        "test_macro_f1": round(test["macro_f1"], 6),
        "train_seconds": round(train_seconds, 2),
        "test_items_per_s": round(len(test_texts) / test_seconds, 1),
    }
