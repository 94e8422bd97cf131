"""Stage prepare@<task>: raw data -> deduplicated train/valid/test JSONL and a manifest."""

import logging

from seqlab.config import load_params
from seqlab.data.tasks import prepare_any_task
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root


def main(task: str) -> None:
    """Prepare TASK as configured in params.yaml."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    summary = prepare_any_task(task, params.task(task), params.seed, layout.root, layout.prepared(task))
    logging.getLogger(__name__).info("%s", summary)


if __name__ == "__main__":
    run_entry(main)
