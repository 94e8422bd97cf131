"""Stage train@<run>: train one model variant, checkpoint each epoch, record it in MLflow."""

from seqlab.config import GENERATIVE, load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root, tracking_uri
from seqlab.training.lm import train_generative_run
from seqlab.training.run import train_run, write_train_outputs
from seqlab.training.seq2seq import train_seq2seq_run
from seqlab.training.tracking import MlflowTracker, provenance_tags


def main(run: str) -> None:
    """Train RUN as configured in params.yaml."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    config = params.run(run)
    tracker = MlflowTracker(tracking_uri(layout.root), f"seqlab-{config.task}", layout.root / "mlartifacts", run,
                            tags=provenance_tags(layout.root))
    task = params.task(config.task)
    folders = (layout.tokenized(config.task), layout.vocab(config.task), layout.train_dir(run))
    if task.structure == "seq2seq":
        outputs = train_seq2seq_run(run, config, task, params.seed, *folders, tracker, params.decode)
    else:
        train = train_generative_run if task.structure in GENERATIVE else train_run
        outputs = train(run, config, task, params.seed, *folders, tracker)
    write_train_outputs(outputs, layout.train_metrics(run), layout.curve(run))
    tracker.log_artifact(layout.curve(run), "curves")
    tracker.finish()


if __name__ == "__main__":
    run_entry(main)
