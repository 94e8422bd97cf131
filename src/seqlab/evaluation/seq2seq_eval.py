"""Quality and speed of a sequence-to-sequence model on its test split, through every backend.

Per backend (torch fp32, ORT fp32, ORT int8, and ORT fp16 on CUDA where it loads): word and token
(phoneme) error rates of greedy decoding and of beam search with the ``decode`` settings (the headline
``wer`` and ``per`` are the beam's), BLEU and chrF for user corpora, and the latency of greedy decoding a
batch. A few test sources keep their attention weights, for the heatmaps of the report and MLflow.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np

from seqlab.config import DecodeConfig, EvaluateConfig
from seqlab.evaluation.latency import time_calls
from seqlab.evaluation.seq2seq_metrics import corpus_text_scores, seq2seq_scores
from seqlab.inference.decode import Seq2SeqModel, attention_weights, decode_sources
from seqlab.text.parallel import ParallelSplit, TargetCodec

logger = logging.getLogger(__name__)

ATTENTION_SAMPLES = 6
"""Test sources whose attention weights the evaluation keeps (seeded choice)."""


def decoding_latency(model: Seq2SeqModel, sources: list[list[int]], codec: TargetCodec, decode: DecodeConfig,
                     config: EvaluateConfig, seed: int, pad_id: int) -> dict[str, dict[str, float]]:
    """p50/p95 milliseconds and sources per second of greedy decoding a batch of ``batch_size`` test sources,
    per configured batch size; every backend gets the same seeded batches."""
    latency = {}
    for size in config.batch_sizes:
        rng = random.Random(seed + size)
        batches = [rng.sample(sources, min(size, len(sources))) for _ in range(config.repeats + config.warmup)]
        latency[f"batch_{size}"] = time_calls(
            lambda batch: decode_sources(model, batch, codec.bos, codec.eos, 1, decode.length_penalty,
                                         decode.max_steps, pad_id, codec.suppressed, batch_size=len(batch)),
            batches, config.warmup, len)
    return latency


def split_scores(model: Seq2SeqModel, split: ParallelSplit, codec: TargetCodec, decode: DecodeConfig, pad_id: int,
                 joiner: str | None) -> dict[str, Any]:
    """Greedy and beam error rates of ``model`` on ``split`` (plus BLEU and chrF of the beam's outputs with
    ``joiner`` set: the string that joins target tokens, "" for characters, " " for words)."""
    scores: dict[str, Any] = {}
    for method, beam in (("greedy", 1), ("beam", decode.beam)):
        outputs = decode_sources(model, split.sources, codec.bos, codec.eos, beam, decode.length_penalty,
                                 decode.max_steps, pad_id, codec.suppressed)
        predictions = [codec.decode(ids) for ids in outputs]
        rates = seq2seq_scores(predictions, split.references)
        scores.update({f"{method}_wer": rates["wer"], f"{method}_per": rates["per"]})
        if joiner is not None and method == "beam":
            scores.update(corpus_text_scores(predictions, split.references, joiner))
    scores.update({"wer": scores["beam_wer"], "per": scores["beam_per"], "accuracy": 1 - scores["beam_wer"],
                   "items": len(split.sources), "beam": decode.beam})
    return scores


def evaluate_seq2seq(backends: dict[str, Seq2SeqModel], split: ParallelSplit, codec: TargetCodec,
                     decode: DecodeConfig, config: EvaluateConfig, seed: int, pad_id: int,
                     joiner: str | None = None) -> dict[str, dict[str, Any]]:
    """Per backend: ``split_scores`` and ``decoding_latency``."""
    results = {}
    for name, model in backends.items():
        scores = split_scores(model, split, codec, decode, pad_id, joiner)
        latency = decoding_latency(model, split.sources, codec, decode, config, seed, pad_id)
        results[name] = {**scores, "latency": latency}
        logger.info("%s: WER %.4f (greedy %.4f), PER %.4f, %s", name, scores["wer"], scores["greedy_wer"],
                    scores["per"], ", ".join(f"{k} p50 {v['p50_ms']:.2f} ms" for k, v in latency.items()))
    return results


def attention_samples(model: Seq2SeqModel, split: ParallelSplit, codec: TargetCodec, decode: DecodeConfig,
                      seed: int, pad_id: int, count: int = ATTENTION_SAMPLES) -> list[dict[str, Any]]:
    """``count`` seeded test sources with their greedy output and its attention weights: one row per output
    token and a last one for ``<eos>``, one column per source token."""
    chosen = sorted(random.Random(seed).sample(range(len(split.sources)), min(count, len(split.sources))))
    sources = [split.sources[index] for index in chosen]
    outputs = decode_sources(model, sources, codec.bos, codec.eos, 1, decode.length_penalty, decode.max_steps,
                             pad_id, codec.suppressed)
    samples = []
    for index, source, output in zip(chosen, sources, outputs, strict=True):
        weights = attention_weights(model, source, output, codec.bos)  # (T + 1, S)
        samples.append({"source": split.source_tokens[index], "output": [*codec.decode(output), "<eos>"],
                        "references": split.references[index],
                        "weights": np.round(weights, 4).tolist()})
    return samples


def int8_wer_increase(results: dict[str, dict[str, Any]]) -> float:
    """Test word error rate lost by int8 quantization, in percentage points (positive: int8 is worse)."""
    return round(100 * (results["ort_int8"]["wer"] - results["ort_fp32"]["wer"]), 3)
