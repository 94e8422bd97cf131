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
from seqlab.training.distributed import SINGLE, Processes, training_step
from seqlab.training.tracking import Tracker

logger = logging.getLogger(__name__)

Batch = Sequence[torch.Tensor]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]
EpochCallback = Callable[[int, dict[str, float], bool, nn.Module, torch.optim.Optimizer, dict[str, Any]], None]
"""Called after each epoch with (epoch, record, improved, model, optimizer, loop state): the loop state is
what :func:`fit` needs (besides the model and optimizer) to resume after that epoch."""


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
    resume: dict[str, Any] | None = None,
    processes: Processes = SINGLE,
) -> FitResult:
    """Train until ``max_epochs``, ``patience`` epochs without a better ``monitor`` score, or the time budget.

    With ``schedule: plateau`` the learning rate is multiplied by ``lr_decay`` after each epoch that does
    not improve ``monitor``; with ``schedule: cosine`` it falls along a half cosine from ``lr`` to
    ``lr * lr_decay`` over all the steps of ``max_epochs`` epochs (a run of few long epochs, like a
    language model's, gains more from annealing within them than from a step between them).

    ``validate`` returns metrics that include ``monitor`` (higher is better, or lower with
    ``higher_is_better=False``, e.g. bits per character). A non-finite loss stops training with a
    StageError naming the epoch and step; checkpoints already written stay.

    ``resume`` (the loop state an ``on_epoch_end`` call received, with ``optimizer``: its state dict; the
    model already holds that epoch's weights) continues after that epoch: the same schedule, history, best
    score, elapsed time and random state, so the run ends as an uninterrupted one would.

    The model moves to ``processes.device`` (the CPU, or a GPU) and every batch with it. Under several
    ``processes`` (torchrun), each takes its share of every batch through DDP and only rank 0 calls
    ``on_epoch_end``; stopping (patience, budget, a non-finite loss) is decided for all together.
    """
    model.to(processes.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max" if higher_is_better else "min", factor=config.lr_decay, patience=0)
    per_step = None
    if config.schedule == "cosine":
        total = config.max_epochs * len(epoch_batches(1))
        per_step = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total,
                                                              eta_min=config.lr * config.lr_decay)
    result = FitResult(best_score=-math.inf if higher_is_better else math.inf)
    first_epoch, elapsed_before = 1, 0.0
    if resume is not None:
        optimizer.load_state_dict(resume["optimizer"])
        plateau.load_state_dict(resume["plateau"])
        if per_step is not None:
            per_step.load_state_dict(resume["per_step"])
        result.history, result.steps = list(resume["history"]), resume["steps"]
        result.best_epoch, result.best_score = resume["best_epoch"], resume["best_score"]
        torch.set_rng_state(resume["rng"])
        first_epoch, elapsed_before = resume["epoch"] + 1, resume["seconds"]
        for record in result.history:  # the resumed MLflow run gets the whole curve
            tracker.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=int(record["epoch"]))
    started = time.perf_counter() - elapsed_before
    step = training_step(model, loss_fn, processes)
    for epoch in range(first_epoch, config.max_epochs + 1):
        epoch_started = time.perf_counter()
        train_loss = _train_epoch(model, step, epoch_batches(epoch), optimizer, per_step, config, epoch, result,
                                  started, processes)
        record: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], "train_loss": train_loss,
                                  **validate(model)}
        record["epoch_seconds"] = time.perf_counter() - epoch_started
        improved = record[monitor] > result.best_score if higher_is_better else record[monitor] < result.best_score
        if improved:
            result.best_epoch, result.best_score = epoch, record[monitor]
        result.history.append(record)
        if per_step is None:
            plateau.step(record[monitor])
        tracker.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)
        logger.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4f}" for k, v in record.items() if k != "epoch"))
        stop = processes.from_main(_stop_reason(epoch, result, config, time.perf_counter() - started,
                                                record["epoch_seconds"]))
        state = {"epoch": epoch, "history": result.history, "steps": result.steps, "best_epoch": result.best_epoch,
                 "best_score": result.best_score, "seconds": time.perf_counter() - started,
                 "plateau": plateau.state_dict(), "per_step": per_step.state_dict() if per_step else None,
                 "rng": torch.get_rng_state(), "finished": stop is not None}
        if processes.main:
            on_epoch_end(epoch, record, improved, model, optimizer, state)
        if stop is not None:
            result.stop_reason = stop
            break
    result.seconds = time.perf_counter() - started
    return result


def _stop_reason(epoch: int, result: FitResult, config: TrainConfig, elapsed: float,
                 epoch_seconds: float) -> str | None:
    """Why training stops after ``epoch``, or None: no better score for ``patience`` epochs, the time budget
    spent (or too little of it left for another epoch like this one), or the last epoch done."""
    if epoch - result.best_epoch >= config.patience:
        return "early_stopping"
    if elapsed > config.time_budget_s or (epoch < config.max_epochs and elapsed + epoch_seconds > config.time_budget_s):
        return "time_budget"
    return "max_epochs" if epoch >= config.max_epochs else None


def _train_epoch(model: nn.Module, step: nn.Module, batches: list[Batch], optimizer: torch.optim.Optimizer,
                 per_step: torch.optim.lr_scheduler.LRScheduler | None, config: TrainConfig, epoch: int,
                 result: FitResult, started: float, processes: Processes) -> float:
    """One pass over ``batches`` (``step`` gives a batch's loss); returns the mean loss. Stops early when the
    time budget runs out."""
    model.train()
    total = 0.0
    done = 0
    with _progress() as progress:
        bar = progress.add_task("train", total=len(batches), epoch=epoch, loss=0.0)
        for batch in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = step(processes.shard(batch))
            mean = processes.mean(loss)  # every process sees a non-finite loss of any
            if not torch.isfinite(mean):
                raise StageError(
                    f"training diverged: loss is {mean.item()} at epoch {epoch}, step {result.steps + 1}; "
                    "the last good checkpoint is kept (try a lower lr or clip_norm)"
                )
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            if per_step is not None:
                per_step.step()
            result.steps += 1
            done += 1
            total += mean.item()
            progress.update(bar, advance=1, loss=total / done)
            if processes.any(time.perf_counter() - started > config.time_budget_s):
                logger.info("time budget of %.0fs reached during epoch %d", config.time_budget_s, epoch)
                break
    return total / max(done, 1)
