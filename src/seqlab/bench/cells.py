"""The served path against PyTorch eager for every cell type, on one classifier shape: each cell in turn
(untrained weights: speed does not depend on them) is exported and quantized exactly as the pipeline does
it, then timed with the evaluation's latency code on the task's real test sequences."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from seqlab.bench.figures import spread
from seqlab.config import ModelConfig, Params
from seqlab.evaluation.latency import latency_batches, measure_latency
from seqlab.export.onnx_export import export_model
from seqlab.export.quantize import quantize_int8
from seqlab.inference.backends import OrtBackend
from seqlab.inference.sessions import create_session
from seqlab.inference.torch_models import TorchBackend
from seqlab.io import InputError
from seqlab.models.registry import build_model
from seqlab.paths import Layout
from seqlab.text.dataset import load_encoded_split
from seqlab.text.encoding import load_encoder


def bench_cells(layout: Layout, params: Params) -> dict[str, Any]:
    """Per cell type and batch size: items per second of torch fp32, ORT fp32 and ORT int8 (min/median/max over
    the rounds), and ORT over torch at each batch size."""
    settings = params.bench.cells
    task = params.task(settings.task)
    if not (layout.tokenized(settings.task) / "test.jsonl").exists():
        raise InputError(f"{layout.tokenized(settings.task)}: no test split; the cells benchmark reads it "
                         f"(run `dvc repro vocab@{settings.task}`)")
    cells: dict[str, Any] = {}
    for cell in settings.cells:
        config = ModelConfig(cell=cell, embed_dim=settings.embed_dim, hidden=settings.hidden, layers=settings.layers,
                             bidirectional=settings.bidirectional, pooling="max")
        torch.manual_seed(params.seed)
        encoder = load_encoder(layout.vocab(settings.task), task.tokenizer, task.max_len, config.model_dump())
        test = load_encoded_split(layout.tokenized(settings.task) / "test.jsonl", encoder, task.labels)
        model = build_model("classify", config, vocab_size=len(encoder.vocab), num_classes=len(task.labels),
                            pad_id=encoder.vocab.pad_id).eval()
        with tempfile.TemporaryDirectory() as folder:
            fp32, int8 = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
            export_model(model, fp32, params.export.opset, encoder)
            quantize_int8(fp32, int8)
            backends = [TorchBackend(model, "torch_fp32"),
                        OrtBackend(create_session(fp32, "cpu", params.bench.threads), "ort_fp32"),
                        OrtBackend(create_session(int8, "cpu", params.bench.threads), "ort_int8")]
            rates: dict[str, dict[str, list[float]]] = {backend.name: {} for backend in backends}
            for number in range(settings.rounds):
                for size in settings.batch_sizes:
                    batches = latency_batches(test.sequences, size, settings.calls + settings.warmup,
                                              encoder.vocab.pad_id, params.seed + 1000 * number + size)
                    for backend in backends:
                        rates[backend.name].setdefault(f"batch_{size}", []).append(
                            measure_latency(backend, batches, settings.warmup)["items_per_s"])
        figures = {name: {batch: spread(values, 1) for batch, values in by_batch.items()}
                   for name, by_batch in rates.items()}
        ratios = {f"{name}_over_torch_{batch}": round(figures[name][batch]["median"]
                                                      / figures["torch_fp32"][batch]["median"], 2)
                  for name in ("ort_fp32", "ort_int8") for batch in figures[name]}
        cells[cell] = {"items_per_s": figures, "ratios": ratios}
    return {"task": settings.task, "embed_dim": settings.embed_dim, "hidden": settings.hidden,
            "layers": settings.layers, "bidirectional": settings.bidirectional, "calls_per_round": settings.calls,
            "rounds": settings.rounds, "cells": cells}
