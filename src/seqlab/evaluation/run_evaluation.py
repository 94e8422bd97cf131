"""Evaluate one run on its task's test split through every backend (torch fp32, ORT fp32, ORT int8, and
ORT fp16 on CUDA where it loads).

Classifiers and taggers: accuracy and F1 (tag tasks also unseen-word accuracy and word F1), latency per
call. Generating models (lm, condlm): bits per character, one step's latency, and the generation speed
of the stateful step graph against the sliding-window method.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from seqlab.checkpoint import ModelSpec
from seqlab.config import GENERATIVE, Params
from seqlab.evaluation.evaluate import evaluate_backends, int8_drop_points
from seqlab.evaluation.generative import evaluate_generative, generation_speed, int8_bpc_increase, load_test_text
from seqlab.inference.backends import OrtBackend, TorchBackend
from seqlab.inference.bundle import CONDITION_FILE
from seqlab.inference.generate import OrtStepModel, StepModel, TorchStepModel
from seqlab.inference.sessions import create_session, cuda_available
from seqlab.paths import Layout
from seqlab.text.dataset import token_set
from seqlab.training.splits import load_run_split


def evaluate_text_model(layout: Layout, params: Params, run: str, model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """A classifier's or tagger's test quality and latency per backend."""
    threads = params.evaluate.threads
    test, encoder = load_run_split(spec, layout.tokenized(spec.task), layout.vocab(spec.task), "test")
    known = token_set(layout.tokenized(spec.task) / "train.jsonl")
    quantized = layout.quantized_dir(run)
    backends = [
        TorchBackend(model, "torch_fp32"),
        OrtBackend(create_session(layout.onnx_model(run), "cpu", threads), "ort_fp32"),
        OrtBackend(create_session(quantized / "model.int8.onnx", "cpu", threads), "ort_int8"),
    ]
    if cuda_available():
        backends.append(OrtBackend(create_session(quantized / "model.fp16.onnx", "cuda"), "ort_cuda_fp16"))
    results = evaluate_backends(backends, test, encoder.vocab.pad_id, spec.labels, params.evaluate, params.seed,
                                spec.tag_scheme, known)
    return {"test_examples": len(test.sequences), "backends": results,
            "int8_accuracy_drop_points": int8_drop_points(results)}


def evaluate_generating_model(layout: Layout, params: Params, run: str, model: nn.Module,
                              spec: ModelSpec) -> dict[str, Any]:
    """A language model's test bits per character and step latency per backend, and its generation speed."""
    threads = params.evaluate.threads
    test, vocab = load_test_text(spec, layout.tokenized(spec.task), layout.vocab(spec.task))
    quantized = layout.quantized_dir(run)
    condition = create_session(layout.onnx_dir(run) / CONDITION_FILE, "cpu", threads) \
        if spec.structure == "condlm" else None
    backends: dict[str, StepModel] = {
        "torch_fp32": TorchStepModel(model),
        "ort_fp32": OrtStepModel(create_session(layout.onnx_model(run), "cpu", threads), condition),
        "ort_int8": OrtStepModel(create_session(quantized / "model.int8.onnx", "cpu", threads), condition),
    }
    if cuda_available():
        backends["ort_cuda_fp16"] = OrtStepModel(create_session(quantized / "model.fp16.onnx", "cuda"), condition)
    results = evaluate_generative(backends, test, params.evaluate, params.seed)
    settings = params.generation
    prompt = vocab.encode(settings.prompts.get(spec.task, "")) or [vocab.index["<eos>"]]
    speed = {name: generation_speed(backends[name], prompt, settings.length, settings.window, settings.repeats,
                                    params.seed) for name in ("ort_fp32", "ort_int8")}
    characters = next(iter(results.values()))["characters"]
    return {"test_characters": characters, "backends": results, "generation": speed,
            "int8_bpc_increase": int8_bpc_increase(results)}


def evaluate_run(layout: Layout, params: Params, run: str, model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """The run's test quality, latency (and generation speed) per backend, as its structure needs."""
    evaluate = evaluate_generating_model if spec.structure in GENERATIVE else evaluate_text_model
    return evaluate(layout, params, run, model, spec)
