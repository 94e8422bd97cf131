"""A linear-chain CRF's tag transitions, on numpy: the best tag sequence (Viterbi), per-token marginals
(forward-backward) and the log-likelihood of a tag sequence, for one sentence's emission scores.

A tagger with a CRF output layer (``model.crf: true``) scores a tag sequence ``y`` of a sentence as
``start[y_1] + sum_t emissions[t, y_t] + sum_t transitions[y_t, y_t+1] + end[y_T]``; its graph outputs the
emissions and carries these scores in its metadata (``METADATA_KEY``), so PyTorch and every ONNX Runtime
backend decode through this one module. Kept free of torch: serving a bundle never imports it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

METADATA_KEY = "seqlab.crf"
"""Key of the transition scores (JSON) in an ONNX model's metadata."""


@dataclass(frozen=True)
class TagTransitions:
    """Scores of a linear-chain CRF: ``transitions[i, j]`` for tag j right after tag i, ``start[j]`` for a
    sentence opening with tag j, ``end[i]`` for one closing with tag i (all float64)."""

    transitions: np.ndarray  # (K, K)
    start: np.ndarray  # (K,)
    end: np.ndarray  # (K,)

    def __post_init__(self) -> None:
        tags = len(self.start)
        if self.transitions.shape != (tags, tags) or self.end.shape != (tags,):
            raise ValueError(f"CRF scores disagree on the number of tags: transitions {self.transitions.shape}, "
                             f"start {self.start.shape}, end {self.end.shape}")

    def best_path(self, emissions: np.ndarray) -> np.ndarray:
        """The highest-scoring tag sequence (T,) for one sentence's ``emissions`` (T, K) (Viterbi)."""
        return self.best_paths(emissions[None], np.array([len(emissions)]))[0]

    def best_paths(self, emissions: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """The best tag sequence of each sentence of a padded batch: ``emissions`` (B, T, K), ``lengths`` (B,);
        one pass over the time steps for the whole batch (Viterbi), each path cut to its sentence.

        The sentences go longest first, so at step t the ones still running are a prefix of the batch and
        only they are computed: the work is the batch's real tokens, not its padded area (a served batch of
        64 random sentences is mostly padding).
        """
        lengths = np.asarray(lengths, dtype=np.int64)
        order = np.argsort(-lengths, kind="stable")
        ordered = lengths[order]
        steps = int(ordered[0]) if len(ordered) else 0
        emissions = emissions[order, :steps].astype(np.float64)  # (B, T, K), longest sentence first
        batch, _, tags = emissions.shape
        running = np.searchsorted(-ordered, -np.arange(steps), side="left")  # (T,): sentences longer than t
        score = self.start + emissions[:, 0]  # (B, K): best score of a path ending in each tag
        back = np.empty((steps, batch, tags), dtype=np.int64)
        for t in range(1, steps):
            live = running[t]
            candidates = score[:live, :, None] + self.transitions  # (live, K previous, K next)
            best = candidates.argmax(axis=1)  # (live, K)
            score[:live] = np.take_along_axis(candidates, best[:, None, :], axis=1)[:, 0] + emissions[:live, t]
            back[t, :live] = best
        paths = np.zeros((batch, steps), dtype=np.int64)
        rows = np.arange(batch)
        paths[rows, np.maximum(ordered - 1, 0)] = (score + self.end).argmax(axis=1)
        for t in range(steps - 1, 0, -1):
            live = running[t]
            paths[:live, t - 1] = back[t, rows[:live], paths[:live, t]]
        found = [np.empty(0, dtype=np.int64)] * batch
        for position, row in enumerate(order):
            found[row] = paths[position, : ordered[position]]
        return found

    def _forward(self, emissions: np.ndarray) -> np.ndarray:
        """Log forward scores (alpha, (T, K)): the log-sum of the scores of every path prefix ending in each tag."""
        alpha = np.empty_like(emissions)
        alpha[0] = self.start + emissions[0]
        for t in range(1, len(emissions)):
            alpha[t] = np.logaddexp.reduce(alpha[t - 1][:, None] + self.transitions, axis=0) + emissions[t]
        return alpha

    def _forward_backward(self, emissions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log forward (alpha) and backward (beta) scores, each (T, K)."""
        steps = len(emissions)
        alpha = self._forward(emissions)
        beta = np.empty_like(emissions)
        beta[-1] = self.end
        for t in range(steps - 2, -1, -1):
            beta[t] = np.logaddexp.reduce(self.transitions + (emissions[t + 1] + beta[t + 1])[None, :], axis=1)
        return alpha, beta

    def marginals(self, emissions: np.ndarray) -> np.ndarray:
        """P(tag at t = k | sentence) for ``emissions`` (T, K): rows sum to 1."""
        alpha, beta = self._forward_backward(emissions.astype(np.float64))
        joint = alpha + beta  # (T, K): log of the total score of the paths through (t, k)
        return np.exp(joint - np.logaddexp.reduce(joint, axis=1)[:, None])

    def log_likelihood(self, emissions: np.ndarray, tags: np.ndarray) -> float:
        """log P(``tags`` | sentence) for ``emissions`` (T, K) and gold ``tags`` (T,)."""
        emissions = emissions.astype(np.float64)
        alpha = self._forward(emissions)
        log_partition = float(np.logaddexp.reduce(alpha[-1] + self.end, axis=0))
        score = (self.start[tags[0]] + emissions[np.arange(len(tags)), tags].sum()
                 + self.transitions[tags[:-1], tags[1:]].sum() + self.end[tags[-1]])
        return float(score) - log_partition

    def to_json(self) -> str:
        """The scores as JSON (what an ONNX model's metadata holds)."""
        return json.dumps({"transitions": self.transitions.tolist(), "start": self.start.tolist(),
                           "end": self.end.tolist()})

    @classmethod
    def from_json(cls, text: str) -> TagTransitions:
        """Scores written by :meth:`to_json`."""
        scores = json.loads(text)
        return cls(*(np.asarray(scores[key], dtype=np.float64) for key in ("transitions", "start", "end")))


def onnx_transitions(session: object) -> TagTransitions | None:
    """The CRF scores an ONNX Runtime session's model carries in its metadata, or None (no CRF layer)."""
    metadata = session.get_modelmeta().custom_metadata_map  # type: ignore[attr-defined]
    return TagTransitions.from_json(metadata[METADATA_KEY]) if METADATA_KEY in metadata else None


def tag_ids(emissions: np.ndarray, transitions: TagTransitions | None) -> np.ndarray:
    """A sentence's predicted tags (T,): the best CRF path, or without a CRF each position's top tag."""
    return emissions.argmax(axis=1) if transitions is None else transitions.best_path(emissions)

