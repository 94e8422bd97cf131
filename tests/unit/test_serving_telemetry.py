"""The server's metrics middleware on a small app: route templates and known tasks as labels, never raw paths,
the status of every answer, and the time of a streamed answer to its end."""

import time

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from seqlab.serving.telemetry import Telemetry, TelemetryMiddleware


def _app(telemetry: Telemetry) -> FastAPI:
    app = FastAPI()
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry, tasks=["known"])

    @app.get("/v1/{task}/echo")
    def echo(task: str) -> dict[str, str]:
        return {"task": task}

    @app.get("/slow-stream")
    def slow_stream() -> StreamingResponse:
        def pieces():
            for piece in ("a", "b"):
                time.sleep(0.2)
                yield piece

        return StreamingResponse(pieces(), media_type="text/plain")

    return app


def _sample(telemetry: Telemetry, name: str, **labels: str) -> float:
    value = telemetry.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_requests_are_counted_by_route_template_known_task_and_status() -> None:
    # Guards: a label per raw path or per made-up task name (unbounded series), or requests not counted.
    telemetry = Telemetry()
    client = TestClient(_app(telemetry))
    for task in ("known", "known", "made-up-1", "made-up-2"):
        assert client.get(f"/v1/{task}/echo").status_code == 200
    assert client.get("/no/such/route").status_code == 404
    count = "seqlab_requests_total"
    assert _sample(telemetry, count, route="/v1/{task}/echo", task="known", status="200") == 2
    assert _sample(telemetry, count, route="/v1/{task}/echo", task="unknown", status="200") == 2
    assert _sample(telemetry, count, route="unmatched", task="", status="404") == 1
    series = {sample.labels.get("task") for metric in telemetry.registry.collect() for sample in metric.samples}
    assert not any(task and task.startswith("made-up") for task in series)


def test_a_streamed_answer_is_timed_to_its_last_piece() -> None:
    # Guards: timing only until the headers of a streamed generation.
    telemetry = Telemetry()
    assert TestClient(_app(telemetry)).get("/slow-stream").text == "ab"
    seconds = _sample(telemetry, "seqlab_request_seconds_sum", route="/slow-stream", task="")
    assert seconds >= 0.4


def test_error_kinds_are_counted() -> None:
    telemetry = Telemetry()
    telemetry.count_error("limit")
    telemetry.count_error("limit")
    assert _sample(telemetry, "seqlab_errors_total", kind="limit") == 2
