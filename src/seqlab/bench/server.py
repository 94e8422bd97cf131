"""The server under load: `seqlab serve` over the bundles, one task at a time, concurrent clients sending
that task's requests (test-split inputs, one per request) back to back; requests per second and p50/p99."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import httpx

from seqlab.bench.figures import spread
from seqlab.bench.load import LoadRequest, LoadResult, run_load
from seqlab.config import GENERATIVE, BenchServerConfig
from seqlab.io import read_jsonl
from seqlab.paths import Layout
from seqlab.serving.process import server_process
from seqlab.serving.schemas import ServeLimits

THREADS_PER_CALL = 1
"""ONNX Runtime threads per call: the server runs calls side by side, one thread each (its default)."""


def request_text(record: dict[str, Any], model: dict[str, Any]) -> str:
    """What a client would send for one prepared test record of the served ``model`` (its /v1/models entry)."""
    if model["structure"] == "seq2seq":
        return record["source"]
    if model["structure"] == "tag":
        return ("" if model["tag_scheme"] == "bmes" else " ").join(record["tokens"])
    return record["text"]


def task_requests(model: dict[str, Any], layout: Layout, settings: BenchServerConfig, prompt: str,
                  max_chars: int) -> list[LoadRequest]:
    """The requests the clients take turns with for one served model: predict with one test input each, or
    generate ``settings.generate_length`` characters (from each condition in turn, for a conditioned model)."""
    task = model["task"]
    if model["structure"] in GENERATIVE:
        conditions = model["labels"] if model["structure"] == "condlm" else [None]
        return [LoadRequest(task, f"/v1/{task}/generate",
                            {"prompt": prompt, "max_length": settings.generate_length, "seed": seed,
                             **({"condition": condition} if condition else {})})
                for seed, condition in zip(range(settings.texts), itertools.cycle(conditions), strict=False)]
    test_split = layout.prepared(task) / "test.jsonl"
    texts = (request_text(record, model)[:max_chars] for _, record in read_jsonl(test_split))
    chosen = list(itertools.islice((text for text in texts if text.strip()), settings.texts))
    if not chosen:
        raise ValueError(f"{test_split}: no test input to send to the {task} model")
    return [LoadRequest(task, f"/v1/{task}/predict", {"inputs": [text]}) for text in chosen]


def bench_server(bundles: Path, layout: Layout, settings: BenchServerConfig, prompts: dict[str, str]) -> dict[str, Any]:
    """Requests per second and p50/p99 latency per served task, each as min/median/max over the rounds."""
    limits = ServeLimits()
    command = [str(Path(sys.executable).parent / "seqlab"), "serve", "--bundles", str(bundles), "--port", "{port}",
               "--threads", str(THREADS_PER_CALL)]
    with server_process(command, layout.root, "/readyz") as base:
        served = httpx.get(f"{base}/v1/models", timeout=30).json()["models"]
        tasks: dict[str, Any] = {}
        for model in served:
            requests = task_requests(model, layout, settings, prompts.get(model["task"], ""), limits.max_chars)
            rounds = [run_load(base, requests, settings.clients, settings.seconds)[model["task"]]
                      for _ in range(settings.repeats)]
            tasks[model["task"]] = _task_figures(model, rounds, settings.seconds)
    return {"clients": settings.clients, "seconds_per_round": settings.seconds, "rounds": settings.repeats,
            "generate_length": settings.generate_length, "threads_per_call": THREADS_PER_CALL, "tasks": tasks}


def _task_figures(model: dict[str, Any], rounds: list[LoadResult], seconds: float) -> dict[str, Any]:
    """One task's figures over its rounds; any answer but a 200 is an error, and errors are counted, not hidden."""
    summaries = [result.summary(seconds) for result in rounds]
    return {
        "structure": model["structure"],
        "provider": model["provider"],
        "precision": model["precision"],
        "endpoint": "generate" if model["structure"] in GENERATIVE else "predict",
        "requests_per_s": spread([summary["requests_per_s"] for summary in summaries]),
        "p50_ms": spread([summary["p50_ms"] for summary in summaries]),
        "p99_ms": spread([summary["p99_ms"] for summary in summaries]),
        "requests": sum(summary["requests"] for summary in summaries),
        "errors": sum(summary["errors"] for summary in summaries),
    }
