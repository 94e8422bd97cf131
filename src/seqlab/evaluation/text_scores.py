"""How well a generating model predicts held-out text: loss in nats, bits per character, next-character accuracy.

Written once over the ``StepModel`` interface, so PyTorch (validation during training, the torch
row of the evaluation) and ONNX Runtime (fp32, int8, fp16) are scored by the same code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seqlab.inference.backends import log_softmax
from seqlab.inference.generate import StepModel
from seqlab.text.encoding import pad_batch

LN2 = math.log(2)


class _Tally:
    """Running negative log-likelihood and correct top-1 guesses over scored positions."""

    def __init__(self) -> None:
        self.nats = 0.0
        self.correct = 0
        self.count = 0

    def add(self, logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Score ``logits`` (B, T, V) against ``targets`` (B, T), at ``mask`` (B, T) positions only."""
        log_p = np.take_along_axis(log_softmax(logits), targets[..., None], axis=-1)[..., 0]  # (B, T)
        hits = logits.argmax(axis=-1) == targets  # (B, T)
        if mask is not None:
            log_p, hits = log_p[mask], hits[mask]
        self.nats -= float(log_p.sum())
        self.correct += int(hits.sum())
        self.count += int(hits.size)

    def scores(self) -> dict[str, float]:
        loss = self.nats / max(self.count, 1)
        return {"loss": loss, "bpc": loss / LN2, "accuracy": self.correct / max(self.count, 1),
                "characters": self.count}


def stream_matrix(ids: np.ndarray, batch: int) -> np.ndarray:
    """Cut a stream of ids into ``batch`` contiguous rows (B, N); the remainder is dropped."""
    columns = len(ids) // batch
    if columns < 2:
        raise ValueError(f"{len(ids)} ids are too few for {batch} streams")
    return np.ascontiguousarray(ids[: batch * columns].reshape(batch, columns))


def stream_scores(model: StepModel, ids: np.ndarray, batch: int = 32, window: int = 256) -> dict[str, float]:
    """Scores over a whole text ``ids``: cut into ``batch`` streams, read ``window`` steps at a time with the
    state carried across windows, so every character is predicted from everything before it in its stream."""
    streams = stream_matrix(ids, batch)  # (B, N)
    state = model.initial_state(batch)
    tally = _Tally()
    for start in range(0, streams.shape[1] - 1, window):
        inputs = streams[:, start : start + window]  # (B, W)
        targets = streams[:, start + 1 : start + window + 1]  # (B, W') with W' = W except at the end
        logits, state = model.step(inputs, state)  # (B, W, V)
        tally.add(logits[:, : targets.shape[1]], targets)
    return tally.scores()


def review_scores(model: StepModel, texts: Sequence[Sequence[int]], conditions: Sequence[int], pad_id: int,
                  batch: int = 64) -> dict[str, float]:
    """Scores over conditioned texts: each ``<bos> ... <eos>`` id sequence read from its condition's state,
    every id after ``<bos>`` predicted (padding is not scored; the model is causal, so it changes nothing)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    tally = _Tally()
    for start in range(0, len(order), batch):
        picked = order[start : start + batch]
        tokens, lengths = pad_batch([list(texts[i]) for i in picked], pad_id)  # (B, T)
        state = model.condition_state(np.asarray([conditions[i] for i in picked], dtype=np.int64))
        logits, _ = model.step(tokens[:, :-1], state)  # (B, T-1, V)
        mask = np.arange(tokens.shape[1] - 1)[None, :] < (lengths[:, None] - 1)  # (B, T-1)
        tally.add(logits, tokens[:, 1:], mask)
    return tally.scores()
