"""Prometheus metrics of the server: requests by route, task and status, their latency, errors by kind;
and the guard that refuses an oversized body before anything reads it.

One registry per app (tests build several apps in one process). The middleware is plain ASGI, so it
sees a streamed generation to its last character and the route template FastAPI matched (``/v1/{task}
/predict``), never the raw path: label values stay few whatever clients send.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.responses import JSONResponse

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Telemetry:
    """The server's counters and histograms, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("seqlab_requests", "HTTP requests served", ["route", "task", "status"],
                                registry=self.registry)
        self.latency = Histogram("seqlab_request_seconds", "Time to serve a request, to its last byte",
                                 ["route", "task"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("seqlab_errors", "Requests that failed, by kind", ["kind"], registry=self.registry)

    def count_error(self, kind: str) -> None:
        """One more failed request of ``kind`` (validation, bad_request, not_found, internal, ...)."""
        self.errors.labels(kind=kind).inc()


class TelemetryMiddleware:
    """Times every HTTP request and counts it by the route it matched, its task and its status."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, tasks: Collection[str]) -> None:
        self.app = app
        self.telemetry = telemetry
        self.tasks = set(tasks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            task = scope.get("path_params", {}).get("task", "")
            task = task if task in self.tasks or not task else "unknown"
            self.telemetry.requests.labels(route=route, task=task, status=str(status["code"])).inc()
            self.telemetry.latency.labels(route=route, task=task).observe(time.perf_counter() - started)


class BodyLimitMiddleware:
    """Answers 413 to a request whose Content-Length is over ``limit`` bytes, before its body is read (the
    routes parse the body before any dependency of theirs could look at it)."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry, limit: int, explanation: str) -> None:
        self.app = app
        self.telemetry = telemetry
        self.limit = limit
        self.explanation = explanation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            if length.isdigit() and int(length) > self.limit:
                self.telemetry.count_error("too_large")
                detail = f"request body of {int(length)} bytes; at most {self.limit} are read ({self.explanation})"
                await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
                return
        await self.app(scope, receive, send)
