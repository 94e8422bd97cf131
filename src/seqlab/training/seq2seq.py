"""Training a sequence-to-sequence model (N vs M): the encoder reads the source, the attention decoder
learns each reference target with teacher forcing, and greedy decoding of the valid split picks the
best epoch by word error rate (a source is right when its output equals any of its references).

Every (source, reference) pair is a training example, so a word with two pronunciations teaches both.
Goes through the same loop as every other structure (:func:`seqlab.training.loop.fit`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from seqlab.checkpoint import ModelSpec
from seqlab.config import DecodeConfig, RunConfig, TaskConfig, TrainConfig
from seqlab.evaluation.seq2seq_metrics import seq2seq_scores
from seqlab.inference.decode import Seq2SeqModel, decode_sources
from seqlab.inference.torch_models import TorchSeq2Seq
from seqlab.models.seq2seq import Seq2Seq
from seqlab.text.dataset import IGNORE_INDEX
from seqlab.text.parallel import ParallelSplit, TargetCodec, load_parallel_splits, teacher_batch
from seqlab.text.vocab import Vocab
from seqlab.training.distributed import SINGLE, Processes
from seqlab.training.loop import Batch, LossFn, fit
from seqlab.training.run import RunCheckpoints, build_and_log, finish_run
from seqlab.training.splits import bucketed_epochs
from seqlab.training.tracking import Tracker

MONITOR = "valid_wer"


def teacher_forced_loss(teacher_forcing: float) -> LossFn:
    """The loss of a (source, lengths, decoder input, decoder target) batch: mean cross-entropy per real
    target token, the decoder reading the true previous token with probability ``teacher_forcing``."""

    def loss(model: Seq2Seq, batch: Batch) -> torch.Tensor:
        source, lengths, decoder_in, decoder_out = batch
        logits = model(source, lengths, decoder_in, teacher_forcing)  # (B, T, V)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), decoder_out.reshape(-1),
                               ignore_index=IGNORE_INDEX)

    return loss


def pair_batches(split: ParallelSplit, codec: TargetCodec, config: TrainConfig, seed: int,
                 vocab: Vocab) -> Callable[[int], list[Batch]]:
    """Each epoch's seeded, length-bucketed batches of (source, reference) pairs; with ``token_dropout`` that
    share of source tokens becomes ``<unk>`` (targets are never dropped)."""
    pairs = split.pairs()

    def batch(indices: list[int], noise: np.random.Generator) -> Batch:
        source, lengths, decoder_in, decoder_out = teacher_batch(split, [pairs[i] for i in indices], codec,
                                                                 vocab.pad_id)
        if config.token_dropout > 0:
            source[(noise.random(source.shape) < config.token_dropout) & (source != vocab.pad_id)] = vocab.unk_id
        return tuple(torch.from_numpy(array) for array in (source, lengths, decoder_in, decoder_out))

    lengths = [len(split.sources[item]) + len(split.targets[item][reference]) for item, reference in pairs]
    return bucketed_epochs(lengths, config, seed, batch)


def decode_split(model: Seq2SeqModel, split: ParallelSplit, codec: TargetCodec, decode: DecodeConfig, beam: int,
                 pad_id: int) -> list[list[str]]:
    """The best output tokens of every source of ``split`` (greedy with ``beam`` 1), on any backend."""
    outputs = decode_sources(model, split.sources, codec.bos, codec.eos, beam, decode.length_penalty,
                             decode.max_steps, pad_id, codec.suppressed)
    return [codec.decode(ids) for ids in outputs]


def greedy_scores(model: Seq2Seq, split: ParallelSplit, codec: TargetCodec, decode: DecodeConfig,
                  pad_id: int) -> dict[str, float]:
    """Word and token error rates of greedy decoding of ``split`` in PyTorch."""
    predictions = decode_split(TorchSeq2Seq(model), split, codec, decode, 1, pad_id)
    scores = seq2seq_scores(predictions, split.references)
    return {"wer": scores["wer"], "per": scores["per"], "accuracy": 1 - scores["wer"]}


def train_seq2seq_run(run_name: str, run: RunConfig, task: TaskConfig, seed: int, tokenized_dir: Path,
                      vocab_dir: Path, out_dir: Path, tracker: Tracker, decode: DecodeConfig,
                      processes: Processes = SINGLE) -> dict[str, Any]:
    """Train a ``seq2seq`` ``run`` on its task's tokenized splits; checkpoints go to ``out_dir``.

    Writes ``last.pt`` every epoch and ``best.pt`` whenever the valid word error rate (greedy) improves (and
    resumes an unfinished run from ``last.pt``).
    Returns the run's summary metrics and per-epoch curve, as :func:`seqlab.training.run.train_run` does.
    """
    torch.manual_seed(seed)
    encoder, codec, (train, valid) = load_parallel_splits(tokenized_dir, vocab_dir, task.tokenizer, task.max_len,
                                                          run.model.model_dump(), "train", "valid")
    pad_id = encoder.vocab.pad_id
    spec = ModelSpec(
        structure=task.structure, task=run.task, run=run_name, model=run.model.model_dump(),
        sizes={"vocab_size": len(encoder.vocab), "target_vocab_size": len(codec.vocab), "pad_id": pad_id},
        labels=task.labels, tokenizer=task.tokenizer, max_len=task.max_len, train=run.train.model_dump(),
    )
    model, parameters = build_and_log(spec, run, seed, tracker)
    checkpoints = RunCheckpoints.of(spec, seed, tokenized_dir, vocab_dir, out_dir)
    result = fit(model, pair_batches(train, codec, run.train, seed, encoder.vocab),
                 teacher_forced_loss(run.train.teacher_forcing),
                 lambda m: {f"valid_{k}": v for k, v in greedy_scores(m, valid, codec, decode, pad_id).items()},
                 run.train, monitor=MONITOR, on_epoch_end=checkpoints.save, tracker=tracker,
                 higher_is_better=False, resume=checkpoints.resume(model), processes=processes)
    target_tokens = sum(len(train.targets[item][reference]) + 1 for item, reference in train.pairs())
    return finish_run(run_name, result, parameters, "target_tokens", target_tokens, MONITOR, out_dir, tracker,
                      processes)
