"""Data expectations on the real prepared sentiment splits: clean data pass, each corruption is caught."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from suite_helpers import failure_line

from seqlab.config import TaskConfig, load_params
from seqlab.data import expectations
from seqlab.data.expectations import validate_splits
from seqlab.data.prepare import prepare_task
from seqlab.data.sources import load_source
from seqlab.data.validation_report import ValidationReport
from seqlab.io import read_jsonl, write_jsonl
from seqlab.paths import SPLITS

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_SPLIT = 2000  # the real rows, in file order, cut to keep the tests fast

Splits = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def task() -> TaskConfig:
    return load_params(ROOT / "params.yaml").task("sentiment")


@pytest.fixture(scope="module")
def prepared(task: TaskConfig, tmp_path_factory: pytest.TempPathFactory) -> Splits:
    params = load_params(ROOT / "params.yaml")
    out = tmp_path_factory.mktemp("prepared") / "sentiment"
    prepare_task("sentiment", task, load_source(task.source, task.labels, ROOT), params.seed, out)
    return {name: [row for _, row in read_jsonl(out / f"{name}.jsonl")][:ROWS_PER_SPLIT] for name in SPLITS}


@pytest.fixture
def splits(prepared: Splits) -> Splits:
    return copy.deepcopy(prepared)


def check(splits: Splits, task: TaskConfig) -> ValidationReport:
    return validate_splits(splits, task.labels, task.checks, docs_dir=None)


# Guards against false alarms: the real prepared data meet every expectation, quietly (no progress bars).
def test_clean_splits_pass(splits: Splits, task: TaskConfig, capfd: pytest.CaptureFixture[str]) -> None:
    report = check(splits, task)
    assert report.success, report.failure_message()
    assert report.failure_message() == ""
    assert {outcome.split for outcome in report.results} == set(SPLITS)
    json.dumps(report.to_dict())  # JSON-ready: no numpy scalars or NaN left
    assert "Calculating Metrics" not in capfd.readouterr().err


# Guards against empty reviews reaching the tokenizer (an empty text must fail the length bounds).
def test_empty_text_is_named(splits: Splits, task: TaskConfig) -> None:
    splits["test"][7]["text"] = ""
    line = failure_line(check(splits, task), "test", "expect_column_value_lengths_to_be_between", "text")
    assert "1 row" in line and 'line 8: ""' in line


# Guards against labels outside params.yaml's label set (they would break the label encoding).
def test_unknown_label_is_named(splits: Splits, task: TaskConfig) -> None:
    splits["valid"][3]["label"] = "neutral"
    line = failure_line(check(splits, task), "valid", "expect_column_values_to_be_in_set", "label")
    assert 'line 4: "neutral"' in line


# Guards against leakage: a training text in the test split inflates the test score.
def test_text_in_two_splits_is_named(splits: Splits, task: TaskConfig) -> None:
    splits["test"][11]["text"] = splits["train"][0]["text"]
    report = check(splits, task)
    assert "line 12:" in failure_line(report, "test", "expect_column_values_to_be_in_set", "in_other_split")
    assert "line 1:" in failure_line(report, "train", "expect_column_values_to_be_in_set", "in_other_split")
    assert "no text appears in two splits" in report.failure_message()


# Guards against duplicates within a split (they weight some reviews twice).
def test_duplicate_text_is_named(splits: Splits, task: TaskConfig) -> None:
    splits["train"][5]["text"] = splits["train"][2]["text"]
    line = failure_line(check(splits, task), "train", "expect_column_values_to_be_unique", "text")
    assert "2 rows" in line and "line 3:" in line and "line 6:" in line


# Guards against a split where one class is too rare to measure (share under checks.min_class_share).
def test_rare_class_is_named(splits: Splits, task: TaskConfig) -> None:
    negatives = [row for row in splits["valid"] if row["label"] == "neg"]
    rare = set(map(id, negatives[20:]))
    splits["valid"] = [row for row in splits["valid"] if id(row) not in rare]
    first_neg = next(i for i, row in enumerate(splits["valid"]) if row["label"] == "neg") + 1
    line = failure_line(check(splits, task), "valid", "expect_column_min_to_be_between", "label_share")
    assert f'line {first_neg}: label "neg"' in line and "20 rows" in line


# Guards the case the share column cannot see: a label missing from a split altogether.
def test_missing_class_is_named(splits: Splits, task: TaskConfig) -> None:
    splits["test"] = [row for row in splits["test"] if row["label"] == "pos"]
    line = failure_line(check(splits, task), "test", "expect_column_distinct_values_to_contain_set", "label")
    assert "missing label(s): neg" in line


# Guards the human-readable output: Data Docs are built into the folder, without temporary leftovers.
def test_data_docs_written(splits: Splits, task: TaskConfig, tmp_path: Path) -> None:
    splits["test"][0]["text"] = ""
    report = validate_splits(splits, task.labels, task.checks, docs_dir=tmp_path / "docs")
    assert not report.success  # docs are written for failed runs too
    assert (tmp_path / "docs" / "index.html").is_file()
    assert len(list((tmp_path / "docs" / "validations").rglob("*.html"))) == len(SPLITS)
    assert [path.name for path in tmp_path.iterdir()] == ["docs"]


# Guards atomicity: a crash while building the docs leaves the earlier docs folder as it was.
def test_data_docs_kept_on_crash(
    splits: Splits, task: TaskConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("earlier")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(expectations, "_validate", crash)
    with pytest.raises(RuntimeError, match="boom"):
        validate_splits(splits, task.labels, task.checks, docs_dir=tmp_path / "docs")
    assert (tmp_path / "docs" / "index.html").read_text() == "earlier"
    assert [path.name for path in tmp_path.iterdir()] == ["docs"]


# Guards the stage entry: a leak exits 1 with the expectation in stderr, after writing report and docs.
def test_stage_fails_cleanly(prepared: Splits, tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("")
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    folder = tmp_path / "data" / "prepared" / "sentiment"
    splits = {name: copy.deepcopy(rows[:300]) for name, rows in prepared.items()}
    splits["test"][4]["text"] = splits["train"][9]["text"]
    for name, rows in splits.items():
        write_jsonl(folder / f"{name}.jsonl", rows)
    run = subprocess.run(
        [sys.executable, str(ROOT / "pipeline" / "validate.py"), "sentiment"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr and "Calculating Metrics" not in run.stderr
    assert "test.jsonl: expect_column_values_to_be_in_set on column in_other_split" in run.stderr
    assert "(no text appears in two splits): 1 row, e.g. line 5:" in run.stderr
    report = json.loads((tmp_path / "reports" / "validation" / "sentiment.json").read_text(encoding="utf-8"))
    assert report["success"] is False and report["failed"] == 2
    assert (tmp_path / "reports" / "validation" / "sentiment_docs" / "index.html").is_file()
