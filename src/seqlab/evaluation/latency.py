"""Latency of a backend on real sequences: the same seeded batches for every backend."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from seqlab.inference.backends import Backend
from seqlab.text.encoding import pad_batch

T = TypeVar("T")


def latency_batches(sequences: Sequence[Sequence[int]], batch_size: int, count: int, pad_id: int,
                    seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` padded batches of ``batch_size`` test sequences drawn with a seeded generator."""
    rng = random.Random(seed)
    return [pad_batch(rng.sample(list(sequences), batch_size), pad_id) for _ in range(count)]


def time_calls(call: Callable[[T], object], batches: Sequence[T], warmup: int,
               items: Callable[[T], int]) -> dict[str, float]:
    """p50/p95/p99 milliseconds per ``call`` and items per second over ``batches`` (after ``warmup`` untimed calls
    on the first ones); ``items(batch)`` counts a batch's items."""
    for batch in batches[:warmup]:
        call(batch)
    timings = []
    for batch in batches:
        started = time.perf_counter()
        call(batch)
        timings.append(time.perf_counter() - started)
    return latency_figures(timings, sum(map(items, batches)))


def latency_figures(seconds: Sequence[float], items: int) -> dict[str, float]:
    """p50/p95/p99 milliseconds of timed calls, and the ``items`` they handled per second in all."""
    timings = np.array(seconds)
    return {
        "p50_ms": round(float(np.percentile(timings, 50) * 1e3), 4),
        "p95_ms": round(float(np.percentile(timings, 95) * 1e3), 4),
        "p99_ms": round(float(np.percentile(timings, 99) * 1e3), 4),
        "items_per_s": round(items / float(timings.sum()), 1),
    }


def measure_latency(backend: Backend, batches: list[tuple[np.ndarray, np.ndarray]], warmup: int) -> dict[str, float]:
    """p50/p95 milliseconds per batch and items per second over ``batches`` (after ``warmup`` runs); for a
    tagger with a CRF layer the time includes decoding (Viterbi), without which it has no answer."""

    def answer(batch: tuple[np.ndarray, np.ndarray]) -> None:
        logits = backend.logits(*batch)
        if backend.transitions is not None:
            backend.transitions.best_paths(logits, batch[1])

    return time_calls(answer, batches, warmup, lambda batch: len(batch[1]))
