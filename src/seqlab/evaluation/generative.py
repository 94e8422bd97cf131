"""Quality, step latency and generation speed of a generating model through several backends.

Quality is bits per character on the test split (``text_scores``). Latency is one step (one new
character) at each configured batch size. Generation speed compares the two ways of producing text
one character at a time: the stateful step graph (one step per character) and the seed documents'
sliding window (the last ``window`` characters re-read from a zero state for every character).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.checkpoint import ModelSpec
from seqlab.config import EvaluateConfig
from seqlab.evaluation.latency import latency_figures
from seqlab.evaluation.text_scores import review_scores, stream_scores
from seqlab.inference.generate import Sampler, StepModel, generate, sliding_window_generate
from seqlab.text.encoding import load_encoder
from seqlab.text.vocab import Vocab
from seqlab.training.streams import load_conditioned_split, load_token_stream

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TestText:
    """The test split of a generating task: one id stream (lm), or conditioned ``<bos> ... <eos>`` texts (condlm)."""

    stream: np.ndarray | None = None
    texts: Sequence[np.ndarray] = ()
    conditions: Sequence[int] = ()
    pad_id: int = 0

    def scores(self, model: StepModel) -> dict[str, float]:
        """Loss (nats), bits per character and next-character accuracy of ``model`` on this text."""
        if self.stream is not None:
            return stream_scores(model, self.stream)
        return review_scores(model, self.texts, self.conditions, self.pad_id)


def step_latency(model: StepModel, batch: int, repeats: int, warmup: int, seed: int) -> dict[str, float]:
    """p50/p95/p99 milliseconds of one step (one character for each of ``batch`` texts) and characters per second."""
    rng = np.random.default_rng(seed)
    state = model.initial_state(batch)
    vocab = model.step(np.zeros((batch, 1), dtype=np.int64), state)[0].shape[-1]
    timings = []
    for run in range(warmup + repeats):
        tokens = rng.integers(0, vocab, size=(batch, 1))  # (B, 1)
        started = time.perf_counter()
        _, state = model.step(tokens, state)
        if run >= warmup:
            timings.append(time.perf_counter() - started)
    return latency_figures(timings, batch * repeats)


def chars_per_second(model: StepModel, method: Any, prompt_ids: Sequence[int], length: int, repeats: int,
                     seed: int) -> list[float]:
    """Characters per second of ``repeats`` generations of ``length`` characters after ``prompt_ids`` with
    ``method`` (``generate``, or the sliding window with its window bound)."""
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        produced = sum(1 for _ in method(model, prompt_ids, length, Sampler(1.0, seed=seed)))
        rates.append(produced / (time.perf_counter() - started))
    return rates


def generation_speed(model: StepModel, prompt_ids: Sequence[int], length: int, window: int, repeats: int,
                     seed: int) -> dict[str, float]:
    """Characters per second generating ``length`` characters after ``prompt_ids``: stateful steps vs the
    sliding window (best of ``repeats`` each, so a busy moment of the machine does not decide it)."""
    stateful = max(chars_per_second(model, generate, prompt_ids, length, repeats, seed))
    windowed = functools.partial(sliding_window_generate, window=window)
    window_rate = max(chars_per_second(model, windowed, prompt_ids, length, repeats, seed))
    return {"length": length, "window": window, "stateful_chars_per_s": round(stateful, 1),
            "sliding_window_chars_per_s": round(window_rate, 1), "speedup": round(stateful / window_rate, 2)}


def evaluate_generative(backends: dict[str, StepModel], test: TestText, config: EvaluateConfig,
                        seed: int) -> dict[str, dict[str, Any]]:
    """Per backend: test scores and the latency of one step at each configured batch size."""
    results: dict[str, dict[str, Any]] = {}
    for name, model in backends.items():
        scores = test.scores(model)
        latency = {f"batch_{size}": step_latency(model, size, config.repeats, config.warmup, seed + size)
                   for size in config.batch_sizes}
        results[name] = {**scores, "latency": latency}
        logger.info("%s: test %.4f bits per char, next-char accuracy %.4f, %s", name, scores["bpc"],
                    scores["accuracy"], ", ".join(f"{k} p50 {v['p50_ms']:.3f} ms" for k, v in latency.items()))
    return results


def load_test_text(spec: ModelSpec, tokenized_dir: Path, vocab_dir: Path) -> tuple[TestText, Vocab]:
    """The test split of ``spec``'s task as the run's model reads it, and its vocabulary."""
    encoder = load_encoder(vocab_dir, spec.tokenizer, spec.max_len, spec.model)
    path = tokenized_dir / "test.jsonl"
    if spec.structure == "lm":
        return TestText(stream=load_token_stream(path, encoder.vocab)), encoder.vocab
    split = load_conditioned_split(path, encoder, spec.labels)
    return TestText(texts=split.sequences, conditions=split.conditions, pad_id=encoder.vocab.pad_id), encoder.vocab


def int8_bpc_increase(results: dict[str, dict[str, Any]]) -> float:
    """Test bits per character lost by int8 quantization (positive: int8 is worse)."""
    return round(results["ort_int8"]["bpc"] - results["ort_fp32"]["bpc"], 5)
