"""Stage study_report: reports/study/ (study.md and plots) from every study metric, logged to MLflow."""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root
from seqlab.study.report import write_study_report


def main() -> None:
    """Tabulate and plot the adding problem, gradient flow and size results; log them as an MLflow run."""
    layout = Layout(repo_root())
    write_study_report(layout, load_params(layout.root / "params.yaml").study)


if __name__ == "__main__":
    run_entry(main)
