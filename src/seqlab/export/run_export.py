"""Export one run's checkpoint to ONNX and check ONNX Runtime against PyTorch on the run's test split.

Classifiers and taggers: one graph (tokens, lengths -> logits). Generating models: the step graph
(tokens, state -> logits, next state) and, for a conditioned one, the condition graph. Sequence to
sequence: the encoder graph and the decoder-step graph, checked step by step and by beam search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from seqlab.checkpoint import ModelSpec
from seqlab.config import GENERATIVE, DecodeConfig
from seqlab.evaluation.generative import load_test_text
from seqlab.export.lm_export import export_condition_graph, export_step_graph, step_parity_report
from seqlab.export.onnx_export import export_model
from seqlab.export.parity import parity_report
from seqlab.export.seq2seq_export import (
    beam_parity,
    export_decoder_step_graph,
    export_encoder_graph,
    seq2seq_parity_report,
)
from seqlab.inference.backends import OrtBackend
from seqlab.inference.bundle import CONDITION_FILE, ENCODER_FILE
from seqlab.inference.decode import OrtSeq2Seq
from seqlab.inference.sessions import create_session
from seqlab.inference.torch_models import TorchBackend, TorchSeq2Seq
from seqlab.paths import Layout
from seqlab.text.parallel import decoder_inputs, load_parallel_splits
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


def export_seq2seq_model(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path, opset: int,
                         decode: DecodeConfig) -> dict[str, Any]:
    """A seq2seq model's decoder-step graph as ``model.onnx`` and its encoder graph beside it, and the parity
    report on the test split: teacher-forced logits step by step, and beam search (``decode``) over both."""
    encoder, codec, (test,) = load_parallel_splits(layout.tokenized(spec.task), layout.vocab(spec.task),
                                                   spec.tokenizer, spec.max_len, spec.model, "test")
    export_encoder_graph(model, folder / ENCODER_FILE, opset)
    export_decoder_step_graph(model, folder / "model.onnx", opset)
    sessions = create_session(folder / ENCODER_FILE, "cpu"), create_session(folder / "model.onnx", "cpu")
    pad_id = encoder.vocab.pad_id
    report = seq2seq_parity_report(model, *sessions, test.sources, decoder_inputs(test, codec), pad_id,
                                   name="ort_fp32")
    report["beam"] = beam_parity(TorchSeq2Seq(model), OrtSeq2Seq(*sessions, name="ort_fp32"), test.sources,
                                 codec.bos, codec.eos, decode, pad_id, codec.suppressed)
    return report


def export_run(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path, opset: int,
               decode: DecodeConfig) -> dict[str, Any]:
    """The run's graphs in ``folder`` (as its structure needs) and their parity report."""
    if spec.structure == "seq2seq":
        return export_seq2seq_model(layout, model, spec, folder, opset, decode)
    export = export_generating_model if spec.structure in GENERATIVE else export_text_model
    return export(layout, model, spec, folder, opset)
