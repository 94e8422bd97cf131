"""The FastAPI app: a playground page, health, readiness, the served models, predict and streamed generation
per task, metrics.

Every request a client gets wrong is answered with a 4xx whose ``detail`` says what to change; nothing
a client sends is meant to reach a 500. Sessions are built before the app (``load_catalog``), so a
server that answers is ready; ``/readyz`` lists what runs where.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi import Path as PathParameter
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from seqlab.inference.bundle import ClassifierBundle, GeneratorBundle, Seq2SeqBundle, TaggerBundle
from seqlab.inference.generate import Sampler
from seqlab.serving.catalog import ServedModel
from seqlab.serving.schemas import (
    ERROR_RESPONSES,
    GenerateRequest,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
    ServeLimits,
)
from seqlab.serving.telemetry import BodyLimitMiddleware, Telemetry, TelemetryMiddleware

logger = logging.getLogger(__name__)

ERROR_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
"""The error kind counted for an HTTP error that names none (see :class:`Refused`)."""


PREDICTING = (ClassifierBundle, TaggerBundle, Seq2SeqBundle)
GENERATING = (GeneratorBundle,)


def _task_parameter(catalog: dict[str, ServedModel], kinds: tuple[type, ...]) -> Any:
    """The ``task`` path parameter, documented with the served tasks an endpoint takes (any other is a 404)."""
    tasks = sorted(task for task, entry in catalog.items() if isinstance(entry.model, kinds))
    return PathParameter(description="a served task", json_schema_extra={"enum": tasks}, examples=tasks[:1])


class Refused(HTTPException):
    """A request the server turns down, with the status, what to change, and the kind /metrics counts it under."""

    def __init__(self, status: int, detail: str, kind: str) -> None:
        super().__init__(status, detail)
        self.kind = kind


def create_app(catalog: dict[str, ServedModel], limits: ServeLimits | None = None) -> FastAPI:
    """The server over ``catalog`` (task -> loaded bundle) with per-request ``limits``."""
    limits = limits or ServeLimits()
    telemetry = Telemetry()
    app = FastAPI(title="seqlab", summary="Recurrent sequence models served with ONNX Runtime.",
                  description="One model per task, from the bundles `make export` writes. "
                              f"Tasks served: {', '.join(sorted(catalog))}.")
    # A body far larger than any request within the limits (UTF-8 is at most 4 bytes a character) is refused
    # unread; the telemetry middleware, added last, is the outer one and counts that answer too.
    app.add_middleware(BodyLimitMiddleware, telemetry=telemetry,
                       limit=limits.max_items * limits.max_chars * 4 + 65_536,
                       explanation=f"{limits.max_items} inputs of {limits.max_chars} characters")
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry, tasks=list(catalog))
    _add_error_handlers(app, telemetry)

    def served(task: str, kinds: tuple[type, ...], endpoint: str) -> ServedModel:
        if task not in catalog:
            raise Refused(404, f"no model serves task '{task}'; served: {', '.join(sorted(catalog))}", "unknown_task")
        entry = catalog[task]
        if not isinstance(entry.model, kinds):
            other = "predict" if endpoint == "generate" else "generate"
            raise Refused(404, f"task '{task}' is a {entry.info['structure']} model, which has no {endpoint} "
                               f"endpoint: POST /v1/{task}/{other}", "wrong_endpoint")
        return entry

    playground = files("seqlab.serving").joinpath("playground.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> HTMLResponse:
        """A page to try every served model from a browser (it calls the endpoints below)."""
        return HTMLResponse(playground)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> dict[str, Any]:
        """Every model is loaded; where each runs."""
        return {"status": "ready",
                "models": {task: {"provider": entry.model.provider, "precision": entry.model.precision}
                           for task, entry in catalog.items()}}

    @app.get("/v1/models", tags=["models"])
    def models() -> ModelsResponse:
        """Task, run, variant, version, checksum, provider and test figures of every served model."""
        return ModelsResponse(models=[catalog[task].info for task in sorted(catalog)])

    @app.post("/v1/{task}/predict", tags=["predict"], responses=ERROR_RESPONSES)
    # The task parameters are defaults, not Annotated: annotations are strings here, and a local is not in scope.
    def predict(request: PredictRequest, task: str = _task_parameter(catalog, PREDICTING)) -> PredictResponse:
        """Classify, tag, segment or transduce (seq2seq) a batch of texts with the task's model."""
        entry = served(task, PREDICTING, "predict")
        _check_inputs(request, limits, isinstance(entry.model, Seq2SeqBundle))
        return PredictResponse(task=task, run=entry.info["run"], provider=entry.model.provider,
                               precision=entry.model.precision, results=_results(entry.model, request))

    @app.post("/v1/{task}/generate", tags=["generate"], response_class=StreamingResponse,
              responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the text, streamed as written"}, **ERROR_RESPONSES})
    def generate(request: GenerateRequest, task: str = _task_parameter(catalog, GENERATING)) -> StreamingResponse:
        """Generate a text with the task's language model, streamed character by character."""
        entry = served(task, GENERATING, "generate")
        if len(request.prompt) > limits.max_chars:
            raise Refused(422, f"prompt: {len(request.prompt)} characters, at most {limits.max_chars}", "too_long")
        if request.max_length > limits.max_length:
            raise Refused(422, f"max_length: {request.max_length}, at most {limits.max_length} characters", "too_long")
        sampler = Sampler(request.temperature, request.top_k, request.top_p, request.seed)
        # stream() checks the condition now, so a bad one is a 4xx before any text is sent.
        characters = entry.model.stream(request.prompt, request.max_length, sampler, request.condition)
        return StreamingResponse(_logged(characters, task), media_type="text/plain; charset=utf-8",
                                 headers={"X-Seqlab-Provider": entry.model.provider})

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics() -> Response:
        """Request counts, latency histograms and errors by kind, for Prometheus."""
        return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _check_inputs(request: PredictRequest, limits: ServeLimits, searches: bool) -> None:
    """Over-limit and empty inputs, and search options for a model that does not search, are 422s."""
    if len(request.inputs) > limits.max_items:
        raise Refused(422, f"inputs: {len(request.inputs)} texts, at most {limits.max_items} per request: "
                           "split the batch", "too_many_items")
    for position, text in enumerate(request.inputs):
        if not text.strip():
            raise Refused(422, f"inputs[{position}]: empty or only spaces; send at least one character", "empty_input")
        if len(text) > limits.max_chars:
            raise Refused(422, f"inputs[{position}]: {len(text)} characters, at most {limits.max_chars}", "too_long")
    if not searches and (request.beam is not None or request.attention):
        raise Refused(422, "beam and attention are for seq2seq models; leave them out", "bad_option")
    if request.beam is not None and request.beam > limits.max_beam:
        raise Refused(422, f"beam: {request.beam}, at most {limits.max_beam}", "bad_option")


def _results(model: Any, request: PredictRequest) -> list[dict[str, Any]]:
    """One JSON-ready result per input."""
    if isinstance(model, Seq2SeqBundle):
        results = []
        for found in model.transduce(request.inputs, request.beam):
            result = asdict(found)
            if request.attention:
                result["attention"] = asdict(model.attention(found.source, found.outputs[0] if found.outputs else ""))
            results.append(result)
        return results
    return [{"input": text, **asdict(result)}
            for text, result in zip(request.inputs, model.predict(request.inputs), strict=True)]


def _logged(characters: Iterator[str], task: str) -> Iterator[str]:
    """``characters`` as they come; a failure after the response has started can only be logged."""
    try:
        yield from characters
    except Exception:
        logger.exception("generation for %s failed after the response started", task)
        raise


def _add_error_handlers(app: FastAPI, telemetry: Telemetry) -> None:
    """4xx answers that say what to change, each counted by kind; anything else is a counted, logged 500."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        telemetry.count_error("validation")
        return await request_validation_exception_handler(request, error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        telemetry.count_error(getattr(error, "kind", None) or ERROR_KINDS.get(error.status_code,
                                                                              f"http_{error.status_code}"))
        if error.status_code == 400 and error.detail == "There was an error parsing the body":
            # FastAPI's answer to a body that is not UTF-8 (invalid JSON gets a 422 of its own).
            error = StarletteHTTPException(400, "the request body must be JSON encoded as UTF-8")
        return await http_exception_handler(request, error)

    @app.exception_handler(ValueError)
    async def bad_input(request: Request, error: ValueError) -> JSONResponse:
        telemetry.count_error("bad_input")  # the model rejected what it was given, e.g. an unknown condition
        return JSONResponse({"detail": str(error)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> JSONResponse:
        telemetry.count_error("internal")
        logger.exception("%s %s failed", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server's log says more"}, status_code=500)
