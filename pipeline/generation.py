"""Stage generation: samples of every generating run and the condition agreement of conditioned ones.

Runs after the report, because conditioned text is judged by the champion of a classifier task
(params generation.classifier_task). Writes reports/generation.md and reports/generation.json.
"""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root
from seqlab.report.generation import write_generation_report


def main() -> None:
    """Generate samples with every lm/condlm run; measure the condition agreement of condlm runs."""
    layout = Layout(repo_root())
    write_generation_report(layout, load_params(layout.root / "params.yaml"))


if __name__ == "__main__":
    run_entry(main)
