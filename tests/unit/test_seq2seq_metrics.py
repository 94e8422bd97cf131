"""Word and phoneme error rates on hand-made cases whose answers are worked out by hand."""

from __future__ import annotations

import pytest

from seqlab.evaluation.seq2seq_metrics import closest_reference, corpus_text_scores, edit_distance, seq2seq_scores


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


# Guards BLEU and chrF: perfect output scores 100, errors score lower, any one of several references suffices.
WORDS = ["phoneme", "grapheme", "sequence", "language"]
SENTENCES = ["the cat sat on the mat", "a dog ran in the park"]


def test_text_scores_of_identical_output() -> None:
    characters = [list(word) for word in WORDS]
    scores = corpus_text_scores(characters, [[word] for word in characters], "")
    assert scores == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0)}
    words = [sentence.split() for sentence in SENTENCES]
    scores = corpus_text_scores(words, [[sentence] for sentence in words], " ")
    assert scores == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0)}


def test_text_scores_rank_wrong_below_right() -> None:
    references = [[sentence.split()] for sentence in SENTENCES]
    right = corpus_text_scores([sentence.split() for sentence in SENTENCES], references, " ")
    close = corpus_text_scores([phonemes("the cat sat on a mat"), phonemes("a dog ran in the park")], references, " ")
    wrong = corpus_text_scores([phonemes("my hat is red"), phonemes("no birds sing here")], references, " ")
    assert right["bleu"] > close["bleu"] > wrong["bleu"]
    assert right["chrf"] > close["chrf"] > wrong["chrf"]
    assert wrong["bleu"] < 10 and wrong["chrf"] < 30


def test_text_scores_on_characters_count_characters() -> None:
    references = [[list(word)] for word in WORDS]
    predictions = [list(word) for word in ["phonema", "grafeme", "sequense", "languag"]]
    misspelt = corpus_text_scores(predictions, references, "")
    assert 0 < misspelt["bleu"] < 100  # each word is not one BLEU token, or one letter off would score 0
    assert 0 < misspelt["chrf"] < 100


def test_text_scores_with_several_references() -> None:
    references = [[phonemes("the cat sat on the mat"), phonemes("a cat was sitting on the mat")]]
    scores = corpus_text_scores([phonemes("a cat was sitting on the mat")], references, " ")
    assert scores == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0)}
    # Items with one and with two references side by side: the short list does not count against its item.
    predictions = [phonemes("a cat was sitting on the mat"), phonemes("a dog ran in the park")]
    mixed = corpus_text_scores(predictions, [references[0], [phonemes("a dog ran in the park")]], " ")
    assert mixed == {"bleu": pytest.approx(100.0), "chrf": pytest.approx(100.0)}


def test_text_scores_bad_input() -> None:
    with pytest.raises(ValueError, match="2 predictions but 1 items"):
        corpus_text_scores([["A"], ["B"]], [[["A"]]], " ")
    with pytest.raises(ValueError, match="item 1: an item has no reference"):
        corpus_text_scores([["A"], ["B"]], [[["A"]], []], " ")
    assert corpus_text_scores([], [], " ") == {"bleu": 0.0, "chrf": 0.0}
