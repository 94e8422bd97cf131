"""One interface over PyTorch and ONNX Runtime models: padded ids and lengths in, outputs out.

Evaluation, the CLI and the server all go through these, so what is measured is what is served.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from torch import nn

from seqlab.text.encoding import pad_batch


class Backend(Protocol):
    """Anything that maps (tokens (B, T), lengths (B,)) int64 arrays to output logits."""

    name: str

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray: ...


class TorchBackend:
    """A torch module run in eval mode without gradients."""

    def __init__(self, model: nn.Module, name: str = "torch") -> None:
        self.model = model.eval()
        self.name = name

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(tokens), torch.from_numpy(lengths)).numpy()


class OrtBackend:
    """An ONNX Runtime session with ``tokens`` and ``lengths`` inputs."""

    def __init__(self, session: object, name: str = "ort") -> None:
        self.session = session
        self.name = name

    def logits(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"tokens": tokens, "lengths": lengths})[0]  # type: ignore[attr-defined]


def batched_logits(
    backend: Backend, sequences: Sequence[Sequence[int]], pad_id: int, batch_size: int = 128
) -> np.ndarray:
    """Logits for every sequence, batched by similar length; rows come back in input order."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    chunks: list[np.ndarray] = []
    for start in range(0, len(order), batch_size):
        picked = order[start : start + batch_size]
        tokens, lengths = pad_batch([sequences[i] for i in picked], pad_id)
        chunks.append(backend.logits(tokens, lengths))
    stacked = np.concatenate(chunks)
    result = np.empty_like(stacked)
    result[order] = stacked
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)
