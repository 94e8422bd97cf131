"""Evaluate one run on its task's test split through every backend (torch fp32, ORT fp32, ORT int8, and
ORT fp16 on CUDA where it loads).

Classifiers and taggers: accuracy and F1 (tag tasks also unseen-word accuracy and word F1), latency per
call. Generating models (lm, condlm): bits per character, one step's latency, and the generation speed
of the stateful step graph against the sliding-window method. Sequence to sequence: word and token error
rates of greedy and beam decoding, and the latency of decoding a batch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from seqlab.checkpoint import ModelSpec
from seqlab.config import GENERATIVE, Params
from seqlab.evaluation.evaluate import evaluate_backends, int8_drop_points
from seqlab.evaluation.generative import evaluate_generative, generation_speed, int8_bpc_increase, load_test_text
from seqlab.evaluation.seq2seq_eval import attention_samples, evaluate_seq2seq, int8_wer_increase
from seqlab.inference.backends import Backend, OrtBackend
from seqlab.inference.bundle import CONDITION_FILE, ENCODER_FILES, MODEL_FILES
from seqlab.inference.decode import OrtSeq2Seq, Seq2SeqModel
from seqlab.inference.generate import OrtStepModel, StepModel
from seqlab.inference.sessions import create_session, cuda_available
from seqlab.inference.torch_models import TorchBackend, TorchSeq2Seq, TorchStepModel
from seqlab.io import read_json
from seqlab.paths import Layout
from seqlab.text.dataset import token_set
from seqlab.text.parallel import load_parallel_splits, target_joiner
from seqlab.training.splits import load_run_split


def text_backends(layout: Layout, run: str, model: nn.Module, threads: int | None) -> list[Backend]:
    """A classifier or tagger as torch fp32, ORT fp32 and ORT int8 on the CPU, and ORT fp16 on CUDA where it
    loads; ``threads``: CPU threads per ORT call (None: all cores)."""
    quantized = layout.quantized_dir(run)
    backends: list[Backend] = [
        TorchBackend(model, "torch_fp32"),
        OrtBackend(create_session(layout.onnx_model(run), "cpu", threads), "ort_fp32"),
        OrtBackend(create_session(quantized / "model.int8.onnx", "cpu", threads), "ort_int8"),
    ]
    if cuda_available():
        backends.append(OrtBackend(create_session(quantized / "model.fp16.onnx", "cuda"), "ort_cuda_fp16"))
    return backends


def step_backends(layout: Layout, run: str, model: nn.Module, spec: ModelSpec,
                  threads: int | None) -> dict[str, StepModel]:
    """A language model's step graph through every backend, as :func:`text_backends` lists them."""
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
    return backends


def seq2seq_backends(layout: Layout, run: str, model: nn.Module, threads: int | None) -> dict[str, Seq2SeqModel]:
    """A seq2seq model's encoder and decoder-step graphs through every backend, as :func:`text_backends` lists
    them."""
    folder, quantized = layout.onnx_dir(run), layout.quantized_dir(run)

    def ort(precision: str, directory: Path, provider: str = "cpu") -> OrtSeq2Seq:
        return OrtSeq2Seq(create_session(directory / ENCODER_FILES[precision], provider, threads),
                          create_session(directory / MODEL_FILES[precision], provider, threads), f"ort_{precision}")

    backends: dict[str, Seq2SeqModel] = {"torch_fp32": TorchSeq2Seq(model, "torch_fp32"),
                                         "ort_fp32": ort("fp32", folder), "ort_int8": ort("int8", quantized)}
    if cuda_available():
        backends["ort_cuda_fp16"] = ort("fp16", quantized, "cuda")
    return backends


def evaluate_text_model(layout: Layout, params: Params, run: str, model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """A classifier's or tagger's test quality and latency per backend."""
    test, encoder = load_run_split(spec, layout.tokenized(spec.task), layout.vocab(spec.task), "test")
    known = token_set(layout.tokenized(spec.task) / "train.jsonl")
    backends = text_backends(layout, run, model, params.evaluate.threads)
    results = evaluate_backends(backends, test, encoder.vocab.pad_id, spec.labels, params.evaluate, params.seed,
                                spec.tag_scheme, known)
    return {"test_examples": len(test.sequences), "backends": results,
            "int8_accuracy_drop_points": int8_drop_points(results)}


def evaluate_generating_model(layout: Layout, params: Params, run: str, model: nn.Module,
                              spec: ModelSpec) -> dict[str, Any]:
    """A language model's test bits per character and step latency per backend, and its generation speed."""
    test, vocab = load_test_text(spec, layout.tokenized(spec.task), layout.vocab(spec.task))
    backends = step_backends(layout, run, model, spec, params.evaluate.threads)
    results = evaluate_generative(backends, test, params.evaluate, params.seed)
    settings = params.generation
    prompt = vocab.encode(settings.prompts.get(spec.task, "")) or [vocab.index["<eos>"]]
    speed = {name: generation_speed(backends[name], prompt, settings.length, settings.window, settings.repeats,
                                    params.seed) for name in ("ort_fp32", "ort_int8")}
    characters = next(iter(results.values()))["characters"]
    return {"test_characters": characters, "backends": results, "generation": speed,
            "int8_bpc_increase": int8_bpc_increase(results)}


def evaluate_seq2seq_model(layout: Layout, params: Params, run: str, model: nn.Module,
                           spec: ModelSpec) -> dict[str, Any]:
    """A seq2seq model's test error rates (greedy and beam; BLEU and chrF for a user corpus), decoding latency
    per backend, and attention weights of a few test sources."""
    encoder, codec, (test,) = load_parallel_splits(layout.tokenized(spec.task), layout.vocab(spec.task),
                                                   spec.tokenizer, spec.max_len, spec.model, "test")
    backends = seq2seq_backends(layout, run, model, params.evaluate.threads)
    manifest = read_json(layout.prepared(spec.task) / "manifest.json")  # how the data was read and tokenized
    joiner = None if manifest["source"]["kind"] == "cmudict" else target_joiner(manifest["tokenizers"]["target"])
    pad_id = encoder.vocab.pad_id
    results = evaluate_seq2seq(backends, test, codec, params.decode, params.evaluate, params.seed, pad_id, joiner)
    samples = attention_samples(backends["torch_fp32"], test, codec, params.decode, params.seed, pad_id)
    return {"test_items": len(test.sources), "backends": results,
            "int8_wer_increase_points": int8_wer_increase(results), "attention_samples": samples}


def evaluate_run(layout: Layout, params: Params, run: str, model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    """The run's test quality, latency (and generation speed) per backend, as its structure needs."""
    if spec.structure == "seq2seq":
        return evaluate_seq2seq_model(layout, params, run, model, spec)
    evaluate = evaluate_generating_model if spec.structure in GENERATIVE else evaluate_text_model
    return evaluate(layout, params, run, model, spec)
