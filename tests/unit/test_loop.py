"""The training loop's stopping rules and its guard against a diverging loss."""

import math

import pytest
import torch

from seqlab.config import TrainConfig
from seqlab.entry import StageError
from seqlab.training.loop import fit
from seqlab.training.tracking import NullTracker


def _setup(scores: list[float], loss_value: float | None = None):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    calls: list[tuple[int, bool]] = []

    def loss_fn(m, batch):
        loss = torch.nn.functional.mse_loss(m(batch[0]), batch[1])
        return loss * float("nan") if loss_value is not None else loss

    def validate(m):
        return {"valid_score": scores[len(calls)]}

    def on_epoch_end(epoch, record, improved, m, optimizer, state):
        calls.append((epoch, improved))

    return model, (lambda epoch: [(x, y)] * 4), loss_fn, validate, on_epoch_end, calls


def test_early_stopping_after_patience_epochs_without_improvement() -> None:
    model, batches, loss_fn, validate, on_end, calls = _setup([0.5, 0.7, 0.6, 0.65, 0.9, 0.95])
    result = fit(model, batches, loss_fn, validate, TrainConfig(max_epochs=6, patience=2), "valid_score", on_end,
                 NullTracker())
    assert result.stop_reason == "early_stopping"
    assert (result.best_epoch, result.best_score) == (2, 0.7)
    assert calls == [(1, True), (2, True), (3, False), (4, False)]
    assert result.steps == 16


def test_epoch_budget() -> None:
    model, batches, loss_fn, validate, on_end, _ = _setup([0.1, 0.2, 0.3])
    result = fit(model, batches, loss_fn, validate, TrainConfig(max_epochs=3, patience=5), "valid_score", on_end,
                 NullTracker())
    assert result.stop_reason == "max_epochs" and len(result.history) == 3


def test_time_budget_stops_training() -> None:
    # Guards: a run that ignores its wall-time budget (the default pipeline must fit in 45 minutes).
    model, batches, loss_fn, validate, on_end, _ = _setup([0.1] * 10)
    result = fit(model, batches, loss_fn, validate, TrainConfig(max_epochs=10, patience=10, time_budget_s=1e-6),
                 "valid_score", on_end, NullTracker())
    assert result.stop_reason == "time_budget" and len(result.history) == 1
    assert result.steps == 1  # the budget is checked after every step, too


def test_non_finite_loss_names_epoch_and_step() -> None:
    model, batches, loss_fn, validate, on_end, calls = _setup([0.1], loss_value=float("nan"))
    with pytest.raises(StageError, match=r"loss is nan at epoch 1, step 1"):
        fit(model, batches, loss_fn, validate, TrainConfig(), "valid_score", on_end, NullTracker())
    assert calls == []  # no checkpoint written from a diverged model


def test_cosine_schedule_anneals_within_epochs_to_its_floor() -> None:
    # Guards: the per-step cosine (language models) stepping per epoch, or ending anywhere but lr * lr_decay.
    model, batches, loss_fn, validate, on_end, _ = _setup([0.3, 0.2, 0.1])
    config = TrainConfig(max_epochs=3, patience=5, lr=0.01, lr_decay=0.1, schedule="cosine")
    result = fit(model, batches, loss_fn, validate, config, "valid_score", on_end, NullTracker(),
                 higher_is_better=False)
    lrs = [record["lr"] for record in result.history]  # after 4, 8 and 12 of the 12 steps
    assert lrs[0] < 0.01 and lrs[0] > lrs[1] > lrs[2]
    assert lrs[2] == pytest.approx(0.001)
    assert lrs[1] == pytest.approx(0.001 + 0.009 * 0.5 * (1 + math.cos(math.pi * 8 / 12)))
    assert result.best_epoch == 3  # lower is better here


class Interrupted(Exception):
    """Raised from the epoch callback: the run was stopped there."""


def test_a_resumed_run_ends_as_the_uninterrupted_one() -> None:
    # Guards: resuming with another schedule step, a lost best score, other random draws (dropout) or a
    # restarted time budget: any of them gives other final weights than the run that was never stopped.
    def run(stop_after: int | None, resume=None, start_weights=None):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
        if start_weights is not None:
            model.load_state_dict(start_weights)
        x, y = torch.randn(32, 3), torch.randn(32, 1)
        saved = {}

        def on_end(epoch, record, improved, m, optimizer, state):
            saved.update(weights={k: v.clone() for k, v in m.state_dict().items()},
                         state={**state, "optimizer": optimizer.state_dict()})
            if epoch == stop_after:
                raise Interrupted

        config = TrainConfig(max_epochs=5, patience=5, schedule="cosine", lr=0.05)
        loss = lambda m, batch: torch.nn.functional.mse_loss(m(batch[0]), batch[1])  # noqa: E731

        def validate(m):
            with torch.no_grad():
                return {"valid_score": -float(loss(m.eval(), (x, y)))}

        try:
            result = fit(model, lambda epoch: [(x, y)] * 3, loss, validate, config, "valid_score", on_end,
                         NullTracker(), resume=resume)
        except Interrupted:
            return None, saved
        return result, saved

    whole, uninterrupted = run(stop_after=None)
    _, at_two = run(stop_after=2)
    resumed, finished = run(stop_after=None, resume=at_two["state"], start_weights=at_two["weights"])
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4, 5] and resumed.steps == whole.steps == 15
    assert (resumed.best_epoch, resumed.best_score) == (whole.best_epoch, whole.best_score)
    assert [r["valid_score"] for r in resumed.history] == [r["valid_score"] for r in whole.history]
    for name, value in uninterrupted["weights"].items():
        assert torch.equal(finished["weights"][name], value), name
    assert finished["state"]["finished"] and not at_two["state"]["finished"]
