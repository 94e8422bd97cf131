"""Generative tasks as tensors: a language model's text as B parallel streams cut into truncated-BPTT
windows, and conditioned reviews as padded ``<bos> chars... <eos>`` batches with their condition.

The stream layout is the classic ``batchify`` of pytorch/examples word_language_model
(:func:`seqlab.evaluation.text_scores.stream_matrix`, shared with evaluation): the text is cut into B
contiguous pieces, one per batch row, so the state at the end of a window is the right start for
the next window of the same row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from seqlab.config import TrainConfig
from seqlab.io import InputError, read_jsonl
from seqlab.text.dataset import IGNORE_INDEX, load_encoded_split
from seqlab.text.encoding import TextEncoder, pad_batch
from seqlab.text.vocab import BOS, EOS, Vocab
from seqlab.training.loop import Batch
from seqlab.training.splits import bucketed_epochs


class Window(NamedTuple):
    """``bptt`` steps of every stream: inputs and next-token targets (B, T), and whether it starts an epoch."""

    inputs: torch.Tensor
    targets: torch.Tensor
    first: bool


@dataclass
class ConditionedSplit:
    """Reviews as ``<bos> ids... <eos>`` (cut to ``max_len``) and each one's condition id."""

    sequences: list[np.ndarray]
    conditions: np.ndarray


def special_id(vocab: Vocab, token: str, path: Path) -> int:
    """The id of a special token (``<bos>``, ``<eos>``) of ``vocab``; an InputError naming ``path`` without it."""
    if token not in vocab:
        raise InputError(f"{path}: the vocabulary has no {token} token (it is made by the vocab stage)")
    return vocab.index[token]


def load_token_stream(path: Path, vocab: Vocab) -> np.ndarray:
    """Every document of a tokenized split as one int64 id stream, in file order, ``<eos>`` after each."""
    eos = special_id(vocab, EOS, path)
    pieces: list[list[int]] = []
    for number, row in read_jsonl(path):
        tokens = row.get("tokens")
        if not tokens or not isinstance(tokens, list) or not all(isinstance(token, str) for token in tokens):
            raise InputError(f"{path}:{number}: needs a non-empty list of string 'tokens'")
        pieces.append(vocab.encode(tokens) + [eos])
    if not pieces:
        raise InputError(f"{path}: no documents")
    return np.concatenate([np.asarray(piece, dtype=np.int64) for piece in pieces])


def drop_tokens(ids: np.ndarray, rate: float, vocab: Vocab, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``ids`` with each real token (not a special) replaced by ``<unk>`` with probability ``rate``."""
    dropped = (rng.random(ids.shape) < rate) & (ids >= len(vocab.specials))
    return np.where(dropped, vocab.unk_id, ids)


def window_batches(matrix: np.ndarray, config: TrainConfig, seed: int,
                   vocab: Vocab) -> Callable[[int], list[Batch]]:
    """A function giving each epoch the consecutive ``config.bptt``-step windows of the (B, N) stream matrix.

    With ``token_dropout`` > 0 that share of input characters becomes ``<unk>`` (seeded per epoch);
    targets are never dropped.
    """
    targets = torch.from_numpy(matrix)  # (B, N)
    steps = matrix.shape[1] - 1  # the last column is only a target

    def batches(epoch: int) -> list[Batch]:
        inputs = targets
        if config.token_dropout > 0:
            noise = np.random.default_rng(seed * 1000 + epoch)
            inputs = torch.from_numpy(drop_tokens(matrix, config.token_dropout, vocab, noise))
        windows = []
        for start in range(0, steps, config.bptt):
            end = min(start + config.bptt, steps)
            windows.append(Window(inputs[:, start:end], targets[:, start + 1 : end + 1], start == 0))  # (B, T) each
        return windows

    return batches


def load_conditioned_split(path: Path, encoder: TextEncoder, conditions: list[str]) -> ConditionedSplit:
    """Read a classify-format tokenized split as conditioned reviews: ``<bos> chars... <eos>`` cut to the
    encoder's ``max_len`` ids (a cut review has no ``<eos>``: it did not end there), and the label's index."""
    if encoder.max_len < 2:
        raise InputError(f"{path}: max_len {encoder.max_len} leaves no room for <bos> and a character")
    bos, eos = special_id(encoder.vocab, BOS, path), special_id(encoder.vocab, EOS, path)
    split = load_encoded_split(path, encoder, conditions, "condlm")
    sequences = [np.array([bos, *ids, eos][: encoder.max_len], dtype=np.int64) for ids in split.sequences]
    return ConditionedSplit(sequences, np.asarray(split.labels, dtype=np.int64))


def review_batch(split: ConditionedSplit, indices: list[int], pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Padded (inputs (B, T), targets (B, T), conditions (B,)) of the reviews at ``indices``; a target at
    padding is IGNORE_INDEX."""
    rows = [split.sequences[i] for i in indices]
    inputs, _ = pad_batch([row[:-1] for row in rows], pad_id)  # (B, T)
    targets, _ = pad_batch([row[1:] for row in rows], IGNORE_INDEX)  # (B, T)
    return inputs, targets, split.conditions[indices]


def review_batches(split: ConditionedSplit, config: TrainConfig, seed: int,
                   vocab: Vocab) -> Callable[[int], list[Batch]]:
    """A function giving each epoch its own seeded, length-bucketed review batches (see :func:`review_batch`).

    With ``token_dropout`` > 0 that share of input characters becomes ``<unk>``; targets are never dropped.
    """

    def batch(indices: list[int], noise: np.random.Generator) -> Batch:
        inputs, targets, conditions = review_batch(split, indices, vocab.pad_id)
        if config.token_dropout > 0:
            inputs = drop_tokens(inputs, config.token_dropout, vocab, noise)
        return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(conditions)

    return bucketed_epochs([len(sequence) for sequence in split.sequences], config, seed, batch)
