"""Repeated timing of one call: every repeat's seconds, after untimed warm-up calls."""

from __future__ import annotations

import time
from collections.abc import Callable


def timed_repeats(call: Callable[[], object], repeats: int, warmup: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``call``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return seconds
