"""Clean, deduplicate and split labelled texts or tagged sentences; describe the result in a manifest.

Classify tasks are split per label (stratified) after a seeded shuffle. Tag tasks are split by a
seeded hash of each sentence's text, so every tag task over the same text (pos and seg) puts a
sentence in the same split, whichever task is prepared and in whatever order.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from seqlab.config import SplitConfig, TaskConfig
from seqlab.data.sources import LabelledText, SourceData
from seqlab.data.tagged import NOISE_TAGS, TaggedSentence, TaggedSource
from seqlab.io import InputError, atomic_path, read_jsonl, sha256_file, write_json, write_jsonl
from seqlab.paths import SPLITS

_WHITESPACE = re.compile(r"\s+")
Item = TypeVar("Item", LabelledText, TaggedSentence)


def normalise_text(text: str) -> str:
    """Collapse every run of whitespace to one space and trim the ends."""
    return _WHITESPACE.sub(" ", text).strip()


@dataclass
class DedupStats:
    """What deduplication removed."""

    raw_rows: int = 0
    empty_rows: int = 0
    duplicate_rows: int = 0
    contradictory_texts: int = 0
    contradictory_rows: int = 0
    kept: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)


def deduplicate(items: list[LabelledText]) -> tuple[list[LabelledText], DedupStats]:
    """Normalise whitespace, keep one copy of each text, drop texts seen with more than one label.

    The result is sorted by text, so it does not depend on the order of the input files.
    """
    stats = DedupStats(raw_rows=len(items))
    keyed = []
    for item in items:
        text = normalise_text(item.text)
        if not text:
            stats.empty_rows += 1
            continue
        keyed.append((text, LabelledText(text, item.label, item.origin)))
    return _unique(keyed, lambda item: item.label, stats), stats


def deduplicate_sentences(sentences: list[TaggedSentence]) -> tuple[list[TaggedSentence], DedupStats]:
    """Keep one copy of each sentence (its text: the tokens joined), drop sentences seen with two taggings.

    A sentence tokenized or tagged two ways (e.g. ``钟行/nr`` and ``钟/nr 行/nr``) is dropped with all its
    copies, as a text with two labels is: nobody can tell which annotation is right. Sorted by text.
    """
    stats = DedupStats(raw_rows=len(sentences))
    kept = _unique([(s.text, s) for s in sentences], lambda s: (s.tokens, s.tags), stats)
    return kept, stats


def _unique(keyed: list[tuple[str, Item]], answer: Callable[[Item], Hashable], stats: DedupStats) -> list[Item]:
    """One item per key, sorted by key; keys whose copies disagree on ``answer`` are dropped. Updates ``stats``."""
    by_key: dict[str, list[Item]] = defaultdict(list)
    for key, item in keyed:
        by_key[key].append(item)
    kept = []
    contradictory = []
    for key in sorted(by_key):
        copies = by_key[key]
        if len({answer(copy) for copy in copies}) > 1:
            stats.contradictory_texts += 1
            stats.contradictory_rows += len(copies)
            contradictory.append(", ".join(copy.origin for copy in copies))
            continue
        stats.duplicate_rows += len(copies) - 1
        kept.append(copies[0])
    stats.kept = len(kept)
    stats.examples = {"contradictory": contradictory[:5]}
    return kept


def stratified_split(items: list[LabelledText], shares: SplitConfig, seed: int) -> dict[str, list[LabelledText]]:
    """Split each label's items by the given shares after a seeded shuffle.

    Items must already be unique texts, so no text can land in two splits.
    """
    by_label: dict[str, list[LabelledText]] = defaultdict(list)
    for item in items:
        by_label[item.label].append(item)
    rng = random.Random(seed)
    splits: dict[str, list[LabelledText]] = {name: [] for name in SPLITS}
    for label in sorted(by_label):
        group = by_label[label]
        rng.shuffle(group)
        n_train = round(len(group) * shares.train)
        n_valid = round(len(group) * shares.valid)
        splits["train"] += group[:n_train]
        splits["valid"] += group[n_train : n_train + n_valid]
        splits["test"] += group[n_train + n_valid :]
    for name in SPLITS:
        rng.shuffle(splits[name])
    return splits


def _draw(text: str, seed: int) -> float:
    """A number in [0, 1) fixed by ``seed`` and ``text`` alone: SHA-256 of both, as a fraction."""
    digest = hashlib.sha256(f"{seed}\n{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hashed_split(sentences: list[TaggedSentence], shares: SplitConfig, seed: int) -> dict[str, list[TaggedSentence]]:
    """Put each sentence in the split its seeded hash falls in (shares as cut points); order each split by it.

    The split of a sentence depends only on its text, the seed and the shares, not on the other
    sentences: two tasks over the same text agree sentence by sentence, and the shares are met
    up to sampling noise (about 0.2 points for 19k sentences). Sentences must be unique texts.
    """
    cuts = (("train", shares.train), ("valid", shares.train + shares.valid))
    drawn: dict[str, list[tuple[float, TaggedSentence]]] = {name: [] for name in SPLITS}
    for sentence in sentences:
        draw = _draw(sentence.text, seed)
        name = next((name for name, cut in cuts if draw < cut), "test")
        drawn[name].append((draw, sentence))
    return {name: [sentence for _, sentence in sorted(rows, key=lambda row: row[0])] for name, rows in drawn.items()}


class DescribedSource(Protocol):
    """What every source yields beside its data: the files read and the package (and version) that ships them."""

    files: list[Path]
    package: str | None
    package_version: str | None


def manifest_head(task_name: str, task: TaskConfig, source: DescribedSource, seed: int) -> dict[str, Any]:
    """The fields every prepare manifest starts with: the task and its structure, the source (kind, package,
    version, each file's SHA-256), the seed and the split shares."""
    return {
        "task": task_name,
        "structure": task.structure,
        "source": {
            "kind": task.source.kind,
            "package": source.package,
            "package_version": source.package_version,
            "files": [{"name": path.name, "sha256": sha256_file(path)} for path in source.files],
        },
        "seed": seed,
        "split_shares": task.split.model_dump(),
    }


def write_prepared(out_dir: Path, records: dict[str, Iterable[dict[str, Any]]], manifest: dict[str, Any]) -> None:
    """Write each split's JSONL and the manifest (with the splits' SHA-256 added) as one atomic folder."""
    with atomic_path(out_dir) as staging:
        staging.mkdir()
        for name, rows in records.items():
            write_jsonl(staging / f"{name}.jsonl", rows)
        manifest["files"] = {f"{name}.jsonl": sha256_file(staging / f"{name}.jsonl") for name in SPLITS}
        write_json(staging / "manifest.json", manifest)


def require_prepared(folder: Path, splits: tuple[str, ...] = SPLITS) -> None:
    """An InputError naming the first of ``splits`` missing from the prepared ``folder`` and the stage that
    makes it."""
    for split in splits:
        path = folder / f"{split}.jsonl"
        if not path.exists():
            raise InputError(f"{path}: file not found; it is made by stage prepare@{folder.name}")


def read_prepared(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every split's rows of a prepared folder (what :func:`write_prepared` wrote), by split name."""
    return {name: [row for _, row in read_jsonl(folder / f"{name}.jsonl")] for name in SPLITS}


def prepare_task(task_name: str, task: TaskConfig, source: SourceData, seed: int, out_dir: Path) -> dict[str, Any]:
    """Deduplicate and split ``source`` into ``out_dir``/{train,valid,test}.jsonl plus manifest.json.

    The folder is written atomically: a failure leaves any earlier output untouched.
    Returns the manifest.
    """
    kept, stats = deduplicate(source.items)
    splits = stratified_split(kept, task.split, seed)
    manifest = {
        **manifest_head(task_name, task, source, seed),
        "dedup": vars(stats),
        "counts": {name: dict(sorted(Counter(r.label for r in rows).items())) for name, rows in splits.items()},
    }
    records = {
        name: ({"text": r.text, "label": r.label, "origin": r.origin} for r in rows) for name, rows in splits.items()
    }
    write_prepared(out_dir, records, manifest)
    return manifest


def prepare_tagged_task(
    task_name: str, task: TaskConfig, source: TaggedSource, seed: int, out_dir: Path
) -> dict[str, Any]:
    """Deduplicate and hash-split tagged sentences into ``out_dir``/{train,valid,test}.jsonl plus manifest.json.

    Each row is ``{"tokens": [...], "tags": [...], "origin": "file:line"}``. Written atomically;
    returns the manifest.
    """
    kept, stats = deduplicate_sentences(source.sentences)
    splits = hashed_split(kept, task.split, seed)
    manifest = {
        **manifest_head(task_name, task, source, seed),
        "split_rule": "each sentence goes to the split its seeded SHA-256 hash falls in (prepare.hashed_split)",
        "dedup": vars(stats),
        "noise_tags": {
            tag: {"replaced_by": NOISE_TAGS[tag], "tokens": len(where), "origins": where}
            for tag, where in sorted(source.replaced_tags.items())
        },
        "counts": {
            name: {
                "sentences": len(rows),
                "tokens": sum(len(r.tokens) for r in rows),
                "tags": dict(sorted(Counter(tag for r in rows for tag in r.tags).items())),
            }
            for name, rows in splits.items()
        },
    }
    records = {
        name: ({"tokens": list(r.tokens), "tags": list(r.tags), "origin": r.origin} for r in rows)
        for name, rows in splits.items()
    }
    write_prepared(out_dir, records, manifest)
    return manifest
