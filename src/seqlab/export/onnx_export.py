"""Export a classifier or tagger to ONNX with dynamic batch and sequence length, and the tracing and
native-node checks every exporter of the project shares (``export_graph``, ``check_native_state``).

Uses the TorchScript-based exporter (``dynamo=False``): it emits native ONNX RNN/LSTM/GRU nodes
for every cell type, where the dynamo exporter can unroll a vanilla RNN with the time axis fixed
to the example length (see API-NOTES.md). The parity check runs every graph at other shapes.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import onnx
import torch
from torch import nn

from seqlab.entry import StageError
from seqlab.inference.crf import METADATA_KEY
from seqlab.io import atomic_path
from seqlab.models.tagger import SequenceTagger
from seqlab.text.encoding import TextEncoder

NATIVE_OPS = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}
INPUT_NAMES = ["tokens", "lengths"]
OUTPUT_NAMES = ["logits"]


def export_graph(module: nn.Module, example: tuple[torch.Tensor, ...], path: Path, opset: int, inputs: list[str],
                 outputs: list[str], axes: dict[str, dict[int, str]],
                 metadata: Mapping[str, str] | None = None) -> None:
    """Trace ``module`` on ``example`` into a checked ONNX file at ``path`` (written atomically), with
    ``metadata`` in the model's metadata properties."""
    with atomic_path(path) as tmp, warnings.catch_warnings():
        # The exporter warns about batch_first RNNs and shape-dependent Python values it handles.
        warnings.simplefilter("ignore")
        torch.onnx.export(module, example, str(tmp), dynamo=False, opset_version=opset, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes)
        if metadata:
            graph = onnx.load(str(tmp))
            onnx.helper.set_model_props(graph, dict(metadata))
            onnx.save(graph, str(tmp))
        onnx.checker.check_model(str(tmp))


def check_native_state(path: Path, cell: str, layers: int) -> None:
    """A StageError unless the graph has one native ``cell`` node per layer with initial_h (and initial_c for an
    LSTM) set: a graph that carries its recurrent state across calls (a step graph) and is not unrolled."""
    op = NATIVE_OPS[cell]
    nodes = [node for node in onnx.load(str(path)).graph.node if node.op_type == op]
    states = 2 if op == "LSTM" else 1
    carried = [node for node in nodes if all([*node.input, "", ""][5 + i] for i in range(states))]
    if len(carried) != layers:
        raise StageError(f"{path}: expected {layers} native {op} node(s) reading the carried state, found "
                         f"{len(carried)} of {len(nodes)} (did the exporter unroll the recurrence?)")


def export_model(model: nn.Module, path: Path, opset: int, encoder: TextEncoder) -> None:
    """Write ``model`` (tokens, lengths -> logits (B, C) or (B, T, K)) to ``path`` as checked ONNX; a tagger's
    CRF scores go into the model's metadata (``seqlab.inference.crf``), so every runtime decodes alike.

    The example input comes from ``encoder``, the one the model reads with, so its shape (ids, or
    rows of features per position) is the model's own.
    """
    model = model.eval()
    tokens, lengths = map(torch.from_numpy, encoder.example())  # unequal lengths, so padding is traced
    with torch.no_grad():
        per_position = model(tokens, lengths).dim() == 3  # a tagger: one row of logits per token
    token_axes = {0: "batch", 1: "time"}
    logits_axes = token_axes if per_position else {0: "batch"}
    transitions = model.transitions() if isinstance(model, SequenceTagger) else None
    metadata = {METADATA_KEY: transitions.to_json()} if transitions is not None else None  # how to decode
    export_graph(model, (tokens, lengths), path, opset, INPUT_NAMES, OUTPUT_NAMES,
                 {"tokens": token_axes, "lengths": {0: "batch"}, "logits": logits_axes}, metadata)


