"""Stage study_gradients@<cell>: ||dLoss/dh_t|| by distance at init, after clipped and after unclipped training."""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root
from seqlab.study.adding import configure_torch
from seqlab.study.gradients import write_gradient_flow


def main(cell: str) -> None:
    """Train CELL without clipping at study.gradients.length and measure the gradient flow of all three models."""
    layout = Layout(repo_root())
    study = load_params(layout.root / "params.yaml").study
    study.check(cell)
    configure_torch(study.threads)
    write_gradient_flow(layout, study, cell)


if __name__ == "__main__":
    run_entry(main)
