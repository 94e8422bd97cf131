"""The adding problem and the equal-budget training of one recurrent cell on it.

The task (Hochreiter & Schmidhuber 1997, in the form of Le, Jaitly & Hinton 2015): each of T steps
carries a value ~ U(0, 1) and a marker; exactly two steps are marked, one in each half of the
sequence, and the target, read from the last state only, is the sum of the two marked values.
Always predicting the mean sum, 1.0, scores the variance of that sum, MSE 2/12 ~ 0.167; doing
better means carrying the first marked value across at least T/2 steps.

Every cell gets the same budget (study.train): hidden size, Adam learning rate, batch size, number
of steps and seed; a fresh batch of random sequences every step; a fixed seeded test set per length.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

import torch
from torch import nn

from seqlab.checkpoint import read_payload
from seqlab.config import StudyConfig
from seqlab.io import atomic_path, csv_text, write_json, write_text
from seqlab.models.encoder import make_recurrent_layer
from seqlab.paths import Layout
from seqlab.training.tracking import MlflowTracker, Tracker, provenance_tags

logger = logging.getLogger(__name__)

TRIVIAL_MSE = 2 / 12  # MSE of always predicting 1.0: the variance of the sum of two U(0, 1) values
INPUT_SIZE = 2  # (value, marker) per step
EXPERIMENT = "seqlab-study"
FORMAT = "seqlab-study-model/1"


def configure_torch(threads: int) -> None:
    """Torch settings of every study stage: ``threads`` CPU threads, subnormal floats flushed to zero.

    A vanishing gradient turns subnormal (below 1.2e-38) after enough steps, and subnormal arithmetic
    is slow on x86 CPUs: unflushed, a vanilla-RNN training step at T=200 took 142 ms instead of 25 ms.
    """
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def adding_batch(count: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` adding-problem sequences of ``length`` steps: inputs (count, length, 2), targets (count,)."""
    values = torch.rand(count, length, generator=generator)  # (N, T)
    half = length // 2
    first = torch.randint(0, half, (count,), generator=generator)  # (N,) one marker in [0, T/2)
    second = torch.randint(half, length, (count,), generator=generator)  # (N,) one in [T/2, T)
    markers = torch.zeros(count, length)  # (N, T)
    rows = torch.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    return torch.stack([values, markers], dim=-1), (values * markers).sum(dim=1)  # (N, T, 2), (N,)


class AddingModel(nn.Module):
    """One fused recurrent layer read out by a linear head at the last step."""

    def __init__(self, cell: str, hidden: int, forget_bias: float | None = None) -> None:
        super().__init__()
        self.cell = cell
        self.hidden = hidden
        self.recurrent = make_recurrent_layer(cell, INPUT_SIZE, hidden)
        self.head = nn.Linear(hidden, 1)
        if cell == "lstm" and forget_bias is not None:
            with torch.no_grad():  # torch's gate order is i, f, g, o; the input and hidden biases add up
                self.recurrent.bias_ih_l0[hidden : 2 * hidden].fill_(forget_bias)
                self.recurrent.bias_hh_l0[hidden : 2 * hidden].zero_()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predicted sums (B,) for ``inputs`` (B, T, 2)."""
        outputs, _ = self.recurrent(inputs)  # (B, T, H)
        return self.head(outputs[:, -1]).squeeze(-1)  # (B,)


@dataclass
class TrainingResult:
    """A trained study model, its training curve and its summary metrics."""

    model: AddingModel
    curve: list[dict[str, float]]
    summary: dict[str, Any]


def run_name(cell: str, length: int, clipped: bool = True) -> str:
    """Name of a study model, its files and its MLflow run: ``lstm-T100`` or ``lstm-T100-noclip``."""
    return f"{cell}-T{length}" + ("" if clipped else "-noclip")


def test_set(study: StudyConfig, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed test sequences of ``length``: the same for every cell (seeded by study.seed)."""
    return adding_batch(study.test_size, length, torch.Generator().manual_seed(study.seed))


def initial_model(cell: str, study: StudyConfig) -> AddingModel:
    """The untrained model of ``cell``; seeded, so a clipped and an unclipped run start from the same weights."""
    torch.manual_seed(study.seed)
    return AddingModel(cell, study.train.hidden, study.train.forget_bias)


@torch.no_grad()
def mean_squared_error(model: AddingModel, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    """MSE of ``model`` on ``inputs`` (N, T, 2) against ``targets`` (N,)."""
    model.eval()
    return float(((model(inputs) - targets) ** 2).mean())


def train_adding(cell: str, length: int, study: StudyConfig, clip: bool, tracker: Tracker) -> TrainingResult:
    """Train ``cell`` on the adding problem of ``length`` with the study's budget, gradients clipped or not.

    Training batches come from a generator seeded by study.seed + 1 (the test set uses study.seed).
    Every ``eval_every`` steps the curve gets the mean training MSE since its last point, the test
    MSE and the mean and largest total gradient norm before clipping. No choice is made on the test
    set: the model after the last step is the result. A non-finite loss or gradient ends training
    (``diverged_at_step``) before the step that would spoil the weights.
    """
    config = study.train
    model = initial_model(cell, study)
    test = test_set(study, length)
    name = run_name(cell, length, clip)
    stream = torch.Generator().manual_seed(study.seed + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    clip_norm = config.clip_norm if clip else None
    parameters = sum(p.numel() for p in model.parameters())
    tracker.log_params({"cell": cell, "length": length, "seed": study.seed, "test_size": study.test_size,
                        "train": {**config.model_dump(), "clip_norm": clip_norm}, "parameters": parameters})
    tracker.set_tags({"study": "adding", "cell": cell, "length": str(length), "clip": str(clip_norm or "none")})
    curve: list[dict[str, float]] = []
    losses: list[float] = []
    norms: list[float] = []

    def record(step: int) -> None:
        point = {"step": step, "train_mse": fmean(losses), "test_mse": mean_squared_error(model, *test),
                 "grad_norm_mean": fmean(norms), "grad_norm_max": max(norms)}
        curve.append(point)
        tracker.log_metrics({key: value for key, value in point.items() if key != "step"}, step=step)
        losses.clear()
        norms.clear()

    diverged_at: int | None = None
    steps_done = 0
    started = time.perf_counter()
    for step in range(1, config.steps + 1):
        model.train()
        inputs, targets = adding_batch(config.batch_size, length, stream)
        loss = ((model(inputs) - targets) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = float(nn.utils.clip_grad_norm_(model.parameters(), clip_norm or math.inf))
        if not (math.isfinite(loss.item()) and math.isfinite(norm)):
            diverged_at = step
            logger.warning("%s: loss %s, gradient norm %s at step %d; training stops", name, loss.item(), norm, step)
            break
        optimizer.step()
        steps_done = step
        losses.append(loss.item())
        norms.append(norm)
        if step % config.eval_every == 0 or step == config.steps:
            record(step)
    if losses:  # the partial interval before a divergence
        record(steps_done)
    seconds = time.perf_counter() - started
    summary = {
        "cell": cell, "length": length, "clip_norm": clip_norm, "steps": steps_done,
        "diverged_at_step": diverged_at, "test_mse": mean_squared_error(model, *test),
        "trivial_mse": TRIVIAL_MSE, "parameters": parameters, "train_seconds": round(seconds, 2),
        "ms_per_step": round(1e3 * seconds / max(steps_done, 1), 3),
    }
    tracker.log_metrics({"final_test_mse": summary["test_mse"], "train_seconds": seconds})
    logger.info("%s: test MSE %.5f after %d steps in %.0fs (trivial %.3f)", name, summary["test_mse"], steps_done,
                seconds, TRIVIAL_MSE)
    return TrainingResult(model, curve, summary)


def save_study_model(path: Path, model: AddingModel, summary: dict[str, Any]) -> None:
    """Write the weights with the cell, hidden size and training summary, atomically."""
    payload = {"format": FORMAT, "cell": model.cell, "hidden": model.hidden, "summary": summary,
               "state_dict": model.state_dict()}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_study_model(path: Path, made_by: str) -> AddingModel:
    """The model saved at ``path``; a missing file names the stage ``made_by`` that writes it."""
    payload = read_payload(path, FORMAT, f"file not found; it is made by stage {made_by} (run `dvc repro {made_by}`)",
                           weights_only=True)
    model = AddingModel(payload["cell"], payload["hidden"])
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def train_and_record(layout: Layout, study: StudyConfig, cell: str, length: int, clip: bool) -> AddingModel:
    """Train one study model as an MLflow run of ``seqlab-study``; write its checkpoint, metrics and curve."""
    name = run_name(cell, length, clip)
    tracker = MlflowTracker.in_workspace(layout.root, EXPERIMENT, name,
                            tags=provenance_tags(layout.root))
    result = train_adding(cell, length, study, clip, tracker)
    save_study_model(layout.study_model(name), result.model, result.summary)
    write_json(layout.study_metrics(name), result.summary)
    write_text(layout.study_curve(name), csv_text(result.curve))
    tracker.log_artifact(layout.study_curve(name), "curves")
    tracker.finish()
    return result.model
