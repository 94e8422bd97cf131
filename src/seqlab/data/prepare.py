"""Clean, deduplicate and split labelled texts; describe the result in a manifest."""

from __future__ import annotations

import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqlab.config import SplitConfig, TaskConfig
from seqlab.data.sources import LabelledText, SourceData
from seqlab.io import atomic_path, sha256_file, write_json, write_jsonl
from seqlab.paths import SPLITS

_WHITESPACE = re.compile(r"\s+")


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
    by_text: dict[str, list[LabelledText]] = defaultdict(list)
    for item in items:
        text = normalise_text(item.text)
        if not text:
            stats.empty_rows += 1
            continue
        by_text[text].append(LabelledText(text, item.label, item.origin))
    kept = []
    contradictory = []
    for text in sorted(by_text):
        copies = by_text[text]
        if len({copy.label for copy in copies}) > 1:
            stats.contradictory_texts += 1
            stats.contradictory_rows += len(copies)
            contradictory.append(", ".join(copy.origin for copy in copies))
            continue
        stats.duplicate_rows += len(copies) - 1
        kept.append(copies[0])
    stats.kept = len(kept)
    stats.examples = {"contradictory": contradictory[:5]}
    return kept, stats


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


def prepare_task(task_name: str, task: TaskConfig, source: SourceData, seed: int, out_dir: Path) -> dict[str, Any]:
    """Deduplicate and split ``source`` into ``out_dir``/{train,valid,test}.jsonl plus manifest.json.

    The folder is written atomically: a failure leaves any earlier output untouched.
    Returns the manifest.
    """
    kept, stats = deduplicate(source.items)
    splits = stratified_split(kept, task.split, seed)
    with atomic_path(out_dir) as staging:
        staging.mkdir()
        for name, rows in splits.items():
            records = ({"text": r.text, "label": r.label, "origin": r.origin} for r in rows)
            write_jsonl(staging / f"{name}.jsonl", records)
        manifest = {
            "task": task_name,
            "source": {
                "kind": task.source.kind,
                "package": source.package,
                "package_version": source.package_version,
                "files": [{"name": path.name, "sha256": sha256_file(path)} for path in source.files],
            },
            "seed": seed,
            "split_shares": task.split.model_dump(),
            "dedup": vars(stats),
            "counts": {name: dict(sorted(Counter(r.label for r in rows).items())) for name, rows in splits.items()},
            "files": {f"{name}.jsonl": sha256_file(staging / f"{name}.jsonl") for name in SPLITS},
        }
        write_json(staging / "manifest.json", manifest)
    return manifest
