"""Text -> ids, padding, and length-bucketed batching, shared by training and inference.

A sequence is encoded as one id per position, or, for a tagger that reads more than its tokens, one
row per position of fixed width: ``[token id, pair id?, char ids...?]`` where the *pair* is the
token joined with the next one (for characters: the bigram, the strongest single cue for Chinese
word segmentation) and the *chars* are the token's own characters (for words: what lets a tagger
handle a word it never saw). Batches of the first kind are (B, T), of the second (B, T, C): either
way the model's inputs stay ``tokens`` and ``lengths``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.text.tokenizers import get_tokenizer, next_pairs
from seqlab.text.vocab import CHARS_FILE, PAIRS_FILE, TOKENS_FILE, Vocab

Encoded = list[int] | list[list[int]]


@dataclass(frozen=True)
class TextEncoder:
    """Turns raw text into model ids: tokenize, truncate to ``max_len``, map through the vocabulary.

    With ``pairs`` and/or ``chars`` each position becomes a row (see the module docstring).
    """

    tokenizer: str
    vocab: Vocab
    max_len: int
    chars: Vocab | None = None
    max_word_chars: int = 0
    pairs: Vocab | None = None

    def __post_init__(self) -> None:
        if self.chars is not None and self.max_word_chars < 2:
            raise ValueError("character features need max_word_chars >= 2")

    def word_chars(self, token: str) -> list[int]:
        """``max_word_chars`` character ids of ``token``, right-padded; a longer token keeps its first
        characters and its last one (Chinese word class shows in the final character: 性, 者, 化)."""
        if self.chars is None:
            raise ValueError("this encoder has no character vocabulary")
        width = self.max_word_chars
        kept = token if len(token) <= width else token[: width - 1] + token[-1]
        ids = self.chars.encode(kept)
        return ids + [self.chars.pad_id] * (width - len(ids))

    def encode_tokens(self, tokens: Sequence[str]) -> Encoded:
        """Ids of already-tokenized text, truncated to ``max_len``."""
        tokens = tokens[: self.max_len]
        ids = self.vocab.encode(tokens)
        if self.chars is None and self.pairs is None:
            return ids
        columns: list[Sequence[int]] = [ids]
        if self.pairs is not None:
            columns.append(self.pairs.encode(next_pairs(tokens)))
        rows = [list(row) for row in zip(*columns, strict=True)]
        if self.chars is not None:
            rows = [row + self.word_chars(token) for row, token in zip(rows, tokens, strict=True)]
        return rows

    def tokens(self, text: str) -> list[str]:
        """The tokens of raw text, truncated to ``max_len``; empty or whitespace-only text is a ValueError."""
        tokens = get_tokenizer(self.tokenizer)(text.strip())
        if not tokens:
            raise ValueError("text is empty: give at least one non-space character")
        return tokens[: self.max_len]

    def encode(self, text: str) -> Encoded:
        """Ids of raw text; empty or whitespace-only text is a ValueError."""
        return self.encode_tokens(self.tokens(text))

    def example(self, lengths: Sequence[int] = (7, 1), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A padded batch of random vocabulary tokens with these ``lengths``: an input shaped exactly as
        the model takes it (for export)."""
        rng = random.Random(seed)
        words = self.vocab.tokens[len(self.vocab.specials) :] or self.vocab.tokens
        return pad_batch([self.encode_tokens(rng.choices(words, k=n)) for n in lengths], self.vocab.pad_id)


def load_encoder(folder: Path, tokenizer: str, max_len: int, model: Mapping[str, Any],
                 vocab_file: str = TOKENS_FILE) -> TextEncoder:
    """The encoder a model was trained with: ``folder``/``vocab_file`` (the vocab stage's folder, or a
    bundle), plus ``pairs.json`` and ``chars.json`` when the model config (``model``, as in a checkpoint
    or bundle) reads them."""
    vocab = Vocab.load(folder / vocab_file)
    chars = Vocab.load(folder / CHARS_FILE) if model.get("char_embed_dim") else None
    pairs = Vocab.load(folder / PAIRS_FILE) if model.get("pair_embed_dim") else None
    return TextEncoder(tokenizer, vocab, max_len, chars, int(model["max_word_chars"]) if chars else 0, pairs)


def pad_batch(sequences: Sequence[Encoded], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad encoded sequences into ``tokens`` (B, T) or (B, T, C) int64 and ``lengths`` (B,) int64."""
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    if (lengths == 0).any():
        raise ValueError("cannot batch an empty sequence")
    first = np.asarray(sequences[0])
    tokens = np.full((len(sequences), int(lengths.max()), *first.shape[1:]), pad_id, dtype=np.int64)
    for row, sequence in enumerate(sequences):
        tokens[row, : len(sequence)] = sequence
    return tokens, lengths


def bucket_batches(lengths: Sequence[int], batch_size: int, pool_batches: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices whose sequences have similar lengths.

    Indices are shuffled, cut into pools of ``pool_batches * batch_size``, each pool is sorted by
    length and cut into batches, and the batches are shuffled: little padding, still random order.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool_size = batch_size * pool_batches
    batches = []
    for start in range(0, len(order), pool_size):
        pool = sorted(order[start : start + pool_size], key=lambda i: lengths[i])
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    rng.shuffle(batches)
    return batches
