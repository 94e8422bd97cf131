"""Export a classifier or tagger to ONNX with dynamic batch and sequence length.

Uses the TorchScript-based exporter (``dynamo=False``): it emits native ONNX RNN/LSTM/GRU nodes
for every cell type, where the dynamo exporter can unroll a vanilla RNN with the time axis fixed
to the example length (see API-NOTES.md). The parity check runs every graph at other shapes.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import onnx
import torch
from torch import nn

from seqlab.io import atomic_path

INPUT_NAMES = ["tokens", "lengths"]
OUTPUT_NAMES = ["logits"]


def example_input(vocab_size: int, char_vocab_size: int = 0, max_word_chars: int = 0, batch: int = 2,
                  steps: int = 7) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded random ``tokens`` (B, T), or (B, T, 1 + max_word_chars) with character ids, and unequal ``lengths``."""
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, max(vocab_size, 5), (batch, steps), generator=generator)  # (B, T)
    if max_word_chars:
        chars = torch.randint(1, max(char_vocab_size, 2), (batch, steps, max_word_chars), generator=generator)
        tokens = torch.cat([tokens.unsqueeze(-1), chars], dim=-1)  # (B, T, 1+L)
    lengths = torch.linspace(steps, 1, batch).round().long()  # (B,) longest first, so padding is traced
    return tokens, lengths


def export_model(model: nn.Module, path: Path, opset: int, vocab_size: int, char_vocab_size: int = 0,
                 max_word_chars: int = 0) -> None:
    """Write ``model`` (tokens, lengths -> logits (B, C) or (B, T, K)) to ``path`` as checked ONNX.

    ``max_word_chars`` > 0: the model reads each word's characters too (tokens (B, T, 1 + chars)).
    """
    model = model.eval()
    tokens, lengths = example_input(vocab_size, char_vocab_size, max_word_chars)
    with torch.no_grad():
        per_position = model(tokens, lengths).dim() == 3  # a tagger: one row of logits per token
    token_axes = {0: "batch", 1: "time"}
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # The exporter warns about batch_first RNNs and shape-dependent Python values it handles.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (tokens, lengths),
            str(tmp),
            dynamo=False,
            opset_version=opset,
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
            dynamic_axes={"tokens": token_axes, "lengths": {0: "batch"},
                          "logits": token_axes if per_position else {0: "batch"}},
        )
        onnx.checker.check_model(str(tmp))


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the graph holds (shows what quantization changed)."""
    return dict(sorted(Counter(node.op_type for node in onnx.load(str(path)).graph.node).items()))
