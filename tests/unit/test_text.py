"""Tokenizers, encoding and length-bucketed batches."""

import random

import numpy as np
import pytest

from seqlab.text.encoding import TextEncoder, bucket_batches, pad_batch
from seqlab.text.tokenizers import get_tokenizer
from seqlab.text.vocab import Vocab


def test_char_tokenizer_keeps_every_character() -> None:
    assert get_tokenizer("char")("好书 ok") == ["好", "书", " ", "o", "k"]


def test_char_bigram_tokenizer_pairs_each_character_with_the_next() -> None:
    assert get_tokenizer("char_bigram")("好书啊") == ["好书", "书啊", "啊"]


def test_jieba_tokenizer_gives_words() -> None:
    tokens = get_tokenizer("jieba")("这本书写得很好")
    assert "".join(tokens) == "这本书写得很好" and len(tokens) < 7 and "很" in tokens


def test_unknown_tokenizer_lists_choices() -> None:
    with pytest.raises(ValueError, match="char, char_bigram, jieba"):
        get_tokenizer("bpe")


def test_encoder_truncates_and_rejects_empty_text() -> None:
    encoder = TextEncoder("char", Vocab.build([list("abc")]), max_len=2)
    assert encoder.encode(" abc ") == encoder.vocab.encode(["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        encoder.encode("   ")


def test_pad_batch_right_pads() -> None:
    tokens, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0]] and lengths.tolist() == [3, 1]
    assert tokens.dtype == np.int64 and lengths.dtype == np.int64


def test_bucket_batches_cover_everything_once_with_similar_lengths() -> None:
    # Guards: examples dropped or repeated in an epoch, or buckets that do not reduce padding.
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(1000)]
    batches = bucket_batches(lengths, batch_size=32, pool_batches=10, rng=random.Random(1))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(1000))
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 60  # random batches of 32 would spread over ~280
    assert batches != bucket_batches(lengths, 32, 10, random.Random(2))
