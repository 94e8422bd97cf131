"""A bounded load on a running server: concurrent clients sending requests back to back for a fixed time.

Used by the serving tests (no request may fail) and by `make bench` (requests per second, p50/p99).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np


@dataclass(frozen=True)
class LoadRequest:
    """One request a client sends: a POST of ``body`` to ``path``, counted under ``name``."""

    name: str
    path: str
    body: dict[str, Any]


@dataclass
class LoadResult:
    """What the clients got for one request name: status counts and each answer's latency (seconds)."""

    statuses: Counter[int] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def summary(self, seconds: float) -> dict[str, float]:
        """Requests per second over ``seconds`` of load, p50/p99 latency in milliseconds, errors (non-200)."""
        latencies = np.array(self.latencies) * 1e3
        return {
            "requests": len(self.latencies),
            "requests_per_s": round(len(self.latencies) / seconds, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2),
            "p99_ms": round(float(np.percentile(latencies, 99)), 2),
            "errors": sum(count for status, count in self.statuses.items() if status != 200),
        }


def run_load(base_url: str, requests: Sequence[LoadRequest], clients: int, seconds: float,
             timeout: float = 60) -> dict[str, LoadResult]:
    """``clients`` concurrent clients, client n sending ``requests[n % len(requests)]`` over and over for
    ``seconds``; what each request name got. A transport failure (refused, reset, timed out) counts as status 0."""

    async def client(request: LoadRequest, deadline: float, result: LoadResult) -> None:
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout) as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    status = (await session.post(request.path, json=request.body)).status_code
                except httpx.TransportError:
                    status = 0
                result.latencies.append(time.perf_counter() - started)
                result.statuses[status] += 1

    async def load() -> dict[str, LoadResult]:
        results = {request.name: LoadResult() for request in requests}
        deadline = time.monotonic() + seconds
        assigned = [requests[n % len(requests)] for n in range(clients)]
        await asyncio.gather(*(client(request, deadline, results[request.name]) for request in assigned))
        return results

    return asyncio.run(load())
