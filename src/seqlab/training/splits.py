"""N vs 1 glue: tokenized splits -> tensors, the classification loss and validation metrics."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from seqlab.checkpoint import ModelSpec
from seqlab.config import TrainConfig
from seqlab.evaluation.metrics import classification_metrics
from seqlab.inference.backends import TorchBackend, batched_logits
from seqlab.io import InputError, read_jsonl
from seqlab.text.encoding import TextEncoder, bucket_batches, pad_batch
from seqlab.text.vocab import Vocab
from seqlab.training.loop import Batch


@dataclass
class EncodedSplit:
    """A split as model ids and label ids."""

    sequences: list[list[int]]
    labels: np.ndarray


def load_encoded_split(path: Path, encoder: TextEncoder, labels: list[str]) -> EncodedSplit:
    """Read a tokenized JSONL split (``tokens``, ``label`` per line) and encode it."""
    label_ids = {label: index for index, label in enumerate(labels)}
    sequences, targets = [], []
    for number, row in read_jsonl(path):
        if row.get("label") not in label_ids or not row.get("tokens"):
            raise InputError(f"{path}:{number}: needs non-empty 'tokens' and a label in {labels}")
        sequences.append(encoder.encode_tokens(row["tokens"]))
        targets.append(label_ids[row["label"]])
    return EncodedSplit(sequences, np.array(targets, dtype=np.int64))


def epoch_batches(split: EncodedSplit, config: TrainConfig, seed: int, pad_id: int,
                  unk_id: int) -> Callable[[int], list[Batch]]:
    """A function giving each epoch its own seeded, length-bucketed batches of (tokens, lengths, labels).

    With ``token_dropout`` > 0, that share of real tokens is replaced by ``<unk>`` in each epoch's
    batches: a regulariser that keeps the model from leaning on any single token.
    """
    lengths = [len(sequence) for sequence in split.sequences]

    def batches(epoch: int) -> list[Batch]:
        rng = random.Random(seed * 1000 + epoch)
        noise = np.random.default_rng(seed * 1000 + epoch)
        out = []
        for indices in bucket_batches(lengths, config.batch_size, config.bucket_pool, rng):
            tokens, lens = pad_batch([split.sequences[i] for i in indices], pad_id)
            if config.token_dropout > 0:
                dropped = (noise.random(tokens.shape) < config.token_dropout) & (tokens != pad_id)
                tokens[dropped] = unk_id
            out.append((torch.from_numpy(tokens), torch.from_numpy(lens), torch.from_numpy(split.labels[indices])))
        return out

    return batches


def classification_loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy of a (tokens, lengths, labels) batch."""
    tokens, lengths, labels = batch
    return F.cross_entropy(model(tokens, lengths), labels)


def evaluate_split(
    model: nn.Module, split: EncodedSplit, pad_id: int, num_classes: int, prefix: str
) -> dict[str, float]:
    """Loss, accuracy and macro-F1 of ``model`` on ``split``, keys prefixed (``valid_accuracy``)."""
    logits = batched_logits(TorchBackend(model), split.sequences, pad_id)
    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(split.labels)).item()
    metrics = classification_metrics(split.labels, logits.argmax(axis=1), num_classes)
    return {f"{prefix}_loss": loss, **{f"{prefix}_{k}": v for k, v in metrics.items()}}


def load_run_split(spec: ModelSpec, tokenized_dir: Path, vocab_dir: Path, split: str) -> tuple[EncodedSplit, Vocab]:
    """A split of the run's task encoded the way the run's model was trained, and the vocabulary."""
    vocab = Vocab.load(vocab_dir / "tokens.json")
    encoder = TextEncoder(spec.tokenizer, vocab, spec.max_len)
    return load_encoded_split(tokenized_dir / f"{split}.jsonl", encoder, spec.labels), vocab
