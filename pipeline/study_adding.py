"""Stage study_adding@<cell>-<length>: train one cell on the adding problem with the study's budget."""

from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root
from seqlab.study.adding import configure_torch, train_and_record


def main(cell: str, length: int) -> None:
    """Train CELL on the adding problem of LENGTH steps, gradients clipped (params.yaml `study`)."""
    layout = Layout(repo_root())
    study = load_params(layout.root / "params.yaml").study
    study.check(cell, length)
    configure_torch(study.threads)
    train_and_record(layout, study, cell, length, clip=True)


if __name__ == "__main__":
    run_entry(main)
