"""Stage evaluate@<run>: test-split quality, latency and size for torch fp32, ORT fp32 and ORT int8.

Classifiers and taggers: accuracy and F1 (tag tasks also unseen-word accuracy and word F1).
Generating models (lm, condlm): bits per character, one step's latency, and generation speed of the
stateful step graph against the sliding-window method.
"""

from typing import Any

import torch
from torch import nn

from seqlab.checkpoint import ModelSpec, load_model
from seqlab.config import GENERATIVE, Params, load_params
from seqlab.entry import run_entry
from seqlab.evaluation.evaluate import evaluate_backends, int8_drop_points, tracking_metrics
from seqlab.evaluation.generative import (
    evaluate_generative,
    generation_speed,
    int8_bpc_increase,
    load_test_text,
)
from seqlab.inference.backends import OrtBackend, TorchBackend
from seqlab.inference.bundle import CONDITION_FILE
from seqlab.inference.generate import OrtStepModel, StepModel, TorchStepModel
from seqlab.inference.sessions import CPU, create_session, cuda_available
from seqlab.io import read_json, write_json
from seqlab.paths import Layout, repo_root, tracking_uri
from seqlab.text.dataset import token_set
from seqlab.training.run import VARIANT_KEYS
from seqlab.training.splits import load_run_split
from seqlab.training.tracking import reopen_run


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


def main(run: str) -> None:
    """Evaluate RUN on its task's test split."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    if params.evaluate.threads:
        torch.set_num_threads(params.evaluate.threads)
    model, spec = load_model(layout.checkpoint(run))
    evaluate = evaluate_generating_model if spec.structure in GENERATIVE else evaluate_text_model
    results = evaluate(layout, params, run, model, spec)
    metrics = {
        "run": run, "task": spec.task, "structure": spec.structure,
        **spec.model_config.model_dump(include=set(VARIANT_KEYS)),
        "parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
        "provider": CPU, **results,  # every backend above but ort_cuda_fp16 runs on the CPU
        "sizes_bytes": read_json(layout.quantized_dir(run) / "quantize.json")["sizes_bytes"],
    }
    write_json(layout.eval_metrics(run), metrics)
    tracker = reopen_run(layout.root, tracking_uri(layout.root), f"seqlab-{spec.task}", run,
                         layout.train_dir(run) / "mlflow_run.json")
    tracker.log_metrics(tracking_metrics(metrics))
    tracker.log_artifact(layout.eval_metrics(run), "evaluate")


if __name__ == "__main__":
    run_entry(main)
