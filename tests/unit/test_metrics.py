"""The numpy classification metrics (seqlab.evaluation.metrics) against scikit-learn's definitions."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as reference

from seqlab.evaluation.metrics import class_scores, classification_metrics, confusion_matrix


@pytest.mark.parametrize("seed", range(5))
def test_scores_match_scikit_learn_on_random_labels(seed: int) -> None:
    # Guards the hand-written sums: every per-class figure and macro-F1 equal sklearn's (zero_division=0),
    # including classes that are never predicted or never occur.
    rng = np.random.default_rng(seed)
    num_classes = 7
    gold = rng.integers(0, 5, size=300)  # classes 5 and 6 never occur in gold
    predicted = np.where(rng.random(300) < 0.6, gold, rng.integers(0, 6, size=300))  # 6 never predicted
    classes = list(range(num_classes))

    matrix = confusion_matrix(gold, predicted, num_classes)
    np.testing.assert_array_equal(matrix, reference.confusion_matrix(gold, predicted, labels=classes))
    ours = class_scores(matrix, classes)
    theirs = reference.precision_recall_fscore_support(gold, predicted, labels=classes, zero_division=0)
    for mine, expected in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, expected, rtol=0, atol=1e-12)

    scores = classification_metrics(gold, predicted, num_classes)
    assert scores["accuracy"] == pytest.approx(reference.accuracy_score(gold, predicted))
    assert scores["macro_f1"] == pytest.approx(
        reference.f1_score(gold, predicted, average="macro", labels=classes, zero_division=0)
    )


def test_scores_of_a_subset_of_classes_count_every_prediction() -> None:
    # Guards precision on a subset: a prediction of class 1 whose gold class is left out still counts.
    gold = np.array([0, 0, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2])
    scores = class_scores(confusion_matrix(gold, predicted, 3), [1])
    assert scores.precision.tolist() == [pytest.approx(1 / 3)]
    assert scores.recall.tolist() == [1.0]
    assert scores.support.tolist() == [1]
