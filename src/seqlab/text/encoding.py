"""Text -> ids, padding, and length-bucketed batching, shared by training and inference."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqlab.text.tokenizers import get_tokenizer
from seqlab.text.vocab import Vocab


@dataclass(frozen=True)
class TextEncoder:
    """Turns raw text into model ids: tokenize, truncate to ``max_len``, map through the vocabulary."""

    tokenizer: str
    vocab: Vocab
    max_len: int

    def encode_tokens(self, tokens: Sequence[str]) -> list[int]:
        """Ids of already-tokenized text, truncated to ``max_len``."""
        return self.vocab.encode(tokens[: self.max_len])

    def encode(self, text: str) -> list[int]:
        """Ids of raw text; empty or whitespace-only text is a ValueError."""
        tokens = get_tokenizer(self.tokenizer)(text.strip())
        if not tokens:
            raise ValueError("text is empty: give at least one non-space character")
        return self.encode_tokens(tokens)


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences into ``tokens`` (B, T) int64 and ``lengths`` (B,) int64."""
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    if (lengths == 0).any():
        raise ValueError("cannot batch an empty sequence")
    tokens = np.full((len(sequences), int(lengths.max())), pad_id, dtype=np.int64)
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
