"""One interface over PyTorch and ONNX Runtime models: padded ids and lengths in, outputs out.

Evaluation, the CLI and the server all go through these, so what is measured is what is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from seqlab.inference.crf import TagTransitions, onnx_transitions
from seqlab.text.encoding import Encoded, pad_batch


class Backend(Protocol):
    """Anything that maps (tokens (B, T) or (B, T, C), lengths (B,)) int64 arrays to output logits;
    ``transitions``: a tagger's CRF scores for decoding its logits, None for every other model."""

    name: str
    transitions: TagTransitions | None

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...


class OrtBackend:
    """An ONNX Runtime session with ``tokens`` and ``lengths`` inputs."""

    def __init__(self, session: object, name: str = "ort") -> None:
        self.session = session
        self.name = name
        self.transitions = onnx_transitions(session)

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"tokens": tokens, "lengths": lengths})[0]  # type: ignore[attr-defined]


def batched_outputs(
    backend: Backend, sequences: Sequence[Encoded], pad_id: int, batch_size: int = 128
) -> list[np.ndarray]:
    """Each sequence's logits, batched by similar length, in input order: (C,) from a classifier,
    (T_i, K) from a tagger (its rows at the sequence's own positions, padding cut off)."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    outputs: list[np.ndarray] = [np.empty(0)] * len(sequences)
    for start in range(0, len(order), batch_size):
        picked = order[start : start + batch_size]
        tokens, lengths = pad_batch([sequences[i] for i in picked], pad_id)
        logits = backend.logits(tokens, lengths)  # (B, C) or (B, T, K)
        for row, index in enumerate(picked):
            outputs[index] = logits[row, : lengths[row]] if logits.ndim == 3 else logits[row]
    return outputs


def stack_rows(outputs: Sequence[np.ndarray]) -> np.ndarray:
    """Per-sequence outputs as one (rows, classes) array: a row per sequence, or per token for taggers."""
    return np.concatenate([output.reshape(-1, output.shape[-1]) for output in outputs])


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax over the last axis, in float64 so long sums of log-probabilities stay exact."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
