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

For translation-like corpora, ``corpus_text_scores`` adds sacrebleu's corpus BLEU (n-gram precision up to
4-grams with a brevity penalty) and chrF (character n-gram F-score), both on sacrebleu's 0-100 scale,
higher is better. Each output is joined back into a string first; BLEU splits it into words (``13a``)
or, for character-joined outputs, into characters; chrF always counts characters, ignoring spaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU, CHRF


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


def reference_streams(references: list[list[str]]) -> list[list[str | None]]:
    """Per-item reference lists turned into sacrebleu's reference streams: stream ``k`` holds every item's
    ``k``-th reference, ``None`` where an item has fewer than ``k + 1``.

    An item with no reference at all is a ValueError naming its index, as in ``seq2seq_scores``.
    """
    for index, item_references in enumerate(references):
        if not item_references:
            raise ValueError(f"item {index}: an item has no reference to score its prediction against")
    count = max((len(item_references) for item_references in references), default=0)
    return [[item[k] if k < len(item) else None for item in references] for k in range(count)]


def corpus_text_scores(
    predictions: list[list[str]], references: list[list[list[str]]], joiner: str
) -> dict[str, float]:
    """Corpus BLEU and chrF (sacrebleu, 0-100, higher is better) of token predictions against every reference.

    Tokens are joined with ``joiner`` (``""`` for character-tokenized outputs, ``" "`` for word or phoneme
    tokens). BLEU tokenizes joined words with sacrebleu's ``13a`` and character-joined strings with ``char``:
    ``13a`` would make a whole unspaced output one BLEU token, so a corpus of single words scores 0 even when
    all are right. Items may have different numbers of references: shorter lists are padded with ``None``,
    which sacrebleu documents for this case and drops per item, so each prediction is scored against its own
    references only (BLEU clips each n-gram's count by its highest count in any reference and takes the
    reference length closest to the prediction's; chrF takes the reference with the best F-score). BLEU is 0
    when the corpus has no 4-gram (e.g. only words of under 4 characters). Empty input scores 0.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} items with references")
    streams = reference_streams([[joiner.join(reference) for reference in item] for item in references])
    if not predictions:
        return {"bleu": 0.0, "chrf": 0.0}  # sacrebleu cannot score an empty corpus
    hypotheses = [joiner.join(prediction) for prediction in predictions]
    bleu = BLEU(tokenize="char" if joiner == "" else "13a")
    return {
        "bleu": float(bleu.corpus_score(hypotheses, streams).score),
        "chrf": float(CHRF().corpus_score(hypotheses, streams).score),
    }
