"""Tokenized splits as model inputs and targets, for every structure.

A classify row holds ``tokens`` and a ``label`` (one target per sequence); a tag row holds
``tokens`` and ``tags`` (one target per token). Both become an :class:`EncodedSplit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqlab.io import InputError, read_jsonl
from seqlab.text.encoding import Encoded, TextEncoder

IGNORE_INDEX = -100
"""Target of a padding position: the loss and the metrics skip it."""


@dataclass
class EncodedSplit:
    """A split as model ids and targets: (N,) label ids, or one (T_i,) tag-id array per sequence."""

    sequences: list[Encoded]
    labels: np.ndarray | list[np.ndarray]
    tokens: list[list[str]]

    @property
    def per_token(self) -> bool:
        """Whether every token has its own target (a tag task)."""
        return isinstance(self.labels, list)

    def targets(self, indices: list[int]) -> np.ndarray:
        """Targets of the sequences at ``indices``: (B,), or (B, T) right-padded with IGNORE_INDEX."""
        if not isinstance(self.labels, list):
            return self.labels[indices]
        rows = [self.labels[i] for i in indices]
        padded = np.full((len(rows), max(len(row) for row in rows)), IGNORE_INDEX, dtype=np.int64)
        for number, row in enumerate(rows):
            padded[number, : len(row)] = row
        return padded


def token_set(path: Path) -> set[str]:
    """Every token of a tokenized JSONL split (the words a model saw in training)."""
    return {token for _, row in read_jsonl(path) for token in row.get("tokens", [])}


def load_encoded_split(path: Path, encoder: TextEncoder, labels: list[str],
                       structure: str = "classify") -> EncodedSplit:
    """Read a tokenized JSONL split and encode it; a malformed row is an InputError naming ``path:line``."""
    index = {label: number for number, label in enumerate(labels)}
    sequences: list[Encoded] = []
    targets: list = []
    tokens: list[list[str]] = []
    for number, row in read_jsonl(path):
        words = row.get("tokens")
        if not words or not isinstance(words, list):
            raise InputError(f"{path}:{number}: needs a non-empty list of 'tokens'")
        words = words[: encoder.max_len]
        if structure == "tag":
            tags = row.get("tags")
            if not isinstance(tags, list) or len(tags) < len(words) or any(tag not in index for tag in tags):
                raise InputError(f"{path}:{number}: needs one tag per token, each one of {labels}")
            targets.append(np.array([index[tag] for tag in tags[: len(words)]], dtype=np.int64))
        else:
            if row.get("label") not in index:
                raise InputError(f"{path}:{number}: needs a label in {labels}")
            targets.append(index[row["label"]])
        sequences.append(encoder.encode_tokens(words))
        tokens.append(words)
    labels_out = targets if structure == "tag" else np.array(targets, dtype=np.int64)
    return EncodedSplit(sequences, labels_out, tokens)
