"""Stage report: every task and run in params.yaml -> reports/summary.md, plots, champions + MLflow alias."""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root
from seqlab.report.summary import write_report


def main() -> None:
    """Compare all runs with their task's baseline and mark each task's champion (chosen on VALID accuracy)."""
    layout = Layout(repo_root())
    write_report(layout, load_params(layout.root / "params.yaml"))


if __name__ == "__main__":
    run_entry(main)
