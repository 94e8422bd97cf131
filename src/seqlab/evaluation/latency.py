"""Latency of a backend on real sequences: the same seeded batches for every backend."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence

import numpy as np

from seqlab.inference.backends import Backend
from seqlab.text.encoding import pad_batch


def latency_batches(sequences: Sequence[Sequence[int]], batch_size: int, count: int, pad_id: int,
                    seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` padded batches of ``batch_size`` test sequences drawn with a seeded generator."""
    rng = random.Random(seed)
    return [pad_batch(rng.sample(list(sequences), batch_size), pad_id) for _ in range(count)]


def measure_latency(backend: Backend, batches: list[tuple[np.ndarray, np.ndarray]], warmup: int) -> dict[str, float]:
    """p50/p95 milliseconds per batch and items per second over ``batches`` (after ``warmup`` runs)."""
    for tokens, lengths in batches[:warmup]:
        backend.logits(tokens, lengths)
    timings = []
    for tokens, lengths in batches:
        started = time.perf_counter()
        backend.logits(tokens, lengths)
        timings.append(time.perf_counter() - started)
    seconds = np.array(timings)
    items = sum(len(lengths) for _, lengths in batches)
    return {
        "p50_ms": round(float(np.percentile(seconds, 50) * 1e3), 3),
        "p95_ms": round(float(np.percentile(seconds, 95) * 1e3), 3),
        "items_per_s": round(items / float(seconds.sum()), 1),
    }
