"""Quality of sequence-to-sequence outputs with several references each: word and phoneme error rates.

The usual measures of grapheme-to-phoneme conversion (e.g. Bisani and Ney 2008; Yao and Zweig 2015),
where a word may have several correct pronunciations:

- word error rate (``wer``): the share of items whose prediction equals none of its references;
- phoneme error rate (``per``): the Levenshtein distance (substitutions, insertions, deletions, each
  costing 1) from each prediction to its closest reference, summed over the items, divided by the
  summed lengths of those closest references. Among references at the same distance the first
  listed counts (the order of the source file: CMUdict lists the commonest pronunciation first).

Tokens are strings (phonemes, characters or words), so the same scores serve any parallel corpus.
No pinned package computes a token-list edit distance, so the dynamic programme is written here.
"""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """The Levenshtein distance between two token sequences: the fewest insertions, deletions and
    substitutions that turn ``a`` into ``b``."""
    if len(a) < len(b):
        a, b = b, a  # keep the row as short as the shorter sequence
    previous = list(range(len(b) + 1))  # distances from a[:0] to every prefix of b
    for i, token in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token != other)))
        previous = current
    return previous[-1]


def closest_reference(prediction: Sequence[str], references: Sequence[Sequence[str]]) -> tuple[int, int]:
    """``(distance, length)`` of the reference closest to ``prediction`` (the first listed among ties).

    No reference at all is a ValueError: an item without a right answer cannot be scored.
    """
    if not references:
        raise ValueError("an item has no reference to score its prediction against")
    distances = [(edit_distance(prediction, reference), index) for index, reference in enumerate(references)]
    distance, index = min(distances)
    return distance, len(references[index])


def seq2seq_scores(predictions: list[list[str]], references: list[list[list[str]]]) -> dict[str, float | int]:
    """Word error rate, phoneme (token) error rate, the item count and the reference tokens PER divides by.

    ``references[i]`` lists every correct output of item ``i``; a prediction is right when it equals
    any of them. ``tokens`` sums the lengths of the closest references. Empty input scores 0.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} items with references")
    wrong = edits = tokens = 0
    for index, (prediction, item_references) in enumerate(zip(predictions, references, strict=True)):
        try:
            distance, length = closest_reference(prediction, item_references)
        except ValueError as err:
            raise ValueError(f"item {index}: {err}") from err
        wrong += distance > 0
        edits += distance
        tokens += length
    items = len(predictions)
    return {
        "wer": wrong / items if items else 0.0,
        "per": edits / tokens if tokens else 0.0,
        "items": items,
        "tokens": tokens,
    }
