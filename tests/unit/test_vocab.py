"""Vocabulary: specials first, frequency order, limits, JSON round-trip."""

from pathlib import Path

import pytest

from seqlab.io import InputError
from seqlab.text.vocab import PAD, SPECIALS, UNK, Vocab

SEQUENCES = [list("好好好看"), list("不好看"), list("差")]


def test_specials_first_then_by_frequency_then_token() -> None:
    vocab = Vocab.build(SEQUENCES)
    assert vocab.tokens[: len(SPECIALS)] == list(SPECIALS) and vocab.pad_id == 0
    assert vocab.tokens[len(SPECIALS) :] == ["好", "看", "不", "差"]  # 4, 2, then ties by token


def test_min_freq_and_max_size() -> None:
    assert Vocab.build(SEQUENCES, min_freq=2).tokens[len(SPECIALS) :] == ["好", "看"]
    assert len(Vocab.build(SEQUENCES, max_size=5)) == 5


def test_unknown_tokens_map_to_unk() -> None:
    vocab = Vocab.build(SEQUENCES)
    assert vocab.encode(["好", "坏"]) == [vocab.index["好"], vocab.index[UNK]]
    assert vocab.decode(vocab.encode(["看"])) == ["看"]


def test_json_round_trip(tmp_path: Path) -> None:
    # Guards: a vocabulary that changes between the vocab stage and serving.
    vocab = Vocab.build(SEQUENCES)
    vocab.save(tmp_path / "v.json")
    loaded = Vocab.load(tmp_path / "v.json")
    assert loaded.tokens == vocab.tokens and loaded.specials == vocab.specials


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "v.json").write_text('{"tokens": ["a"]}', encoding="utf-8")
    with pytest.raises(InputError, match="v.json: not a seqlab vocabulary"):
        Vocab.load(tmp_path / "v.json")


def test_specials_must_lead() -> None:
    with pytest.raises(ValueError, match="start with the specials"):
        Vocab(["a", PAD, UNK])
