"""Export one run's checkpoint to ONNX and check ONNX Runtime against PyTorch on the run's test split.

Classifiers and taggers: one graph (tokens, lengths -> logits). Generating models: the step graph
(tokens, state -> logits, next state) and, for a conditioned one, the condition graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from seqlab.checkpoint import ModelSpec
from seqlab.config import GENERATIVE
from seqlab.evaluation.generative import load_test_text
from seqlab.export.lm_export import export_condition_graph, export_step_graph, step_parity_report
from seqlab.export.onnx_export import export_model
from seqlab.export.parity import parity_report
from seqlab.inference.backends import OrtBackend, TorchBackend
from seqlab.inference.bundle import CONDITION_FILE
from seqlab.inference.sessions import create_session
from seqlab.paths import Layout
from seqlab.training.splits import load_run_split


def export_text_model(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path, opset: int) -> dict[str, Any]:
    """A classifier or tagger as ``model.onnx`` in ``folder``, and its parity report on the test split."""
    test, encoder = load_run_split(spec, layout.tokenized(spec.task), layout.vocab(spec.task), "test")
    export_model(spec.fused(model), folder / "model.onnx", opset, encoder)
    ort_backend = OrtBackend(create_session(folder / "model.onnx", "cpu"), "ort_fp32")
    return parity_report(TorchBackend(model), ort_backend, test.sequences, encoder.vocab.pad_id)


def export_generating_model(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path,
                            opset: int) -> dict[str, Any]:
    """A language model's step graph as ``model.onnx`` (and a conditioned one's ``condition.onnx``) in
    ``folder``, and the parity report of both, state carried, on the test text."""
    test, _ = load_test_text(spec, layout.tokenized(spec.task), layout.vocab(spec.task))
    export_step_graph(model, folder / "model.onnx", opset)
    condition = None
    if spec.structure == "condlm":
        export_condition_graph(model, folder / CONDITION_FILE, opset)
        condition = create_session(folder / CONDITION_FILE, "cpu")
    ids = test.stream if test.stream is not None else np.concatenate(list(test.texts))
    return step_parity_report(model, create_session(folder / "model.onnx", "cpu"), ids, condition, name="ort_fp32")


def export_run(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path, opset: int) -> dict[str, Any]:
    """The run's graphs in ``folder`` (as its structure needs) and their parity report."""
    export = export_generating_model if spec.structure in GENERATIVE else export_text_model
    return export(layout, model, spec, folder, opset)
