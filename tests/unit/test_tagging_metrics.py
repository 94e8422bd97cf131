"""Tagging and segmentation metrics on hand-computed examples (seqlab.evaluation.tagging)."""

from __future__ import annotations

import json

import pytest

from seqlab.evaluation.tagging import bmes_spans, bmes_words, segmentation_scores, tagging_scores


def test_bmes_words_decodes_well_formed_tags() -> None:
    # Guards the plain case: b m... e is one word, s a one-character word.
    tokens = list("研究生命起源")
    assert bmes_words(tokens, ["b", "e", "b", "e", "b", "e"]) == ["研究", "生命", "起源"]
    assert bmes_words(tokens, ["b", "m", "e", "s", "b", "e"]) == ["研究生", "命", "起源"]
    assert bmes_spans(["s", "b", "m", "m", "e", "s"]) == [(0, 1), (1, 5), (5, 6)]
    assert bmes_spans([]) == []


@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["b", "s"], [(0, 1), (1, 2)]),  # s after b closes the b-word first
        (["b", "b", "e"], [(0, 1), (1, 3)]),  # a second b starts a new word
        (["s", "m", "e"], [(0, 1), (1, 3)]),  # m not after b/m starts a word
        (["e", "e"], [(0, 1), (1, 2)]),  # each stray e is a word of its own
        (["m", "m"], [(0, 2)]),  # leading m starts a word, the next m continues it
        (["b", "m"], [(0, 2)]),  # an unfinished word ends at the end of the sentence
        (["b", "e", "m", "e", "s"], [(0, 2), (2, 4), (4, 5)]),  # m after e starts a word
    ],
)
def test_bmes_spans_decode_ill_formed_tags_leniently(tags: list[str], spans: list[tuple[int, int]]) -> None:
    # Guards the documented lenient rule: every character lands in exactly one word, deterministically.
    assert bmes_spans(tags) == spans
    covered = [position for start, end in spans for position in range(start, end)]
    assert covered == list(range(len(tags)))


def test_bmes_rejects_unknown_tags_and_length_mismatch() -> None:
    # Guards against silently decoding a POS tag sequence or misaligned characters as segmentation.
    with pytest.raises(ValueError, match=r"'n' at position 1"):
        bmes_spans(["s", "n"])
    with pytest.raises(ValueError, match="3 tokens but 2 tags"):
        bmes_words(list("研究生"), ["b", "e"])


def test_segmentation_scores_hand_computed() -> None:
    # Guards word-level P/R/F1: a word is right only when its span matches a gold span exactly.
    gold = [["b", "e", "b", "m", "e", "s"]]  # 研究|生命体|好: 3 words
    predicted = [["b", "e", "s", "b", "e", "s"]]  # 研究|生|命体|好: 4 words, 研究 and 好 right
    scores = segmentation_scores(gold, predicted)
    assert (scores["gold_words"], scores["predicted_words"]) == (3, 4)
    assert scores["word_precision"] == pytest.approx(0.5)
    assert scores["word_recall"] == pytest.approx(2 / 3)
    assert scores["word_f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_segmentation_scores_pool_words_over_the_corpus() -> None:
    # Guards micro-averaging: counts are summed over sentences, not scores averaged per sentence.
    gold = [["b", "e", "b", "e"], ["s", "b", "e"]]  # 研究|生命 ; 我|喜欢: 4 gold words
    predicted = [["b", "m", "e", "s"], ["s", "b", "e"]]  # 研究生|命 ; 我|喜欢: 4 predicted, 2 right
    scores = segmentation_scores(gold, predicted)
    assert (scores["gold_words"], scores["predicted_words"]) == (4, 4)
    assert scores["word_precision"] == scores["word_recall"] == scores["word_f1"] == pytest.approx(0.5)


def test_segmentation_scores_perfect_and_all_wrong() -> None:
    # Guards the bounds: identical tags score 1, no shared span scores 0 without dividing by zero.
    gold = [["b", "e"], ["s"]]
    assert segmentation_scores(gold, gold)["word_f1"] == 1.0
    zero = segmentation_scores([["b", "e"]], [["s", "s"]])
    assert zero["word_precision"] == zero["word_recall"] == zero["word_f1"] == 0.0


def test_segmentation_scores_name_mismatched_sentence() -> None:
    # Guards alignment: a predicted sentence of the wrong length is named by its index.
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 3 predicted"):
        segmentation_scores([["s"], ["b", "e"]], [["s"], ["s", "s", "s"]])


LABELS = ["n", "v", "w", "d"]  # "d" never occurs: it must not dilute macro-F1
GOLD = [[0, 1, 2], [0, 0]]  # n v w | n n
PREDICTED = [[0, 0, 2], [1, 0]]  # n n w | v n
TOKENS = [["我", "爱", "。"], ["书", "花"]]
KNOWN = {"我", "爱", "。", "花"}  # 书 is out of vocabulary (gold n, predicted v)


def test_tagging_scores_hand_computed() -> None:
    # Guards accuracy, OOV accuracy, per-tag scores and macro-F1 over occurring labels only.
    scores = tagging_scores(GOLD, PREDICTED, LABELS, tokens=TOKENS, known=KNOWN)
    assert scores["tokens"] == 5
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["oov_tokens"] == 1 and scores["oov_accuracy"] == 0.0
    assert scores["per_tag"]["n"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "support": 3})
    assert scores["per_tag"]["v"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert scores["per_tag"]["w"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert "d" not in scores["per_tag"]
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    json.dumps(scores)  # plain Python values only


def test_tagging_confusion_orders_labels_by_gold_frequency() -> None:
    # Guards the confusion matrix: rows gold, columns predicted, most frequent gold label first,
    # ties in label order, a label that is only predicted last.
    scores = tagging_scores(GOLD, PREDICTED, LABELS)
    assert scores["confusion"] == {"labels": ["n", "v", "w"], "matrix": [[2, 1, 0], [1, 0, 0], [0, 0, 1]]}
    assert "oov_accuracy" not in scores

    only_predicted = tagging_scores([[2, 2, 1]], [[2, 3, 1]], LABELS)
    assert only_predicted["confusion"]["labels"] == ["w", "v", "d"]
    assert only_predicted["confusion"]["matrix"] == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert only_predicted["per_tag"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert only_predicted["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)


def test_tagging_scores_without_oov_tokens_and_bad_input() -> None:
    # Guards the edge cases: no unseen token gives oov_accuracy None; misaligned input names the sentence.
    scores = tagging_scores(GOLD, GOLD, LABELS, tokens=TOKENS, known=KNOWN | {"书"})
    assert scores["oov_tokens"] == 0 and scores["oov_accuracy"] is None and scores["accuracy"] == 1.0
    with pytest.raises(ValueError, match="sentence 1: 2 gold tags but 1 predicted"):
        tagging_scores(GOLD, [[0, 1, 2], [0]], LABELS)
    with pytest.raises(ValueError, match="sentence 0: 3 gold tags but 2 tokens"):
        tagging_scores(GOLD, GOLD, LABELS, tokens=[["我", "爱"], ["书", "花"]], known=KNOWN)
    with pytest.raises(ValueError, match="both tokens and known"):
        tagging_scores(GOLD, GOLD, LABELS, tokens=TOKENS)
    with pytest.raises(ValueError, match=r"predicted tag ids must lie in \[0, 4\)"):
        tagging_scores(GOLD, [[0, 1, 2], [0, 4]], LABELS)
