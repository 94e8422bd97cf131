"""Atomic writes never leave half a file; line-numbered reads name the file and line."""

from pathlib import Path

import pytest

from seqlab.io import InputError, atomic_path, read_jsonl, read_lines, write_json


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    # Guards: a crash mid-write destroying the previous good output.
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial", encoding="utf-8")
        raise RuntimeError("boom")
    assert target.read_text(encoding="utf-8").strip().startswith("{")
    assert list(tmp_path.iterdir()) == [target]  # no temporary left behind


def test_directory_is_replaced_whole(tmp_path: Path) -> None:
    # Guards: stale files of an earlier run surviving in an output folder.
    target = tmp_path / "folder"
    target.mkdir()
    (target / "stale.txt").write_text("old", encoding="utf-8")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["new.txt"]


def test_bad_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.tsv"
    path.write_bytes("好\tpos\n".encode() + b"\xff\xfe bad\tneg\n")
    with pytest.raises(InputError, match=r"data.tsv:2: not valid UTF-8"):
        list(read_lines(path))


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"data.jsonl:2: not valid JSON"):
        list(read_jsonl(path))
