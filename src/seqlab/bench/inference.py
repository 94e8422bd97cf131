"""Inference speed of each task's champion: PyTorch eager fp32, ONNX Runtime fp32 and int8 on the CPU (and
fp16 on CUDA where it loads), at each batch size, measured with the evaluation's own latency code.

What a call is depends on the structure: a classifier or tagger reads a padded batch of test sequences; a
language model takes one step (a character for each of the batch's texts); a seq2seq model greedily
decodes a batch of test sources to the end.
"""

from __future__ import annotations

from typing import Any

from seqlab.bench.figures import spread
from seqlab.bench.runs import benched_runs
from seqlab.checkpoint import load_model
from seqlab.config import GENERATIVE, EvaluateConfig, Params
from seqlab.evaluation.generative import step_latency
from seqlab.evaluation.latency import latency_batches, measure_latency
from seqlab.evaluation.run_evaluation import seq2seq_backends, step_backends, text_backends
from seqlab.evaluation.seq2seq_eval import decoding_latency
from seqlab.io import read_json
from seqlab.paths import Layout
from seqlab.text.parallel import load_parallel_splits
from seqlab.training.splits import load_run_split

FIGURES = ("p50_ms", "p99_ms", "items_per_s")


Round = dict[str, dict[str, dict[str, float]]]
"""One round of measurements: backend -> ``batch_<size>`` -> p50/p95/p99 ms and items per second."""


def latency_rounds(layout: Layout, params: Params, run: str, config: EvaluateConfig, rounds: int) -> list[Round]:
    """``rounds`` rounds of latency measurements of ``run`` through every backend (each on its own seed)."""
    model, spec = load_model(layout.checkpoint(run))
    threads = params.bench.threads
    if spec.structure in GENERATIVE:
        steppers = step_backends(layout, run, model, spec, threads)
        return [{name: {f"batch_{size}": step_latency(stepper, size, config.repeats, config.warmup, seed + size)
                        for size in config.batch_sizes}
                 for name, stepper in steppers.items()}
                for seed in _seeds(params, rounds)]
    if spec.structure == "seq2seq":
        encoder, codec, (test,) = load_parallel_splits(layout.tokenized(spec.task), layout.vocab(spec.task),
                                                       spec.tokenizer, spec.max_len, spec.model, "test")
        decoders = seq2seq_backends(layout, run, model, threads)
        return [{name: decoding_latency(decoder, test.sources, codec, params.decode, config, seed,
                                        encoder.vocab.pad_id)
                 for name, decoder in decoders.items()}
                for seed in _seeds(params, rounds)]
    test, encoder = load_run_split(spec, layout.tokenized(spec.task), layout.vocab(spec.task), "test")
    backends = text_backends(layout, run, model, threads)
    results = []
    for seed in _seeds(params, rounds):
        batches = {size: latency_batches(test.sequences, size, config.repeats + config.warmup,
                                         encoder.vocab.pad_id, seed + size) for size in config.batch_sizes}
        results.append({backend.name: {f"batch_{size}": measure_latency(backend, runs, config.warmup)
                                       for size, runs in batches.items()}
                        for backend in backends})
    return results


def _seeds(params: Params, rounds: int) -> range:
    """One seed per round, so every round draws other test batches."""
    return range(params.seed, params.seed + 1000 * rounds, 1000)


def speedups(backends: dict[str, dict[str, dict[str, Any]]]) -> dict[str, float]:
    """The ratios the targets are about, from median items per second: ORT fp32 over torch at batch 1, int8
    over ORT fp32 at the largest batch, and the served int8 model over torch at the largest batch."""
    def rate(backend: str, batch: str) -> float:
        return backends[backend][batch]["items_per_s"]["median"]

    batches = sorted(backends["torch_fp32"], key=lambda name: int(name.removeprefix("batch_")))
    smallest, largest = batches[0], batches[-1]
    return {f"ort_fp32_over_torch_{smallest}": round(rate("ort_fp32", smallest) / rate("torch_fp32", smallest), 2),
            f"int8_over_ort_fp32_{largest}": round(rate("ort_int8", largest) / rate("ort_fp32", largest), 2),
            f"int8_over_torch_{largest}": round(rate("ort_int8", largest) / rate("torch_fp32", largest), 2)}


def bench_inference(layout: Layout, params: Params) -> dict[str, Any]:
    """Per task (its champion, see :func:`benched_runs`), backend and batch size: p50/p99 latency and items per
    second as min/median/max over the rounds, the target ratios, and the quality each backend scored in the
    evaluate stage."""
    settings = params.bench.inference
    config = EvaluateConfig(batch_sizes=settings.batch_sizes, repeats=settings.calls, warmup=settings.warmup)
    tasks: dict[str, Any] = {}
    for task, run in benched_runs(layout, params).items():
        rounds = latency_rounds(layout, params, run, config, settings.rounds)
        backends = {name: {batch: {figure: spread([result[name][batch][figure] for result in rounds])
                                   for figure in FIGURES}
                           for batch in rounds[0][name]}
                    for name in rounds[0]}
        evaluated = read_json(layout.eval_metrics(run), made_by=f"evaluate@{run}")
        tasks[task] = {"run": run, "structure": params.task(task).structure, "cell": evaluated["cell"],
                       "backends": backends, "speedups": speedups(backends),
                       "quality": {name: _headline(result) for name, result in evaluated["backends"].items()}}
    return {"calls_per_round": settings.calls, "rounds": settings.rounds, "tasks": tasks}


def _headline(result: dict[str, Any]) -> dict[str, float]:
    """The quality figures of one evaluated backend that a speed comparison is read beside."""
    return {key: result[key] for key in ("accuracy", "macro_f1", "word_f1", "bpc", "wer", "per") if key in result}
