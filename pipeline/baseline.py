"""Stage baseline@<task>: char n-gram TF-IDF + logistic regression, the bar every RNN must clear."""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.io import write_json
from seqlab.paths import Layout, repo_root
from seqlab.report.baseline import train_baseline


def main(task: str) -> None:
    """Fit and score the baseline on TASK's prepared splits."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    config = params.task(task)
    metrics = train_baseline(layout.prepared(task), config.labels, params.seed)
    write_json(layout.baseline(task), metrics)


if __name__ == "__main__":
    run_entry(main)
