"""Training glue for every structure: epoch batches, the loss, validation scores, a run's encoded split."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqlab.checkpoint import ModelSpec
from seqlab.config import TrainConfig
from seqlab.evaluation.quality import split_quality
from seqlab.inference.backends import batched_outputs
from seqlab.inference.torch_models import TorchBackend
from seqlab.models.tagger import SequenceTagger
from seqlab.text.dataset import IGNORE_INDEX, EncodedSplit, load_encoded_split
from seqlab.text.encoding import TextEncoder, bucket_batches, load_encoder, pad_batch
from seqlab.training.loop import Batch


def bucketed_epochs(lengths: list[int], config: TrainConfig, seed: int,
                    make_batch: Callable[[list[int], np.random.Generator], Batch]) -> Callable[[int], list[Batch]]:
    """A function giving each epoch its own seeded, length-bucketed batches: ``make_batch(indices, noise)``
    builds one batch from the examples at ``indices``, drawing any randomness (token dropout) from ``noise``."""

    def batches(epoch: int) -> list[Batch]:
        rng = random.Random(seed * 1000 + epoch)
        noise = np.random.default_rng(seed * 1000 + epoch)
        return [make_batch(indices, noise) for indices in bucket_batches(lengths, config.batch_size,
                                                                         config.bucket_pool, rng)]

    return batches


def epoch_batches(split: EncodedSplit, config: TrainConfig, seed: int, pad_id: int,
                  unk_id: int) -> Callable[[int], list[Batch]]:
    """A function giving each epoch its own seeded, length-bucketed batches of (tokens, lengths, targets).

    With ``token_dropout`` > 0, that share of real tokens is replaced by ``<unk>`` in each epoch's
    batches: a regulariser that keeps the model from leaning on any single token (for a model that
    reads characters too, only the word id is dropped, so it learns to tag from the characters).
    """

    def batch(indices: list[int], noise: np.random.Generator) -> Batch:
        tokens, lens = pad_batch([split.sequences[i] for i in indices], pad_id)
        if config.token_dropout > 0:
            words = tokens if tokens.ndim == 2 else tokens[..., 0]  # (B, T) view
            dropped = (noise.random(words.shape) < config.token_dropout) & (words != pad_id)
            words[dropped] = unk_id
        return torch.from_numpy(tokens), torch.from_numpy(lens), torch.from_numpy(split.targets(indices))

    return bucketed_epochs([len(sequence) for sequence in split.sequences], config, seed, batch)


def sequence_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy of a (tokens, lengths, targets) batch: per sequence, or per real token (for a tagger
    with a CRF layer, the negative log-likelihood of each gold tag sequence, per real token)."""
    tokens, lengths, targets = batch
    logits = model(tokens, lengths)  # (B, C) or (B, T, K)
    if isinstance(model, SequenceTagger) and model.crf is not None:  # per real token, like the cross-entropy
        return model.crf.negative_log_likelihood(logits, targets, lengths) / lengths.sum()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX)


def evaluate_split(model: nn.Module, split: EncodedSplit, pad_id: int, labels: list[str], prefix: str,
                   tag_scheme: str = "tags") -> dict[str, float]:
    """Loss and scores (accuracy, macro-F1, ...) of ``model`` on ``split``, keys prefixed (``valid_accuracy``)."""
    backend = TorchBackend(model)
    outputs = batched_outputs(backend, split.sequences, pad_id)
    scores = split_quality(outputs, split, labels, tag_scheme, transitions=backend.transitions)
    return {f"{prefix}_{key}": value for key, value in scores.items() if isinstance(value, int | float)}


def load_run_split(spec: ModelSpec, tokenized_dir: Path, vocab_dir: Path,
                   split: str) -> tuple[EncodedSplit, TextEncoder]:
    """A split of the run's task encoded the way the run's model was trained, and the encoder."""
    encoder = load_encoder(vocab_dir, spec.tokenizer, spec.max_len, spec.model)
    return load_encoded_split(tokenized_dir / f"{split}.jsonl", encoder, spec.labels, spec.structure), encoder
