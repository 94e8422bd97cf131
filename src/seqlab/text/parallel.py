"""Tokenized parallel splits as model ids: each source with the ids of every reference target.

A row of a tokenized seq2seq split holds ``tokens`` (the source) and ``targets`` (one token list per
correct output, e.g. each pronunciation of a word). Training reads every (source, reference) pair;
scoring decodes each source once and compares the output with all of its references.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.io import InputError, read_jsonl
from seqlab.text.dataset import IGNORE_INDEX
from seqlab.text.encoding import TextEncoder, load_encoder, pad_batch
from seqlab.text.vocab import BOS, EOS, TARGETS_FILE, Vocab


@dataclass(frozen=True)
class TargetCodec:
    """Target tokens <-> decoder ids: ``<bos>`` starts the decoder's input, ``<eos>`` ends its output."""

    vocab: Vocab

    @property
    def bos(self) -> int:
        return self.vocab.index[BOS]

    @property
    def eos(self) -> int:
        return self.vocab.index[EOS]

    @property
    def suppressed(self) -> list[int]:
        """Ids a decoder never outputs: padding and the unknown token (``<bos>`` is never chosen anyway)."""
        return [self.vocab.pad_id, self.vocab.unk_id]

    def decode(self, ids: list[int]) -> list[str]:
        """The target tokens of decoder output ids (without ``<bos>``/``<eos>``)."""
        return self.vocab.decode(ids)


@dataclass
class ParallelSplit:
    """Source ids per item, and the ids and tokens of each item's references."""

    sources: list[list[int]]
    targets: list[list[list[int]]]
    source_tokens: list[list[str]]
    references: list[list[list[str]]]

    def pairs(self) -> list[tuple[int, int]]:
        """Every (item, reference) pair: what a training epoch reads."""
        return [(item, reference) for item, targets in enumerate(self.targets) for reference in range(len(targets))]


def load_parallel_split(path: Path, encoder: TextEncoder, targets: Vocab, max_target_len: int) -> ParallelSplit:
    """Read a tokenized seq2seq split; sources are cut to the encoder's ``max_len`` and target ids to
    ``max_target_len`` (references keep every token, for scoring). A malformed row is an InputError
    naming ``path:line``."""
    split = ParallelSplit([], [], [], [])
    for number, row in read_jsonl(path):
        tokens, references = row.get("tokens"), row.get("targets")
        if not tokens or not isinstance(tokens, list):
            raise InputError(f"{path}:{number}: needs a non-empty list of source 'tokens'")
        if not references or not all(isinstance(target, list) and target for target in references):
            raise InputError(f"{path}:{number}: needs 'targets', a list of non-empty token lists (run the tokenize "
                             "stage of a seq2seq task)")
        tokens = tokens[: encoder.max_len]
        split.sources.append(list(encoder.encode_tokens(tokens)))  # type: ignore[arg-type]
        split.targets.append([targets.encode(target[:max_target_len]) for target in references])
        split.source_tokens.append(tokens)
        split.references.append(references)
    if not split.sources:
        raise InputError(f"{path}: no rows")
    return split


def target_joiner(target_tokenizer: str) -> str:
    """The string that joins output tokens back into text: nothing between characters, a space between
    words (or phonemes)."""
    return "" if target_tokenizer == "char" else " "


def load_parallel_splits(tokenized_dir: Path, vocab_dir: Path, tokenizer: str, max_len: int, model: Mapping[str, Any],
                         *names: str) -> tuple[TextEncoder, TargetCodec, list[ParallelSplit]]:
    """A seq2seq task's source encoder, target codec (both from ``vocab_dir``: the vocab stage's folder) and
    its tokenized splits ``names`` (e.g. ``"train", "valid"``), sources and targets cut to ``max_len``."""
    encoder = load_encoder(vocab_dir, tokenizer, max_len, model)
    targets = Vocab.load(vocab_dir / TARGETS_FILE)
    splits = [load_parallel_split(tokenized_dir / f"{name}.jsonl", encoder, targets, max_len) for name in names]
    return encoder, TargetCodec(targets), splits


def decoder_inputs(split: ParallelSplit, codec: TargetCodec) -> list[list[int]]:
    """``<bos>`` and each source's first reference: what a teacher-forced decoder reads (parity checks)."""
    return [[codec.bos, *targets[0]] for targets in split.targets]


def teacher_batch(split: ParallelSplit, pairs: list[tuple[int, int]], codec: TargetCodec,
                  pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Padded source (B, S) with lengths (B,), the decoder's input ``<bos> y1 .. yn`` (B, T) and its
    targets ``y1 .. yn <eos>`` (B, T), padded with IGNORE_INDEX."""
    source, lengths = pad_batch([split.sources[item] for item, _ in pairs], pad_id)
    outputs = [split.targets[item][reference] for item, reference in pairs]
    width = max(map(len, outputs)) + 1
    decoder_in = np.full((len(pairs), width), pad_id, dtype=np.int64)
    decoder_out = np.full((len(pairs), width), IGNORE_INDEX, dtype=np.int64)
    for row, ids in enumerate(outputs):
        decoder_in[row, : len(ids) + 1] = [codec.bos, *ids]
        decoder_out[row, : len(ids) + 1] = [*ids, codec.eos]
    return source, lengths, decoder_in, decoder_out
