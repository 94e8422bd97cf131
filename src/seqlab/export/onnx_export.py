"""Export a classifier to ONNX with dynamic batch and sequence length.

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


def export_classifier(model: nn.Module, path: Path, vocab_size: int, opset: int) -> None:
    """Write ``model`` (tokens (B, T), lengths (B,) -> logits (B, C)) to ``path`` as checked ONNX."""
    model = model.eval()
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(4, max(vocab_size, 5), (2, 7), generator=generator)  # (B, T) example
    lengths = torch.tensor([7, 3])  # unequal lengths so the padding logic is traced
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
            dynamic_axes={"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
        )
        onnx.checker.check_model(str(tmp))


def op_counts(path: Path) -> dict[str, int]:
    """How many nodes of each op type the graph holds (shows what quantization changed)."""
    return dict(sorted(Counter(node.op_type for node in onnx.load(str(path)).graph.node).items()))
