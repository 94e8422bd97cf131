"""The training loop: knows nothing of the model or the task, only batches, a loss and a score.

Adam with gradient clipping, early stopping on a validation score, an epoch and a wall-time
budget, a callback after each epoch (checkpoints) and a progress bar.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

from seqlab.config import TrainConfig
from seqlab.entry import StageError
from seqlab.training.tracking import Tracker

logger = logging.getLogger(__name__)

Batch = Sequence[torch.Tensor]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
EpochCallback = Callable[[int, dict[str, float], bool, nn.Module, torch.optim.Optimizer], None]


@dataclass
class FitResult:
    """How training went: per-epoch records, the best epoch and why it stopped."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    stop_reason: str = "max_epochs"
    seconds: float = 0.0
    steps: int = 0


def _progress() -> Progress:
    """A per-epoch progress bar; shown on a terminal only, so logs stay clean under DVC and CI."""
    progress = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        transient=True,
    )
    progress.disable = not progress.console.is_terminal
    return progress


def fit(
    model: nn.Module,
    epoch_batches: Callable[[int], list[Batch]],
    loss_fn: LossFn,
    validate: Callable[[nn.Module], dict[str, float]],
    config: TrainConfig,
    monitor: str,
    on_epoch_end: EpochCallback,
    tracker: Tracker,
    higher_is_better: bool = True,
) -> FitResult:
    """Train until ``max_epochs``, ``patience`` epochs without a better ``monitor`` score, or the time budget.

    With ``schedule: plateau`` the learning rate is multiplied by ``lr_decay`` after each epoch that does
    not improve ``monitor``; with ``schedule: cosine`` it falls along a half cosine from ``lr`` to
    ``lr * lr_decay`` over all the steps of ``max_epochs`` epochs (a run of few long epochs, like a
    language model's, gains more from annealing within them than from a step between them).

    ``validate`` returns metrics that include ``monitor`` (higher is better, or lower with
    ``higher_is_better=False``, e.g. bits per character). A non-finite loss stops training with a
    StageError naming the epoch and step; checkpoints already written stay.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max" if higher_is_better else "min", factor=config.lr_decay, patience=0)
    per_step = None
    if config.schedule == "cosine":
        total = config.max_epochs * len(epoch_batches(1))
        per_step = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total,
                                                              eta_min=config.lr * config.lr_decay)
    result = FitResult(best_score=-math.inf if higher_is_better else math.inf)
    started = time.perf_counter()
    last_epoch_seconds = 0.0
    for epoch in range(1, config.max_epochs + 1):
        elapsed = time.perf_counter() - started
        # The first epoch always runs; later ones only if another epoch like the last one still fits.
        if epoch > 1 and elapsed + last_epoch_seconds > config.time_budget_s:
            result.stop_reason = "time_budget"
            break
        epoch_started = time.perf_counter()
        train_loss = _train_epoch(model, epoch_batches(epoch), loss_fn, optimizer, per_step, config, epoch, result,
                                  started)
        record: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss,
                                  **validate(model)}
        last_epoch_seconds = time.perf_counter() - epoch_started
        record["epoch_seconds"] = last_epoch_seconds
        improved = record[monitor] > result.best_score if higher_is_better else record[monitor] < result.best_score
        if improved:
            result.best_epoch, result.best_score = epoch, record[monitor]
        result.history.append(record)
        if per_step is None:
            plateau.step(record[monitor])
        tracker.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)
        on_epoch_end(epoch, record, improved, model, optimizer)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch"))
        if epoch - result.best_epoch >= config.patience:
            result.stop_reason = "early_stopping"
            break
        if time.perf_counter() - started > config.time_budget_s:
            result.stop_reason = "time_budget"
            break
    result.seconds = time.perf_counter() - started
    return result


def _train_epoch(model: nn.Module, batches: list[Batch], loss_fn: LossFn, optimizer: torch.optim.Optimizer,
                 per_step: torch.optim.lr_scheduler.LRScheduler | None,
                 config: TrainConfig, epoch: int, result: FitResult, started: float) -> float:
    """One pass over ``batches``; returns the mean loss. Stops early when the time budget runs out."""
    model.train()
    total = 0.0
    done = 0
    with _progress() as progress:
        bar = progress.add_task("train", total=len(batches), epoch=epoch, loss=0.0)
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            if not torch.isfinite(loss):
                raise StageError(
                    f"training diverged: loss is {loss.item()} at epoch {epoch}, step {result.steps + 1}; "
                    "the last good checkpoint is kept (try a lower lr or clip_norm)"
                )
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            if per_step is not None:
                per_step.step()
            result.steps += 1
            done += 1
            total += loss.item()
            progress.update(bar, advance=1, loss=total / done)
            if time.perf_counter() - started > config.time_budget_s:
                logger.info("time budget of %.0fs reached during epoch %d", config.time_budget_s, epoch)
                break
    return total / max(done, 1)
