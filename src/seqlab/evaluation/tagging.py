"""Quality metrics for sequence tagging: per-token tags (POS) and BMES word segmentation.

Tagging (``tagging_scores``) is scored per token: accuracy, macro-F1 over the tags that occur, per-tag
precision/recall/F1, a confusion matrix and, given the train words, accuracy on out-of-vocabulary
tokens. Segmentation (``segmentation_scores``) is scored per word, the usual measure for Chinese word
segmentation (the SIGHAN bakeoffs): a predicted word is right when its character span is exactly a
gold word's span.

BMES decoding (``bmes_spans``). ``b``/``m``/``e`` mark the begin, middle and end character of a
multi-character word and ``s`` a one-character word. A model's output may be ill-formed (``b s``,
``s m``, ``e e``, a trailing ``b``); it is decoded leniently and deterministically, the usual way:

- a word starts at every ``b`` or ``s``, and at an ``m`` or ``e`` that does not follow ``b`` or ``m``;
- a word ends after every ``e`` or ``s``, just before the start of the next word, and at the end
  (the first two are one rule: the tag after an ``e`` or ``s`` always starts a word).

So ``b s`` is two words, ``s m e`` is two (``s``, then ``m e``), ``e e`` is two and ``b m`` is one.
Every character belongs to exactly one word.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from seqlab.evaluation.metrics import class_scores, confusion_matrix

BMES_TAGS: tuple[str, ...] = ("b", "m", "e", "s")


def bmes_spans(tags: Sequence[str]) -> list[tuple[int, int]]:
    """The ``(start, end)`` character spans (end exclusive) of the words BMES ``tags`` mark.

    Ill-formed sequences are decoded by the rule in the module docstring; a tag outside b/m/e/s is a
    ValueError.
    """
    for position, tag in enumerate(tags):
        if tag not in BMES_TAGS:
            raise ValueError(f"tag {tag!r} at position {position} is not one of {list(BMES_TAGS)}")
    # A word ending after "e"/"s" needs no rule of its own: the tag after an "e"/"s" always starts a word.
    starts = [
        position
        for position, tag in enumerate(tags)
        if tag in ("b", "s") or position == 0 or tags[position - 1] not in ("b", "m")
    ]
    return list(zip(starts, [*starts[1:], len(tags)], strict=True)) if starts else []


def bmes_words(tokens: Sequence[str], tags: Sequence[str]) -> list[str]:
    """The words that BMES ``tags`` over the characters ``tokens`` mark (decoded by ``bmes_spans``)."""
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    return ["".join(tokens[start:end]) for start, end in bmes_spans(tags)]


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def segmentation_scores(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict[str, float]:
    """Word-level precision, recall and F1 of predicted against gold BMES tags over a corpus of sentences.

    A predicted word counts as right when its span is identical to a gold word's span in the same
    sentence. Returns ``word_precision``, ``word_recall``, ``word_f1`` (0.0 where undefined) and the
    counts ``gold_words`` and ``predicted_words``. Sentences of different lengths are a ValueError
    naming the sentence index.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    gold_words = predicted_words = correct_words = 0
    for index, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted, strict=True)):
        if len(gold_tags) != len(predicted_tags):
            raise ValueError(f"sentence {index}: {len(gold_tags)} gold tags but {len(predicted_tags)} predicted")
        gold_spans = set(bmes_spans(gold_tags))
        predicted_spans = set(bmes_spans(predicted_tags))
        gold_words += len(gold_spans)
        predicted_words += len(predicted_spans)
        correct_words += len(gold_spans & predicted_spans)
    precision = _ratio(correct_words, predicted_words)
    recall = _ratio(correct_words, gold_words)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "word_precision": float(precision),
        "word_recall": float(recall),
        "word_f1": float(f1),
        "gold_words": gold_words,
        "predicted_words": predicted_words,
    }


def _flatten(sequences: Sequence[Sequence[Any]], lengths: Sequence[int], what: str) -> list[Any]:
    """Concatenate ``sequences``, checking each has the length of the matching gold sentence."""
    if len(sequences) != len(lengths):
        raise ValueError(f"{len(lengths)} gold sentences but {len(sequences)} {what}")
    flat: list[Any] = []
    for index, (sequence, length) in enumerate(zip(sequences, lengths, strict=True)):
        if len(sequence) != length:
            raise ValueError(f"sentence {index}: {length} gold tags but {len(sequence)} {what}")
        flat.extend(sequence)
    return flat


def tagging_scores(
    gold: Sequence[Sequence[int]],
    predicted: Sequence[Sequence[int]],
    labels: Sequence[str],
    tokens: Sequence[Sequence[str]] | None = None,
    known: Collection[str] | None = None,
) -> dict[str, Any]:
    """Token-level scores of predicted against gold tag ids (index into ``labels``), JSON-ready.

    Returns ``accuracy``; ``macro_f1`` over the labels that occur in gold or predictions; ``tokens``
    (the count); ``per_tag``: label -> precision, recall, f1, support for each label that occurs;
    ``confusion``: ``labels`` (those that occur, most frequent in gold first, ties in ``labels``
    order) and ``matrix`` (rows gold, columns predicted, in that order). Given the sentences'
    ``tokens`` and the ``known`` (train) words, also ``oov_tokens`` (tokens not in ``known``) and
    ``oov_accuracy`` on them (None when there are none). Lengths that differ are a ValueError naming
    the sentence index.
    """
    if (tokens is None) != (known is None):
        raise ValueError("pass both tokens and known (the train words) to score out-of-vocabulary tokens, or neither")
    lengths = [len(sentence) for sentence in gold]
    gold_ids = np.asarray(_flatten(gold, lengths, "gold tags"), dtype=np.int64)  # (N,)
    predicted_ids = np.asarray(_flatten(predicted, lengths, "predicted tags"), dtype=np.int64)  # (N,)
    if gold_ids.size == 0:
        raise ValueError("no tokens to score")
    for name, ids in (("gold", gold_ids), ("predicted", predicted_ids)):
        if ids.min() < 0 or ids.max() >= len(labels):
            raise ValueError(f"{name} tag ids must lie in [0, {len(labels)}), got {ids.min()}..{ids.max()}")

    gold_counts = Counter(gold_ids.tolist())
    present = sorted(set(gold_counts) | set(predicted_ids.tolist()))
    full = confusion_matrix(gold_ids, predicted_ids, len(labels))
    scored = class_scores(full, present)
    per_tag = {
        labels[label]: {
            "precision": float(scored.precision[column]),
            "recall": float(scored.recall[column]),
            "f1": float(scored.f1[column]),
            "support": int(scored.support[column]),
        }
        for column, label in enumerate(present)
    }
    order = sorted(present, key=lambda label: (-gold_counts[label], label))
    matrix = full[np.ix_(order, order)]  # (L, L) rows gold, columns predicted
    scores: dict[str, Any] = {
        "accuracy": float((gold_ids == predicted_ids).mean()),
        "macro_f1": float(scored.f1.mean()),
        "tokens": int(gold_ids.size),
    }
    if tokens is not None and known is not None:
        flat_tokens = _flatten(tokens, lengths, "tokens")
        unseen = np.asarray([token not in known for token in flat_tokens], dtype=bool)  # (N,)
        scores["oov_tokens"] = int(unseen.sum())
        scores["oov_accuracy"] = float((gold_ids[unseen] == predicted_ids[unseen]).mean()) if unseen.any() else None
    scores["per_tag"] = per_tag
    scores["confusion"] = {"labels": [labels[label] for label in order], "matrix": matrix.astype(int).tolist()}
    return scores
