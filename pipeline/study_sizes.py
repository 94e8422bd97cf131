"""Stage study_sizes: parameter counts and per-step CPU latency of the fused cells at equal sizes."""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.io import write_json
from seqlab.paths import Layout, repo_root
from seqlab.study.adding import configure_torch
from seqlab.study.sizes import size_table


def main() -> None:
    """Count parameters and time one step of every study cell at each hidden size and batch size."""
    layout = Layout(repo_root())
    study = load_params(layout.root / "params.yaml").study
    configure_torch(study.threads)
    write_json(layout.study_sizes, size_table(study.cells, study.sizes))


if __name__ == "__main__":
    run_entry(main)
