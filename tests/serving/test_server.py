"""`seqlab serve` as a user runs it: a real uvicorn process on 127.0.0.1 over the bundles that the tiny
pipeline wrote (every structure), driven over HTTP: each endpoint, bad input of every kind, a tampered
bundle, and a bounded load of concurrent clients."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from hashlib import sha256
from pathlib import Path

import httpx
import pytest

from seqlab.bench.load import LoadRequest, run_load

SEQLAB = str(Path(sys.executable).parent / "seqlab")

pytestmark = pytest.mark.e2e

TASKS = {"sentiment", "pos", "seg", "lm", "reviews", "g2p", "numbers"}


def _predict(server: str, task: str, **body) -> httpx.Response:
    return httpx.post(f"{server}/v1/{task}/predict", json=body, timeout=60)


def test_health_readiness_and_models(server: str, project: Path) -> None:
    # Guards: a model missing from the catalog, or reported with the wrong provider, checksum or figures.
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/readyz").json()
    assert ready["status"] == "ready" and set(ready["models"]) == TASKS
    assert {entry["provider"] for entry in ready["models"].values()} == {"CPUExecutionProvider"}
    models = {entry["task"]: entry for entry in httpx.get(f"{server}/v1/models").json()["models"]}
    assert set(models) == TASKS
    for task, entry in models.items():
        folder = project / "dist" / task
        config = json.loads((folder / "config.json").read_text())
        assert entry["run"] == config["run"] and entry["variant"] == config["model"]
        assert entry["precision"] == "int8" and entry["metrics"]["backend"] == "ort_int8"
        assert entry["version"] == config["commit"] and len(entry["version"]) == 40
        assert entry["sha256"] == sha256((folder / "SHA256SUMS").read_bytes()).hexdigest()
    assert 0 < models["sentiment"]["metrics"]["accuracy"] <= 1
    assert httpx.get(f"{server}/openapi.json").json()["paths"].keys() >= {"/v1/{task}/predict", "/v1/models"}


def test_predict_for_every_structure_matches_the_cli(server: str, project: Path, run) -> None:
    # Guards: the server answering differently from `seqlab predict` on the same bundle (one inference path).
    texts = ["这本书写得很好", "质量太差了，不推荐"]
    answer = _predict(server, "sentiment", inputs=texts).json()
    cli = run(["seqlab", "predict", "--bundle", str(project / "dist/sentiment"), "--json", *texts], project)
    expected = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [r["label"] for r in answer["results"]] == [e["label"] for e in expected]
    for result, want in zip(answer["results"], expected, strict=True):
        assert result["input"] == want["text"] and result["probability"] == pytest.approx(want["probability"])
        assert sum(result["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    tagged = _predict(server, "pos", inputs=["迈向 充满 希望 的 新 世纪"]).json()["results"][0]
    assert tagged["tokens"] == ["迈向", "充满", "希望", "的", "新", "世纪"] and len(tagged["tags"]) == 6
    words = _predict(server, "seg", inputs=["迈向充满希望的新世纪"]).json()["results"][0]["words"]
    assert "".join(words) == "迈向充满希望的新世纪"
    g2p = _predict(server, "g2p", inputs=["seqlab"], beam=3, attention=True).json()["results"][0]
    phonemes = set(json.loads((project / "dist/g2p/targets.json").read_text())["tokens"])
    assert len(g2p["outputs"]) == 3 and g2p["scores"] == sorted(g2p["scores"], reverse=True)
    assert all(set(output.split()) <= phonemes for output in g2p["outputs"])
    attention = g2p["attention"]
    assert attention["source"] == list("seqlab") and attention["output"][-1] == "<eos>"
    assert len(attention["weights"]) == len(attention["output"])
    assert all(len(row) == 6 and sum(row) == pytest.approx(1, abs=1e-3) for row in attention["weights"])
    best = run(["seqlab", "predict", "--bundle", str(project / "dist/g2p"), "seqlab"], project).stdout.strip()
    assert _predict(server, "g2p", inputs=["seqlab"]).json()["results"][0]["outputs"] == [best]


def test_generation_streams_and_a_seed_repeats_it(server: str, project: Path, run) -> None:
    # Guards: a generation sent in one piece at the end, a seed that does not repeat, or a server text that
    # differs from `seqlab generate`'s.
    body = {"prompt": "Romeo.\n", "max_length": 120, "temperature": 0.8, "seed": 3}
    pieces = []
    with httpx.stream("POST", f"{server}/v1/lm/generate", json=body, timeout=60) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
        pieces = list(response.iter_text())
    text = "".join(pieces)
    assert 0 < len(text) <= 120 and len(pieces) > 1  # sent as it was written, not as one block
    cli = run(["seqlab", "generate", "--bundle", str(project / "dist/lm"), "--prompt", "Romeo.\n", "--length", "120",
               "--temperature", "0.8", "--seed", "3"], project)
    assert cli.stdout == "Romeo.\n" + text + "\n"
    review = httpx.post(f"{server}/v1/reviews/generate", json={"condition": "pos", "max_length": 40, "seed": 1})
    assert review.status_code == 200 and len(review.text) <= 40


@pytest.mark.parametrize(("task", "endpoint", "body", "status", "says"), [
    ("sentiment", "predict", {"inputs": []}, 422, "at least 1 item"),
    ("sentiment", "predict", {"inputs": ["   "]}, 422, "inputs[0]: empty"),
    ("sentiment", "predict", {"inputs": ["好"] * 9}, 422, "at most 8 per request"),
    ("sentiment", "predict", {"inputs": ["好" * 201]}, 422, "at most 200"),
    ("sentiment", "predict", {"inputs": "好"}, 422, "valid list"),
    ("sentiment", "predict", {"inputs": [1, 2]}, 422, "valid string"),
    ("sentiment", "predict", {"text": ["好"]}, 422, "Extra inputs are not permitted"),
    ("sentiment", "predict", {"inputs": ["好"], "beam": 3}, 422, "for seq2seq models"),
    ("sentiment", "predict", {"inputs": ["☃☃☃ 𝄞"]}, 200, ""),  # characters the vocabulary lacks are <unk>
    ("g2p", "predict", {"inputs": ["word"], "beam": 1000}, 422, "at most 16"),
    ("g2p", "predict", {"inputs": ["word"], "beam": 0}, 422, "greater than or equal to 1"),
    ("nosuchtask", "predict", {"inputs": ["x"]}, 404, "served: g2p, lm, numbers"),
    ("lm", "predict", {"inputs": ["x"]}, 404, "POST /v1/lm/generate"),
    ("sentiment", "generate", {}, 404, "POST /v1/sentiment/predict"),
    ("lm", "generate", {"temperature": -1}, 422, "greater than or equal to 0"),
    ("lm", "generate", {"temperature": 1e9}, 422, "less than or equal to 10"),
    ("lm", "generate", {"top_p": 0}, 422, "greater than 0"),
    ("lm", "generate", {"top_k": -5}, 422, "greater than or equal to 0"),
    ("lm", "generate", {"max_length": 301}, 422, "at most 300"),
    ("lm", "generate", {"max_length": 0}, 422, "greater than or equal to 1"),
    ("lm", "generate", {"seed": -1}, 422, "greater than or equal to 0"),
    ("lm", "generate", {"prompt": "x" * 201}, 422, "prompt: 201 characters"),
    ("lm", "generate", {"condition": "pos"}, 422, "condition"),
    ("reviews", "generate", {"condition": "happy"}, 422, "unknown condition 'happy'"),
    ("reviews", "generate", {}, 422, "no condition"),
])
def test_bad_input_gets_a_4xx_that_says_what_to_change(server: str, task, endpoint, body, status, says) -> None:
    # Guards: a 500, a silent 200, or an error that does not tell the client what was wrong.
    response = httpx.post(f"{server}/v1/{task}/{endpoint}", json=body, timeout=60)
    assert response.status_code == status, response.text
    assert says in response.text
    assert httpx.get(f"{server}/healthz").status_code == 200


def test_bodies_that_are_not_json_or_not_utf8_or_too_large(server: str) -> None:
    # Guards: a 500 on a body the JSON parser cannot read, and reading an unbounded body.
    url = f"{server}/v1/sentiment/predict"
    headers = {"content-type": "application/json"}
    invalid = httpx.post(url, content=b'{"inputs": ["\xff\xfe"]}', headers=headers)
    assert invalid.status_code == 400 and "UTF-8" in invalid.json()["detail"]
    broken = httpx.post(url, content=b'{"inputs": [', headers=headers)
    assert broken.status_code == 422 and "JSON decode error" in broken.text
    huge = httpx.post(url, content=b" " * 10_000_000, headers=headers)
    assert huge.status_code == 413 and "at most" in huge.json()["detail"]


def test_metrics_count_requests_latency_and_errors(server: str) -> None:
    # Guards: metrics that miss requests, label raw paths (unbounded series), or lose the error kinds.
    _predict(server, "sentiment", inputs=["好"])
    _predict(server, "sentiment", inputs=[])
    _predict(server, "sentiment", inputs=["  "])
    httpx.post(f"{server}/v1/{'x' * 30}/predict", json={"inputs": ["x"]})
    text = httpx.get(f"{server}/metrics").text
    lines = [line for line in text.splitlines() if line.startswith("seqlab_")]
    assert any(line.startswith('seqlab_requests_total{route="/v1/{task}/predict",status="200",task="sentiment"}')
               for line in lines)
    assert any(line.startswith('seqlab_request_seconds_bucket{le="0.1",route="/v1/{task}/predict",task="sentiment"}')
               for line in lines)
    for kind in ("validation", "empty_input", "unknown_task"):  # each refusal counted under what was wrong
        assert any(line.startswith(f'seqlab_errors_total{{kind="{kind}"}}') for line in lines), kind
    assert "x" * 30 not in text and 'task="unknown"' in text


def test_load_of_concurrent_clients_has_no_errors(server: str) -> None:
    # Guards: failures or a crash under concurrent requests (sessions shared across the server's threads).
    requests = [LoadRequest(task, f"/v1/{task}/predict", {"inputs": [text]})
                for task, text in (("sentiment", "这本书写得很好"), ("seg", "迈向充满希望的新世纪"), ("g2p", "seqlab"))]
    results = run_load(server, requests, clients=32, seconds=10)
    for task, result in results.items():
        assert result.statuses.keys() == {200}, f"{task}: {result.statuses}"
        assert len(result.latencies) >= 10
    assert httpx.get(f"{server}/healthz").status_code == 200


@pytest.mark.parametrize("damage", ["alter", "remove"])
def test_a_tampered_or_incomplete_bundle_stops_start_up_naming_the_file(project: Path, tmp_path: Path,
                                                                       damage: str) -> None:
    # Guards: serving a model whose files are not the ones `make export` wrote.
    bundles = tmp_path / "dist"
    shutil.copytree(project / "dist", bundles)
    victim = bundles / "sentiment" / "model.int8.onnx"
    if damage == "alter":
        victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    else:
        victim.unlink()
    result = subprocess.run([SEQLAB, "serve", "--bundles", str(bundles), "--port", "1"], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert str(victim) in result.stderr.replace("\n", "")  # the console folds long lines
    assert ("checksum does not match" if damage == "alter" else "missing") in " ".join(result.stderr.split())
