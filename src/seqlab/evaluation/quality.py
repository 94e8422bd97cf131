"""Quality of a model's outputs on a split, for every structure: the one place that scores predictions.

Classifiers: accuracy and macro-F1. Taggers: token accuracy and macro-F1 over tags, accuracy on
words never seen in training, and for b/m/e/s segmentation word precision, recall and F1. Training
(validation), evaluation and the benchmarks all score through :func:`split_quality`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from seqlab.evaluation.metrics import classification_metrics
from seqlab.evaluation.tagging import segmentation_scores, tagging_scores
from seqlab.inference.crf import TagTransitions, tag_ids
from seqlab.text.dataset import EncodedSplit

DETAIL_KEYS = ("per_tag", "confusion")
"""Tagging results too large for a training curve: kept only when ``detail`` is asked for."""


def cross_entropy(outputs: list[np.ndarray], split: EncodedSplit, transitions: TagTransitions | None = None) -> float:
    """Mean cross-entropy (nats) of the outputs' logits against the split's targets, per sequence or per token;
    with CRF ``transitions``, the negative log-likelihood of each gold tag sequence per token (the training loss)."""
    if transitions is not None:
        pairs = zip(outputs, split.labels, strict=True)
        return -sum(transitions.log_likelihood(output, tags) for output, tags in pairs) / sum(map(len, split.labels))
    if split.per_token:
        logits = np.concatenate(outputs)  # (tokens, K)
        targets = np.concatenate(split.labels)  # type: ignore[arg-type]
    else:
        logits, targets = np.stack(outputs), np.asarray(split.labels)  # (N, C), (N,)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=-1))
    return float((log_norm - shifted[np.arange(len(targets)), targets]).mean())


def split_quality(outputs: list[np.ndarray], split: EncodedSplit, labels: list[str], tag_scheme: str = "tags",
                  known: Collection[str] | None = None, detail: bool = False,
                  transitions: TagTransitions | None = None) -> dict[str, Any]:
    """Scores of per-sequence ``outputs`` (from ``batched_outputs``) on ``split``, with the loss.

    ``known``: the train split's tokens, for the accuracy on unseen words (taggers).
    ``detail``: keep per-tag scores and the confusion matrix (taggers).
    ``transitions``: a tagger's CRF scores (the backend's): tags are then decoded jointly (Viterbi).
    """
    scores: dict[str, Any] = {"loss": cross_entropy(outputs, split, transitions)}
    if not split.per_token:
        predictions = np.stack(outputs).argmax(axis=1)
        return {**scores, **classification_metrics(np.asarray(split.labels), predictions, len(labels))}
    predicted = [tag_ids(output, transitions) for output in outputs]
    tokens = split.tokens if known is not None else None
    tagging = tagging_scores(split.labels, predicted, labels, tokens, known)  # type: ignore[arg-type]
    scores.update({key: value for key, value in tagging.items() if detail or key not in DETAIL_KEYS})
    if tag_scheme == "bmes":
        gold = [[labels[i] for i in row] for row in split.labels]  # type: ignore[union-attr]
        guessed = [[labels[i] for i in row] for row in predicted]
        scores.update(segmentation_scores(gold, guessed))
    return scores
