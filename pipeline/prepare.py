"""Stage prepare@<task>: raw data -> deduplicated train/valid/test JSONL and a manifest."""

import logging

from seqlab.config import load_params
from seqlab.data.corpus import load_corpus, prepare_corpus_task
from seqlab.data.parallel import load_parallel, prepare_parallel_task
from seqlab.data.prepare import prepare_tagged_task, prepare_task
from seqlab.data.sources import load_source
from seqlab.data.tagged import load_tagged_source
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root


def main(task: str) -> None:
    """Prepare TASK as configured in params.yaml."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    config = params.task(task)
    log = logging.getLogger(__name__)
    if config.structure == "lm":
        corpus = load_corpus(config.source, layout.root)
        manifest = prepare_corpus_task(task, config, corpus, params.seed, layout.prepared(task))
        dedup = manifest["dedup"]
        splits = {name: f"{len(counts['documents'])} documents, {counts['characters']:,} characters"
                  for name, counts in manifest["counts"].items()}
        log.info("%s: kept %d of %d documents (%d duplicates dropped); splits %s",
                 task, dedup["kept"], dedup["raw_documents"], dedup["duplicate_documents"], splits)
        return
    if config.structure == "seq2seq":
        parallel = load_parallel(config.source, layout.root)
        manifest = prepare_parallel_task(task, config, parallel, params.seed, layout.prepared(task))
        grouping = manifest["grouping"]
        splits = {name: f"{counts['items']} items, {counts['targets']} targets"
                  for name, counts in manifest["counts"].items()}
        log.info("%s: %d pairs -> %d items with %d targets (%d duplicates, %d equal without stress dropped); "
                 "splits %s", task, grouping["raw_pairs"], grouping["items"], grouping["targets"],
                 grouping["duplicate_targets"], grouping["same_without_stress"], splits)
        return
    if config.structure == "tag":
        tagged = load_tagged_source(config.source, config.labels, layout.root)
        manifest = prepare_tagged_task(task, config, tagged, params.seed, layout.prepared(task))
        sizes = {name: counts["sentences"] for name, counts in manifest["counts"].items()}
    else:  # classify, and condlm: texts with their label (the condition they are generated from)
        source = load_source(config.source, config.labels, layout.root)
        manifest = prepare_task(task, config, source, params.seed, layout.prepared(task))
        sizes = {name: sum(counts.values()) for name, counts in manifest["counts"].items()}
    dedup = manifest["dedup"]
    log.info(
        "%s: kept %d of %d rows (%d duplicates, %d contradictory texts dropped); split sizes %s",
        task, dedup["kept"], dedup["raw_rows"], dedup["duplicate_rows"], dedup["contradictory_texts"], sizes,
    )


if __name__ == "__main__":
    run_entry(main)
