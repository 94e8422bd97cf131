"""Training the generative structures: a character language model with truncated backpropagation
through time (``lm``) and text generated from a condition (``condlm``, 1 vs N).

Both go through the same loop as the classifiers (:func:`seqlab.training.loop.fit`) and monitor
the valid bits per character, lower being better. References: pytorch/examples
word_language_model (``main.py``: batchify, ``repackage_hidden``), Karpathy's char-rnn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from seqlab.checkpoint import ModelSpec
from seqlab.config import RunConfig, TaskConfig, TrainConfig
from seqlab.evaluation.text_scores import review_scores, stream_matrix, stream_scores
from seqlab.inference.torch_models import TorchStepModel
from seqlab.io import InputError
from seqlab.models.language_model import LanguageModel
from seqlab.text.dataset import IGNORE_INDEX
from seqlab.text.encoding import TextEncoder, load_encoder
from seqlab.training.distributed import SINGLE, Processes
from seqlab.training.loop import Batch, LossFn, fit
from seqlab.training.run import RunCheckpoints, build_and_log, finish_run
from seqlab.training.streams import (
    ConditionedSplit,
    load_conditioned_split,
    load_token_stream,
    review_batches,
    window_batches,
)
from seqlab.training.tracking import Tracker

MONITOR = "valid_bpc"


class CarriedStateLoss:
    """The truncated-BPTT loss of a :class:`~seqlab.training.streams.Window`: mean cross-entropy in nats.

    Each window starts from the state the previous one ended in, detached, so the gradient stops at
    the window's start; the first window of an epoch starts from the zero state.
    """

    def __init__(self) -> None:
        self.state: torch.Tensor | None = None

    def __call__(self, model: LanguageModel, batch: Batch) -> torch.Tensor:
        inputs, targets, first = batch
        if first or self.state is None:
            self.state = model.initial_state(inputs.shape[0])  # (L, B, S)
        logits, state = model(inputs, self.state)  # (B, T, V), (L, B, S)
        self.state = state.detach()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def review_loss(model: LanguageModel, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy per real target token of an (inputs, targets, conditions) review batch, each
    review read from its condition's learnt state."""
    inputs, targets, conditions = batch
    logits, _ = model(inputs, model.condition_state(conditions))  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)


SCORES = ("loss", "bpc", "accuracy")


def evaluate_stream(model: LanguageModel, ids: np.ndarray, batch: int = 32, window: int = 256) -> dict[str, float]:
    """``loss`` (nats per character), ``bpc`` and next-character ``accuracy`` of ``model`` over an id stream
    (a whole split), scored as the evaluate stage scores it: ``batch`` streams (fewer when the text is
    short) read ``window`` steps at a time with the state carried across windows."""
    scores = stream_scores(TorchStepModel(model), ids, max(1, min(batch, len(ids) // 2)), window)
    return {key: scores[key] for key in SCORES}


def evaluate_reviews(model: LanguageModel, split: ConditionedSplit, pad_id: int, batch: int = 64) -> dict[str, float]:
    """``loss``, ``bpc`` and next-character ``accuracy`` per real target token of conditioned reviews,
    each read from its condition's state."""
    scores = review_scores(TorchStepModel(model), split.sequences, split.conditions, pad_id, batch)
    return {key: scores[key] for key in SCORES}


def _valid(scores: dict[str, float]) -> dict[str, float]:
    return {f"valid_{key}": value for key, value in scores.items()}


@dataclass
class _Plan:
    """What ``fit`` needs for one generative structure, and the target characters of a train epoch."""

    batches: Callable[[int], list[Batch]]
    loss: LossFn
    validate: Callable[[LanguageModel], dict[str, float]]
    train_chars: int


def _stream_plan(tokenized_dir: Path, encoder: TextEncoder, config: TrainConfig, seed: int) -> _Plan:
    """lm: the train text as ``batch_size`` streams walked in ``bptt`` windows; the whole valid text scored."""
    path = tokenized_dir / "train.jsonl"
    try:
        matrix = stream_matrix(load_token_stream(path, encoder.vocab), config.batch_size)  # (B, N)
    except ValueError as err:
        raise InputError(f"{path}: {err}") from err
    valid = load_token_stream(tokenized_dir / "valid.jsonl", encoder.vocab)
    return _Plan(window_batches(matrix, config, seed, encoder.vocab), CarriedStateLoss(),
                 lambda model: _valid(evaluate_stream(model, valid)), matrix.shape[0] * (matrix.shape[1] - 1))


def _review_plan(tokenized_dir: Path, encoder: TextEncoder, conditions: list[str], config: TrainConfig,
                 seed: int) -> _Plan:
    """condlm: shuffled, length-bucketed batches of reviews, each from its condition's state."""
    train = load_conditioned_split(tokenized_dir / "train.jsonl", encoder, conditions)
    valid = load_conditioned_split(tokenized_dir / "valid.jsonl", encoder, conditions)
    pad_id = encoder.vocab.pad_id
    return _Plan(review_batches(train, config, seed, encoder.vocab), review_loss,
                 lambda model: _valid(evaluate_reviews(model, valid, pad_id)),
                 sum(len(sequence) - 1 for sequence in train.sequences))


def train_generative_run(run_name: str, run: RunConfig, task: TaskConfig, seed: int, tokenized_dir: Path,
                         vocab_dir: Path, out_dir: Path, tracker: Tracker,
                         processes: Processes = SINGLE) -> dict[str, Any]:
    """Train an ``lm`` or ``condlm`` ``run`` on its task's tokenized splits; checkpoints go to ``out_dir``.

    Writes ``last.pt`` every epoch and ``best.pt`` whenever the valid bits per character improve (and resumes an
    unfinished run from ``last.pt``).
    Returns the run's summary metrics and per-epoch curve, as :func:`seqlab.training.run.train_run` does.
    """
    torch.manual_seed(seed)
    encoder = load_encoder(vocab_dir, task.tokenizer, task.max_len, run.model.model_dump())
    vocab = encoder.vocab
    if task.structure == "lm":
        plan = _stream_plan(tokenized_dir, encoder, run.train, seed)
    else:
        plan = _review_plan(tokenized_dir, encoder, task.labels, run.train, seed)
    spec = ModelSpec(
        structure=task.structure, task=run.task, run=run_name, model=run.model.model_dump(),
        sizes={"vocab_size": len(vocab), "num_classes": len(task.labels), "pad_id": vocab.pad_id},
        labels=task.labels, tokenizer=task.tokenizer, max_len=task.max_len, train=run.train.model_dump(),
    )
    model, parameters = build_and_log(spec, run, seed, tracker)
    checkpoints = RunCheckpoints.of(spec, seed, tokenized_dir, vocab_dir, out_dir)
    result = fit(model, plan.batches, plan.loss, plan.validate, run.train, monitor=MONITOR,
                 on_epoch_end=checkpoints.save, tracker=tracker, higher_is_better=False,
                 resume=checkpoints.resume(model), processes=processes)
    return finish_run(run_name, result, parameters, "chars", plan.train_chars, MONITOR, out_dir, tracker, processes)
