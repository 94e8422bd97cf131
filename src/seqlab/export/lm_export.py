"""Export a language model as ONNX step graphs and check them against PyTorch with the state carried.

The step graph maps ``tokens`` int64 [batch, time] and ``state`` float32 [layers, batch, state_size]
to ``logits`` float32 [batch, time, vocab] and ``next_state`` (same shape as ``state``): generation
calls it with time = 1, evaluation with long windows, both carrying the state from call to call. A
conditioned model adds the condition graph, ``condition`` int64 [batch] -> ``state``.

Like onnx_export.py this uses the TorchScript-based exporter (``dynamo=False``), which emits native
ONNX LSTM/GRU/RNN nodes, here with the carried state as their ``initial_h`` (and ``initial_c``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.export.onnx_export import check_native_state, export_graph
from seqlab.inference.generate import OrtStepModel, StepModel
from seqlab.inference.torch_models import TorchStepModel
from seqlab.models.language_model import LanguageModel

STEP_INPUTS = ["tokens", "state"]
STEP_OUTPUTS = ["logits", "next_state"]
PARITY_SHAPES: tuple[tuple[int, int], ...] = ((1, 1), (1, 64), (4, 1), (4, 32), (16, 256))
"""(streams, window) pairs the parity check runs: one token per call as generation does (alone and in a
batch), and windows as evaluation reads them; every stream carries its state from window to window."""


def export_step_graph(model: LanguageModel, path: Path, opset: int) -> None:
    """Write ``model``'s step graph (tokens, state -> logits, next_state; batch and time dynamic) to ``path``.

    Raises a StageError unless every layer became a native recurrent node reading the carried state.
    """
    model = model.eval()
    tokens = torch.arange(10).reshape(2, 5) % model.out.out_features  # (B, T); no draw from torch's random state
    batch_time = {0: "batch", 1: "time"}
    export_graph(model, (tokens, model.initial_state(2)), path, opset, STEP_INPUTS, STEP_OUTPUTS,
                 {"tokens": batch_time, "state": {1: "batch"}, "logits": batch_time, "next_state": {1: "batch"}})
    check_native_state(path, model.cell, model.layers)


class _ConditionGraph(nn.Module):
    """The condition -> state part of a conditioned language model, as a module to trace."""

    def __init__(self, model: LanguageModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        return self.model.condition_state(condition)  # (L, B, S)


def export_condition_graph(model: LanguageModel, path: Path, opset: int) -> None:
    """Write the condition graph (``condition`` int64 [batch] -> ``state`` [layers, batch, state_size])."""
    if model.conditions is None:
        raise ValueError("this language model was trained without conditions: it has no condition graph")
    conditions = torch.arange(model.conditions.num_embeddings)  # (B,)
    export_graph(_ConditionGraph(model.eval()), (conditions,), path, opset, ["condition"], ["state"],
                 {"condition": {0: "batch"}, "state": {1: "batch"}})


def step_parity_report(model: LanguageModel, session: object, ids: np.ndarray,
                       condition_session: object | None = None, tokens_per_stream: int = 512,
                       name: str = "ort") -> dict[str, Any]:
    """ONNX Runtime against PyTorch on the real text ``ids`` (1-D), the state carried by each side.

    For each (streams, window) of ``PARITY_SHAPES`` the text is cut into that many contiguous streams,
    and up to ``tokens_per_stream`` ids of each are read window by window, each side carrying its own
    state. Reports the largest and mean |logit difference|, the largest |state difference| and the share
    of equal next-token argmaxes, per shape and overall (``max_abs_diff``, ``agreement``: what
    ``check_parity`` gates). With ``condition_session`` (a conditioned model) every stream starts from
    a condition's state as each side computes it, so a wrong condition graph shows in the logits too.
    """
    reference = TorchStepModel(model)
    candidate = OrtStepModel(session, condition_session, name=name)
    conditions = model.conditions.num_embeddings if condition_session is not None else 0  # type: ignore[union-attr]
    by_shape: dict[str, dict[str, float]] = {}
    for streams, window in PARITY_SHAPES:
        length = min(len(ids) // streams, tokens_per_stream) // window * window
        if length == 0:
            raise ValueError(f"parity: {len(ids)} ids cannot fill {streams} streams of a {window}-id window")
        rows = ids[: streams * (len(ids) // streams)].reshape(streams, -1)[:, :length]  # (B, length)
        by_shape[f"batch_{streams}_time_{window}"] = _compare(reference, candidate, rows, window, conditions)
    report: dict[str, Any] = {
        "reference": reference.name,
        "candidate": candidate.name,
        "max_abs_diff": max(r["max_abs_diff"] for r in by_shape.values()),
        "max_state_diff": max(r["max_state_diff"] for r in by_shape.values()),
        "agreement": min(r["agreement"] for r in by_shape.values()),
        "by_shape": by_shape,
    }
    if conditions:
        every = np.arange(conditions, dtype=np.int64)  # (C,)
        difference = np.abs(candidate.condition_state(every) - reference.condition_state(every))
        report["condition_max_abs_diff"] = float(difference.max())
    return report


def _start_states(reference: StepModel, candidate: StepModel, streams: int,
                  conditions: int) -> tuple[np.ndarray, np.ndarray]:
    """Each side's start state for ``streams`` streams: zeros, or the ``conditions`` states in turn."""
    if not conditions:
        return reference.initial_state(streams), candidate.initial_state(streams)
    ids = np.arange(streams, dtype=np.int64) % conditions  # (B,)
    return reference.condition_state(ids), candidate.condition_state(ids)


def _compare(reference: StepModel, candidate: StepModel, rows: np.ndarray, window: int,
             conditions: int) -> dict[str, float]:
    """Read ``rows`` (B, length) window by window on both sides and compare logits and states."""
    want_state, got_state = _start_states(reference, candidate, len(rows), conditions)
    largest = total = state_largest = 0.0
    agree = count = 0
    for start in range(0, rows.shape[1], window):
        tokens = np.ascontiguousarray(rows[:, start:start + window])  # (B, window)
        want, want_state = reference.step(tokens, want_state)  # (B, window, V)
        got, got_state = candidate.step(tokens, got_state)
        difference = np.abs(got - want)
        largest = max(largest, float(difference.max()))
        total += float(difference.mean()) * tokens.size
        state_largest = max(state_largest, float(np.abs(got_state - want_state).max()))
        agree += int((got.argmax(-1) == want.argmax(-1)).sum())
        count += tokens.size
    return {"streams": len(rows), "window": window, "tokens": count, "max_abs_diff": largest,
            "mean_abs_diff": total / count, "max_state_diff": state_largest, "agreement": agree / count}
