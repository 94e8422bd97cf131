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
from seqlab.text.encoding import TextEncoder

INPUT_NAMES = ["tokens", "lengths"]
OUTPUT_NAMES = ["logits"]


def export_model(model: nn.Module, path: Path, opset: int, encoder: TextEncoder) -> None:
    """Write ``model`` (tokens, lengths -> logits (B, C) or (B, T, K)) to ``path`` as checked ONNX.

    The example input comes from ``encoder``, the one the model reads with, so its shape (ids, or
    rows of features per position) is the model's own.
    """
    model = model.eval()
    tokens, lengths = map(torch.from_numpy, encoder.example())  # unequal lengths, so padding is traced
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
