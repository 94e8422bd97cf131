"""Export a sequence-to-sequence model as two ONNX graphs and check them against PyTorch.

- encoder graph: ``source`` int64 [batch, source_time], ``lengths`` int64 [batch] -> ``memory`` float32
  [batch, source_time, D], ``mask`` bool [batch, source_time], ``state`` float32 [layers, batch, state_size];
- decoder-step graph: ``tokens`` int64 [batch, 1], ``state``, ``memory``, ``mask`` -> ``logits`` float32
  [batch, 1, vocab], ``next_state`` (as ``state``), ``attention`` float32 [batch, 1, source_time].

Batch and source length are dynamic. The step graph reads one token per call: each decoder step attends
from the previous step's state, so a traced loop over several tokens would fix their number (the
graph's time axis is 1, and ONNX Runtime rejects another); ``OrtSeq2Seq.step`` calls it once per token.
Greedy and beam search (``seqlab.inference.decode``) run in Python over either backend.

Like lm_export.py this uses the TorchScript-based exporter (``dynamo=False``): native ONNX LSTM/GRU/RNN
nodes, the decoder's reading the carried state as ``initial_h`` (and ``initial_c``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.config import DecodeConfig
from seqlab.export.onnx_export import check_native_state, export_graph
from seqlab.export.parity import PARITY_BATCH_SIZES
from seqlab.inference.decode import (
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    STEP_INPUTS,
    STEP_OUTPUTS,
    OrtSeq2Seq,
    Seq2SeqModel,
    beam_decode,
)
from seqlab.inference.torch_models import TorchSeq2Seq
from seqlab.models.seq2seq import Seq2Seq
from seqlab.text.encoding import Encoded, pad_batch

EXAMPLE_LENGTHS = (5, 3)
"""Source lengths of the traced example batch: unequal, so the padding path is traced."""


class _EncoderGraph(nn.Module):
    """``Seq2Seq.encode`` as a module to trace."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.encode(source, lengths)  # (B, S, D), (B, S), (L, B, Sd)


class _StepGraph(nn.Module):
    """``Seq2Seq.step`` on one token as a module to trace."""

    def __init__(self, model: Seq2Seq) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, state: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.model.step(tokens, state, memory, mask)  # (B, 1, V), (L, B, Sd), (B, 1, S)


def _example(model: Seq2Seq) -> tuple[torch.Tensor, torch.Tensor]:
    """A padded source batch of ``EXAMPLE_LENGTHS`` (ids drawn from no random state)."""
    lengths = torch.tensor(EXAMPLE_LENGTHS)  # (B,)
    ids = 1 + torch.arange(len(lengths) * max(EXAMPLE_LENGTHS)) % (model.embed.num_embeddings - 1)
    source = ids.reshape(len(lengths), -1) * (torch.arange(max(EXAMPLE_LENGTHS)) < lengths[:, None])  # (B, S)
    return source, lengths


def export_encoder_graph(model: Seq2Seq, path: Path, opset: int) -> None:
    """Write ``model``'s encoder graph (source, lengths -> memory, mask, state) to ``path``."""
    model = model.eval()
    batch_source = {0: "batch", 1: "source_time"}
    export_graph(_EncoderGraph(model), _example(model), path, opset, ENCODER_INPUTS, ENCODER_OUTPUTS,
            {"source": batch_source, "lengths": {0: "batch"}, "memory": batch_source, "mask": batch_source,
             "state": {1: "batch"}})


def export_decoder_step_graph(model: Seq2Seq, path: Path, opset: int) -> None:
    """Write ``model``'s decoder-step graph (tokens, state, memory, mask -> logits, next_state, attention).

    Raises a StageError unless every decoder layer became a native recurrent node reading the carried state.
    """
    model = model.eval()
    with torch.no_grad():
        memory, mask, state = model.encode(*_example(model))
    tokens = torch.ones(len(EXAMPLE_LENGTHS), 1, dtype=torch.int64)  # (B, 1)
    batch_source = {0: "batch", 1: "source_time"}
    export_graph(_StepGraph(model), (tokens, state, memory, mask), path, opset, STEP_INPUTS, STEP_OUTPUTS,
            {"tokens": {0: "batch"}, "state": {1: "batch"}, "memory": batch_source, "mask": batch_source,
             "logits": {0: "batch"}, "next_state": {1: "batch"}, "attention": {0: "batch", 2: "source_time"}})
    check_native_state(path, model.cell, model.layers)


def seq2seq_parity_report(model: Seq2Seq, encoder_session: object, step_session: object,
                          sources: Sequence[Encoded], decoder_inputs: Sequence[Encoded], pad_id: int = 0,
                          single_limit: int = 200, name: str = "ort") -> dict[str, Any]:
    """ONNX Runtime against PyTorch on real pairs: ``sources`` and their ``decoder_inputs`` (``<bos>`` and
    the reference target), teacher forced one token per step, each side carrying its own state.

    Per batch size of ``PARITY_BATCH_SIZES`` (items in the given order, so batches mix lengths and carry
    padding on both sides) reports the largest |difference| of logits, memory, state and attention weights
    and the share of equal argmax predictions at real target positions; overall ``max_abs_diff`` (logits)
    and ``agreement`` are what ``check_parity`` gates. Batch size 1 runs on the first ``single_limit`` items.
    """
    if len(sources) != len(decoder_inputs) or not sources:
        raise ValueError(f"parity needs as many decoder inputs as sources (and some), got {len(decoder_inputs)} "
                         f"and {len(sources)}")
    reference, candidate = TorchSeq2Seq(model), OrtSeq2Seq(encoder_session, step_session, name=name)
    by_batch: dict[str, dict[str, float]] = {}
    for batch_size in PARITY_BATCH_SIZES:
        count = min(single_limit, len(sources)) if batch_size == 1 else len(sources)
        tally = _Tally()
        for start in range(0, count, batch_size):
            end = min(start + batch_size, count)
            tally.add(reference, candidate, pad_batch(sources[start:end], pad_id),
                      pad_batch(decoder_inputs[start:end], pad_id))
        by_batch[f"batch_{batch_size}"] = {"examples": count, **tally.summary()}
    return {
        "reference": reference.name,
        "candidate": candidate.name,
        **{key: max(r[key] for r in by_batch.values())
           for key in ("max_abs_diff", "max_memory_diff", "max_state_diff", "max_attention_diff")},
        "agreement": min(r["agreement"] for r in by_batch.values()),
        "by_batch_size": by_batch,
    }


class _Tally:
    """Largest differences and argmax agreement over the batches of one batch size."""

    def __init__(self) -> None:
        self.largest = {"max_abs_diff": 0.0, "max_memory_diff": 0.0, "max_state_diff": 0.0,
                        "max_attention_diff": 0.0}
        self.total = 0.0
        self.agree = self.count = 0

    def _note(self, key: str, got: np.ndarray, want: np.ndarray) -> None:
        self.largest[key] = max(self.largest[key], float(np.abs(got - want).max()))

    def add(self, reference: Seq2SeqModel, candidate: Seq2SeqModel, source: tuple[np.ndarray, np.ndarray],
            targets: tuple[np.ndarray, np.ndarray]) -> None:
        """Encode one padded batch on both sides and step through its padded ``targets`` (B, T)."""
        want_memory, want_mask, want_state = reference.encode(*source)
        got_memory, got_mask, got_state = candidate.encode(*source)
        if not np.array_equal(got_mask, want_mask):
            raise ValueError("parity: the encoder graph's mask differs from PyTorch's")
        self._note("max_memory_diff", got_memory, want_memory)
        self._note("max_state_diff", got_state, want_state)
        tokens, lengths = targets
        for t in range(tokens.shape[1]):
            step = np.ascontiguousarray(tokens[:, t : t + 1])  # (B, 1)
            want, want_state, want_attention = reference.step(step, want_state, want_memory, want_mask)
            got, got_state, got_attention = candidate.step(step, got_state, got_memory, got_mask)
            real = t < lengths  # (B,) rows whose target reaches step t
            self._note("max_abs_diff", got[real], want[real])
            self._note("max_state_diff", got_state, want_state)
            self._note("max_attention_diff", got_attention, want_attention)
            self.total += float(np.abs(got[real] - want[real]).mean()) * int(real.sum())
            self.agree += int((got[real, 0].argmax(-1) == want[real, 0].argmax(-1)).sum())
            self.count += int(real.sum())

    def summary(self) -> dict[str, float]:
        """The differences, the mean |logit difference| and the agreement at real target positions."""
        return {**self.largest, "mean_abs_diff": self.total / self.count, "agreement": self.agree / self.count,
                "positions": self.count}


def beam_parity(reference: Seq2SeqModel, candidate: Seq2SeqModel, sources: Sequence[Sequence[int]], bos: int,
                eos: int, decode: DecodeConfig, pad_id: int = 0, suppress: Sequence[int] = (),
                batch_size: int = 32) -> dict[str, Any]:
    """Beam search over both backends with the ``decode`` settings: the share of sources whose n-best outputs
    are identical (``same_nbest``) and the largest |score difference| where they are."""
    same = 0
    largest = 0.0
    for start in range(0, len(sources), batch_size):
        batch = sources[start : start + batch_size]
        wanted, found = (beam_decode(model, batch, bos, eos, decode.beam, decode.length_penalty, decode.max_steps,
                                     pad_id, suppress) for model in (reference, candidate))
        for want, got in zip(wanted, found, strict=True):
            if [tokens for tokens, _ in want] == [tokens for tokens, _ in got]:
                same += 1
                largest = max([largest, *(abs(a[1] - b[1]) for a, b in zip(want, got, strict=True))])
    return {"reference": reference.name, "candidate": candidate.name, "sources": len(sources),
            "same_nbest": same / len(sources), "max_score_diff": largest}
