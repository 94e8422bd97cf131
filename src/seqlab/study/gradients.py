"""Gradient flow through time: ||dLoss/dh_t|| against the distance from the loss.

The fused kernels keep their per-step states inside one autograd node, so the measurement runs the
trained weights through the scratch equations of :mod:`seqlab.models.cells` (same parameter names),
where every state h_t is its own node and ``torch.autograd.grad(loss, [h_0, ..., h_{T-1}])`` gives
dLoss/dh_t through the recurrence. It runs in float64, so that a vanishing gradient is measured
rather than rounded to zero. For an LSTM the state is (h, c); the norm is that of dLoss/dh_t.

Three conditions per cell, all at one sequence length: the seeded initial weights, the model
trained with gradient clipping (the adding-problem model) and its twin trained without.
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from seqlab.config import StudyConfig
from seqlab.io import csv_text, write_json, write_text
from seqlab.models.cells import ScratchRecurrent
from seqlab.paths import Layout
from seqlab.study.adding import (
    INPUT_SIZE,
    AddingModel,
    initial_model,
    load_study_model,
    run_name,
    test_set,
    train_and_record,
)

CONDITIONS: dict[str, str] = {
    "init": "at initialisation",
    "clipped": "trained, gradients clipped",
    "unclipped": "trained, no clipping",
}


def gradient_norms(model: AddingModel, inputs: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """Mean over sequences of ||dL_i/dh_t||, indexed by the distance T-1-t from the loss (0: the last step).

    L_i is sequence i's own squared error at the last step, so no gradient is scaled by the batch size.
    """
    scratch = ScratchRecurrent(model.cell, INPUT_SIZE, model.hidden).double()
    scratch.load_state_dict(model.recurrent.state_dict())
    head = copy.deepcopy(model.head).double()
    x = inputs.double()  # (B, T, 2)
    zeros = x.new_zeros(x.shape[0], model.hidden)  # (B, H)
    states = scratch.unroll(x, "_l0", (zeros, zeros) if model.cell == "lstm" else zeros)
    hidden = [state[0] if isinstance(state, tuple) else state for state in states]  # T x (B, H)
    errors = (head(hidden[-1]).squeeze(-1) - targets.double()) ** 2  # (B,)
    grads = torch.autograd.grad(errors.sum(), hidden)  # T x (B, H)
    norms = torch.stack([grad.norm(dim=-1).mean() for grad in grads])  # (T,) by time step
    return norms.flip(0).tolist()  # by distance from the loss


def gradient_flow(models: dict[str, AddingModel], study: StudyConfig) -> dict[str, list[float]]:
    """Norms by distance for each condition's model, on the first study.gradients.sequences test sequences."""
    inputs, targets = test_set(study, study.gradients.length)
    count = study.gradients.sequences
    return {condition: gradient_norms(model, inputs[:count], targets[:count]) for condition, model in models.items()}


def flow_summary(cell: str, study: StudyConfig, flow: dict[str, list[float]]) -> dict[str, Any]:
    """Scalar figures per condition: the norm at the loss, half-way and at the far end, and far / near."""
    far = study.gradients.length - 1
    conditions = {
        condition: {"norm_at_loss": norms[0], "norm_half_way": norms[far // 2], "norm_far": norms[far],
                    "far_over_near": norms[far] / norms[0] if norms[0] else None}
        for condition, norms in flow.items()
    }
    return {"cell": cell, "length": study.gradients.length, "far_distance": far,
            "sequences": study.gradients.sequences, "conditions": conditions}


def flow_rows(flow: dict[str, list[float]]) -> list[dict[str, float]]:
    """One row per distance with the norm of every condition (for the CSV)."""
    distances = len(next(iter(flow.values())))
    return [{"distance": distance, **{condition: norms[distance] for condition, norms in flow.items()}}
            for distance in range(distances)]


def write_gradient_flow(layout: Layout, study: StudyConfig, cell: str) -> dict[str, Any]:
    """Train ``cell``'s unclipped twin, measure all three conditions, write the summary JSON and the norms CSV."""
    length = study.gradients.length
    clipped = load_study_model(layout.study_model(run_name(cell, length)), f"study_adding@{cell}-{length}")
    models = {"init": initial_model(cell, study), "clipped": clipped,
              "unclipped": train_and_record(layout, study, cell, length, clip=False)}
    flow = gradient_flow(models, study)
    summary = flow_summary(cell, study, flow)
    write_json(layout.study_gradients(cell), summary)
    write_text(layout.study_gradient_norms(cell), csv_text(flow_rows(flow)))
    return summary
