"""Stage prepare@<task>: raw data -> deduplicated train/valid/test JSONL and a manifest."""

import logging

from seqlab.config import load_params
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
    if config.structure == "tag":
        tagged = load_tagged_source(config.source, config.labels, layout.root)
        manifest = prepare_tagged_task(task, config, tagged, params.seed, layout.prepared(task))
        sizes = {name: counts["sentences"] for name, counts in manifest["counts"].items()}
    else:
        source = load_source(config.source, config.labels, layout.root)
        manifest = prepare_task(task, config, source, params.seed, layout.prepared(task))
        sizes = {name: sum(counts.values()) for name, counts in manifest["counts"].items()}
    dedup = manifest["dedup"]
    logging.getLogger(__name__).info(
        "%s: kept %d of %d rows (%d duplicates, %d contradictory texts dropped); split sizes %s",
        task, dedup["kept"], dedup["raw_rows"], dedup["duplicate_rows"], dedup["contradictory_texts"], sizes,
    )


if __name__ == "__main__":
    run_entry(main)
