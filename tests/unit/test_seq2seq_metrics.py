"""Word and phoneme error rates on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from seqlab.evaluation.seq2seq_metrics import closest_reference, edit_distance, seq2seq_scores


def phonemes(text: str) -> list[str]:
    return text.split()


# Guards the distance itself: textbook cases, symmetry, and tokens compared whole (not by characters).
@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("", "K AE T", 3),  # three insertions
        ("K AE T", "K AE T", 0),
        ("K AE T", "K AH T", 1),  # one substitution
        ("K AE T S", "K AE T", 1),  # one deletion
        ("AE K T", "K AE T", 2),  # a swap is two edits
        ("K IH T AH N", "S IH T IH NG", 3),  # kitten -> sitting as phonemes: K/S, AH/IH, N/NG
    ],
)
def test_edit_distance(a: str, b: str, distance: int) -> None:
    assert edit_distance(phonemes(a), phonemes(b)) == distance
    assert edit_distance(phonemes(b), phonemes(a)) == distance


def test_edit_distance_on_characters() -> None:
    assert edit_distance(list("kitten"), list("sitting")) == 3
    assert edit_distance(["AH0"], ["AH"]) == 1  # a stressed vowel is another token


# Guards the choice among references: the closest one, the first listed among ties, and none at all.
def test_closest_reference() -> None:
    references = [phonemes("T AH M EY T OW"), phonemes("T AH M AA T OW")]
    assert closest_reference(phonemes("T AH M AA T OW"), references) == (0, 6)
    assert closest_reference(phonemes("T AH M AE T OW"), references) == (1, 6)  # equally far: the first
    assert closest_reference(phonemes("T M EY T"), [phonemes("T AH M EY T OW"), phonemes("T M EY T OW")]) == (1, 5)
    with pytest.raises(ValueError, match="no reference"):
        closest_reference(phonemes("K AE T"), [])


# Guards WER and PER: right when any reference matches; PER over the closest reference's length.
def test_scores_with_several_references() -> None:
    predictions = [phonemes("T AH M AA T OW"), phonemes("K AE T S"), phonemes("D AO G"), phonemes("")]
    references = [
        [phonemes("T AH M EY T OW"), phonemes("T AH M AA T OW")],  # matches the second: right, 0 edits, 6 tokens
        [phonemes("K AE T")],  # one insertion: wrong, 1 edit, 3 tokens
        [phonemes("D AA G"), phonemes("D AO G Z")],  # both 1 away: the first counts, 3 tokens
        [phonemes("AH")],  # empty prediction: wrong, 1 edit, 1 token
    ]
    scores = seq2seq_scores(predictions, references)
    assert scores == {"wer": 3 / 4, "per": 3 / 13, "items": 4, "tokens": 13}


def test_all_right_and_empty_input() -> None:
    assert seq2seq_scores([phonemes("HH AY")], [[phonemes("HH AY")]]) == {"wer": 0.0, "per": 0.0, "items": 1,
                                                                          "tokens": 2}
    assert seq2seq_scores([], []) == {"wer": 0.0, "per": 0.0, "items": 0, "tokens": 0}


# Guards misuse: a count mismatch, and an item with no reference named by its index.
def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 items"):
        seq2seq_scores([["A"], ["B"]], [[["A"]]])
    with pytest.raises(ValueError, match="item 1: an item has no reference"):
        seq2seq_scores([["A"], ["B"]], [[["A"]], []])
