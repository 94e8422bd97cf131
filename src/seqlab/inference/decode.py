"""Decoding a sequence-to-sequence model: greedy and beam search, on any backend.

A ``Seq2SeqModel`` encodes padded source ids once (memory, mask and the decoder's start state) and then
steps the decoder (tokens, state, memory, mask -> logits, next state, attention weights), all numpy
arrays: the model in PyTorch (``TorchSeq2Seq`` in ``seqlab.inference.torch_models``) or its encoder and
decoder-step graphs in ONNX Runtime (``OrtSeq2Seq``). The search itself is numpy code shared by both,
with float64 scores and a fixed tie-breaking order, so the two backends give the same n-best lists (up to
float error in the logits). Evaluation, the CLI and the server all decode through this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from seqlab.inference.backends import log_softmax
from seqlab.text.encoding import pad_batch

ENCODER_INPUTS = ["source", "lengths"]
ENCODER_OUTPUTS = ["memory", "mask", "state"]
STEP_INPUTS = ["tokens", "state", "memory", "mask"]
STEP_OUTPUTS = ["logits", "next_state", "attention"]
Hypothesis = tuple[list[int], float]
"""Output ids (without ``<bos>`` and ``<eos>``) and their score, log-probability / length ** length_penalty."""


class Seq2SeqModel(Protocol):
    """Anything that encodes a padded source batch and steps an attention decoder over it."""

    name: str

    def encode(self, source: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """source (B, S) int64, lengths (B,) int64 -> memory (B, S, D) float32, mask (B, S) bool, state (L, B, Sd)."""
        ...

    def step(self, tokens: np.ndarray, state: np.ndarray, memory: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """tokens (B, T) int64 from state (L, B, Sd) -> logits (B, T, V), next state, attention (B, T, S)."""
        ...


class OrtSeq2Seq:
    """The encoder graph (``source``, ``lengths`` -> ``memory``, ``mask``, ``state``) and the decoder-step
    graph (``tokens``, ``state``, ``memory``, ``mask`` -> ``logits``, ``next_state``, ``attention``) in
    ONNX Runtime."""

    def __init__(self, encoder_session: object, step_session: object, name: str = "ort") -> None:
        for session, wanted in ((encoder_session, ENCODER_INPUTS), (step_session, STEP_INPUTS)):
            names = [i.name for i in session.get_inputs()]  # type: ignore[attr-defined]
            if names != wanted:
                raise ValueError(f"expected a graph with inputs {wanted}, got {names}: is it a seqlab seq2seq graph?")
        self.encoder = encoder_session
        self.decoder = step_session
        self.name = name

    def encode(self, source: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run of the encoder graph."""
        memory, mask, state = self.encoder.run(None, {"source": source, "lengths": lengths})  # type: ignore[attr-defined]
        return memory, mask, state

    def step(self, tokens: np.ndarray, state: np.ndarray, memory: np.ndarray,
             mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One run of the decoder-step graph per token of ``tokens`` (B, T) (the graph reads one at a time)."""
        logits, weights = [], []
        for t in range(tokens.shape[1]):
            step_logits, state, attention = self.decoder.run(  # type: ignore[attr-defined]
                None, {"tokens": np.ascontiguousarray(tokens[:, t : t + 1]), "state": state, "memory": memory,
                       "mask": mask})
            logits.append(step_logits)
            weights.append(attention)
        return np.concatenate(logits, axis=1), state, np.concatenate(weights, axis=1)


def _log_probs(logits: np.ndarray, suppress: Sequence[int]) -> np.ndarray:
    """Log-softmax of ``logits`` (N, V) in float64; ``suppress`` ids get -inf (never chosen)."""
    with np.errstate(divide="ignore"):  # a probability that underflows to 0 is log 0 = -inf, as it should be
        log_p = log_softmax(logits)  # (N, V)
    log_p[:, list(suppress)] = -np.inf
    return log_p


def greedy_decode(model: Seq2SeqModel, source_ids: np.ndarray, lengths: np.ndarray, bos: int, eos: int,
                  max_steps: int, suppress: Sequence[int] = ()) -> list[list[int]]:
    """The most likely next token at every step, for a padded batch ``source_ids`` (B, S) with ``lengths``.

    Returns each item's output ids, without ``<bos>`` and ``<eos>``; an item stops at ``<eos>`` (and leaves
    the batch) or after ``max_steps`` tokens. ``<bos>`` and the ``suppress`` ids are never chosen; ties go
    to the lower id.
    """
    memory, mask, state = model.encode(source_ids, lengths)  # (B, S, D), (B, S), (L, B, Sd)
    outputs: list[list[int]] = [[] for _ in range(len(source_ids))]
    rows = np.arange(len(source_ids))  # the items still running, in batch order
    tokens = np.full((len(rows), 1), bos, dtype=np.int64)  # (b, 1)
    for _ in range(max_steps):
        logits, state, _ = model.step(tokens, state, memory, mask)  # (b, 1, V)
        scores = logits[:, -1].copy()  # (b, V)
        scores[:, [bos, *suppress]] = -np.inf
        picked = scores.argmax(axis=-1)  # (b,)
        running = picked != eos
        for row, token in zip(rows[running], picked[running], strict=True):
            outputs[row].append(int(token))
        if not running.all():
            rows, picked, memory, mask = rows[running], picked[running], memory[running], mask[running]
            state = state[:, running]  # (L, b, Sd)
            if not len(rows):
                break
        tokens = picked[:, None].astype(np.int64)  # (b, 1)
    return outputs


def _normalised(log_prob: float, length: int, length_penalty: float) -> float:
    """A hypothesis' score: its log-probability over ``length`` ** ``length_penalty`` (length >= 1)."""
    return float(log_prob / max(length, 1) ** length_penalty)


def beam_decode(model: Seq2SeqModel, source_ids: Sequence[Sequence[int]], bos: int, eos: int, beam: int,
                length_penalty: float, max_steps: int, pad_id: int = 0,
                suppress: Sequence[int] = ()) -> list[list[Hypothesis]]:
    """The ``beam`` best outputs of each source (a batch of id lists; one item is ``[ids]``), best first.

    All items search at once, ``beam`` decoder rows each. At every step each item ranks its
    beam x vocabulary extensions by total log-probability, ties going to the lower beam and then the
    lower token id (a stable sort, so any backend picks the same); of the top 2 * ``beam``, an ``<eos>``
    ranked within the first ``beam`` ends a hypothesis, and the first ``beam`` others live on. An item is
    done when ``beam`` hypotheses have ended and its best live one, scored at the length of the ones that
    ended this step, ranks below all of them (``_settled``); after ``max_steps`` steps its live hypotheses
    end as they are. A hypothesis' score is log-probability / length ** ``length_penalty``, the length
    counting its ``<eos>``. With ``beam`` 1 this is greedy decoding.
    """
    if beam < 1 or max_steps < 1:
        raise ValueError(f"beam and max_steps must be >= 1, not {beam} and {max_steps}")
    if not source_ids:
        return []
    source, lengths = pad_batch(list(source_ids), pad_id)  # (B, S), (B,)
    memory, mask, state = model.encode(source, lengths)  # (B, S, D), (B, S), (L, B, Sd)
    rows = np.repeat(np.arange(len(source)), beam)  # (B * K,): each item's rows side by side
    memory, mask, state = memory[rows], mask[rows], state[:, rows]
    items = list(range(len(source)))  # the items still searching, in row order
    hypotheses: list[list[list[int]]] = [[[] for _ in range(beam)] for _ in items]
    scores = np.full((len(items), beam), -np.inf)  # (b, K) total log-probabilities of the live hypotheses
    scores[:, 0] = 0.0  # one start hypothesis per item, not K copies of it
    ended: list[list[Hypothesis]] = [[] for _ in items]
    tokens = np.full((len(rows), 1), bos, dtype=np.int64)  # (b * K, 1)
    for step in range(max_steps):
        logits, state, _ = model.step(tokens, state, memory, mask)  # (b * K, 1, V)
        vocab = logits.shape[-1]
        totals = (scores.reshape(-1, 1) + _log_probs(logits[:, -1], [bos, *suppress])).reshape(len(items), -1)
        ranked = np.argsort(-totals, axis=1, kind="stable")[:, : 2 * beam]  # (b, 2K) into beam * vocab
        parents, next_tokens, next_scores, keep = [], [], [], []
        for position, item in enumerate(items):
            chosen = _extend(ranked[position], totals[position], vocab, beam, eos)
            for parent, score in chosen.ended:
                ended[item].append((hypotheses[item][parent], _normalised(score, step + 1, length_penalty)))
            if not chosen.live or _settled(ended[item], chosen.live[0][2], step + 1, beam, length_penalty):
                continue
            live = chosen.live + [chosen.live[0][:2] + (-np.inf,)] * (beam - len(chosen.live))  # pad dead beams
            hypotheses[item] = [hypotheses[item][parent] + [token] for parent, token, _ in live]
            parents += [position * beam + parent for parent, _, _ in live]
            next_tokens += [token for _, token, _ in live]
            next_scores.append([score for _, _, score in live])
            keep.append(item)
        if not keep:
            break
        items, scores = keep, np.array(next_scores)  # (b, K)
        index = np.array(parents)  # (b * K,) rows of the previous step the new rows continue
        state, memory, mask = state[:, index], memory[index], mask[index]
        tokens = np.array(next_tokens, dtype=np.int64)[:, None]  # (b * K, 1)
    else:
        for position, item in enumerate(items):  # max_steps reached: live hypotheses end without <eos>
            ended[item] += [(hypotheses[item][k], _normalised(scores[position, k], max_steps, length_penalty))
                            for k in range(beam) if np.isfinite(scores[position, k])]
    return [sorted(found, key=lambda hypothesis: -hypothesis[1])[:beam] for found in ended]


def _settled(ended: list[Hypothesis], best_live: float, length: int, beam: int, length_penalty: float) -> bool:
    """Whether an item's search is over: ``beam`` hypotheses have ended and the best live total log-probability,
    scored at ``length``, does not beat the ``beam``-th best of them.

    Stopping as soon as ``beam`` hypotheses end would keep the early, improbable ones that an ``<eos>`` ranked
    among the top ``beam`` (say, the one-token outputs of a word whose likely output is long) and drop the live
    hypothesis that was far more probable. A live log-probability only falls, so with ``length_penalty`` 0 the
    test is exact; with a positive penalty a longer ending could still score a little higher, and judging the
    live hypothesis at the current length is the usual heuristic (Hugging Face's ``early_stopping=False``). It
    keeps beam width 1 equal to greedy decoding: there the search stops when ``<eos>`` is the best token.
    """
    if len(ended) < beam:
        return False
    kth_best = sorted((score for _, score in ended), reverse=True)[beam - 1]
    return _normalised(best_live, length, length_penalty) <= kth_best


@dataclass
class _Extensions:
    """One item's choices at one step: (parent, total) pairs that end with ``<eos>``, and up to ``beam``
    (parent, token, total) triples that live on."""

    ended: list[tuple[int, float]] = field(default_factory=list)
    live: list[tuple[int, int, float]] = field(default_factory=list)


def _extend(ranked: np.ndarray, totals: np.ndarray, vocab: int, beam: int, eos: int) -> _Extensions:
    """Walk one item's best candidates ``ranked`` (flat indices into beam x vocabulary) in order."""
    chosen = _Extensions()
    for rank, flat in enumerate(ranked):
        total = float(totals[flat])
        if not np.isfinite(total) or len(chosen.live) == beam:
            break
        parent, token = divmod(int(flat), vocab)
        if token != eos:
            chosen.live.append((parent, token, total))
        elif rank < beam:
            chosen.ended.append((parent, total))
    return chosen


def decode_sources(model: Seq2SeqModel, sources: Sequence[Sequence[int]], bos: int, eos: int, beam: int,
                   length_penalty: float, max_steps: int, pad_id: int = 0, suppress: Sequence[int] = (),
                   batch_size: int = 256) -> list[list[int]]:
    """The best output ids of every source (any number; sorted by length into batches of ``batch_size``
    sources, results in the given order): greedy decoding with ``beam`` 1, else beam search."""
    order = sorted(range(len(sources)), key=lambda index: len(sources[index]))
    best: list[list[int]] = [[] for _ in sources]
    step = batch_size if beam == 1 else max(1, batch_size // beam)  # decoder rows per call stay about equal
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        batch = [sources[index] for index in chunk]
        if beam == 1:
            outputs = greedy_decode(model, *pad_batch(batch, pad_id), bos, eos, max_steps, suppress)
        else:
            outputs = [found[0][0] if found else [] for found in
                       beam_decode(model, batch, bos, eos, beam, length_penalty, max_steps, pad_id, suppress)]
        for index, output in zip(chunk, outputs, strict=True):
            best[index] = output
    return best


def attention_weights(model: Seq2SeqModel, source_ids: Sequence[int], output_ids: Sequence[int],
                      bos: int) -> np.ndarray:
    """Where the decoder looked while writing ``output_ids`` for ``source_ids``: (len(output) + 1, len(source))
    weights, row t for the step that wrote output token t and the last row for the step that wrote ``<eos>``."""
    memory, mask, state = model.encode(*pad_batch([list(source_ids)], 0))
    tokens = np.array([[bos, *output_ids]], dtype=np.int64)  # (1, T + 1)
    return model.step(tokens, state, memory, mask)[2][0]  # (T + 1, S)
