"""Which run of each task a benchmark measures."""

from __future__ import annotations

from seqlab.config import Params
from seqlab.io import read_json
from seqlab.paths import Layout


def benched_runs(layout: Layout, params: Params) -> dict[str, str]:
    """Task -> the run to measure: its champion (reports/champions.json), or before the report stage has run,
    the last run in params.yaml that the evaluate stage has measured."""
    if layout.champions.exists():
        return {task: champion["run"] for task, champion in read_json(layout.champions).items()}
    return {config.task: run for run, config in params.runs.items() if layout.eval_metrics(run).exists()}
