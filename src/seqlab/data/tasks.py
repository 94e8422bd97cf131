"""Prepare any task: pick the source reader and the splitter its structure needs, and say what was kept."""

from __future__ import annotations

from pathlib import Path

from seqlab.config import TaskConfig
from seqlab.data.corpus import load_corpus, prepare_corpus_task
from seqlab.data.parallel import load_parallel, prepare_parallel_task
from seqlab.data.prepare import prepare_tagged_task, prepare_task
from seqlab.data.sources import load_source
from seqlab.data.tagged import load_tagged_source


def prepare_any_task(task_name: str, config: TaskConfig, seed: int, root: Path, out_dir: Path) -> str:
    """Read ``config``'s source (paths relative to ``root``), deduplicate and split it into ``out_dir``
    (atomically); returns one line saying what was kept and how the splits came out."""
    if config.structure == "lm":  # whole documents (plays)
        manifest = prepare_corpus_task(task_name, config, load_corpus(config.source, root), seed, out_dir)
        dedup = manifest["dedup"]
        splits = {name: f"{len(counts['documents'])} documents, {counts['characters']:,} characters"
                  for name, counts in manifest["counts"].items()}
        return (f"{task_name}: kept {dedup['kept']} of {dedup['raw_documents']} documents "
                f"({dedup['duplicate_documents']} duplicates dropped); splits {splits}")
    if config.structure == "seq2seq":  # a source with all its targets (a word and its pronunciations)
        manifest = prepare_parallel_task(task_name, config, load_parallel(config.source, root), seed, out_dir)
        grouping = manifest["grouping"]
        splits = {name: f"{counts['items']} items, {counts['targets']} targets"
                  for name, counts in manifest["counts"].items()}
        return (f"{task_name}: {grouping['raw_pairs']} pairs -> {grouping['items']} items with {grouping['targets']} "
                f"targets ({grouping['duplicate_targets']} duplicates, {grouping['same_without_stress']} equal without "
                f"stress dropped); splits {splits}")
    if config.structure == "tag":
        tagged = load_tagged_source(config.source, config.labels, root)
        manifest = prepare_tagged_task(task_name, config, tagged, seed, out_dir)
        sizes = {name: counts["sentences"] for name, counts in manifest["counts"].items()}
    else:  # classify, and condlm: texts with their label (the condition they are generated from)
        manifest = prepare_task(task_name, config, load_source(config.source, config.labels, root), seed, out_dir)
        sizes = {name: sum(counts.values()) for name, counts in manifest["counts"].items()}
    dedup = manifest["dedup"]
    return (f"{task_name}: kept {dedup['kept']} of {dedup['raw_rows']} rows ({dedup['duplicate_rows']} duplicates, "
            f"{dedup['contradictory_texts']} contradictory texts dropped); split sizes {sizes}")
