"""Stage train@<run>: train one model variant, checkpoint each epoch, record it in MLflow.

It trains on a CUDA GPU when torch sees one and on the CPU otherwise (`distributed.device`). With
`distributed.processes` above 1 in params.yaml the stage starts itself again under torchrun with that many
processes (DistributedDataParallel: nccl between GPUs, gloo on the CPU); `torchrun --nproc_per_node N
pipeline/train.py <run>` does the same by hand. Only rank 0 logs to MLflow and writes checkpoints and metrics.
"""

import logging
import sys
from pathlib import Path

from seqlab.config import GENERATIVE, load_params
from seqlab.entry import run_entry
from seqlab.paths import Layout, repo_root
from seqlab.training import distributed
from seqlab.training.lm import train_generative_run
from seqlab.training.run import train_run, write_train_outputs
from seqlab.training.seq2seq import train_seq2seq_run
from seqlab.training.tracking import MlflowTracker, NullTracker, Tracker, provenance_tags


def main(run: str) -> None:
    """Train RUN as configured in params.yaml."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    if params.distributed.processes > 1 and not distributed.under_torchrun():
        code = distributed.relaunch(Path(__file__), [run], params.distributed.processes)
        if code:
            sys.exit(code)
        return
    processes = distributed.join(params.distributed.device)
    try:
        config = params.run(run)
        device = distributed.describe(processes.device)
        logging.getLogger(__name__).info("training %s on %s%s", run, device,
                                         f", {processes.world} processes (DDP over {processes.backend})"
                                         if processes.distributed else "")
        tracker: Tracker = NullTracker()
        if processes.main:
            tags = {**provenance_tags(layout.root), "processes": str(processes.world), "device": device}
            tracker = MlflowTracker.in_workspace(layout.root, f"seqlab-{config.task}", run, tags=tags)
        task = params.task(config.task)
        folders = (layout.tokenized(config.task), layout.vocab(config.task), layout.train_dir(run))
        if task.structure == "seq2seq":
            outputs = train_seq2seq_run(run, config, task, params.seed, *folders, tracker, params.decode, processes)
        else:
            train = train_generative_run if task.structure in GENERATIVE else train_run
            outputs = train(run, config, task, params.seed, *folders, tracker, processes)
        if processes.main:
            write_train_outputs(outputs, layout.train_metrics(run), layout.curve(run))
            tracker.log_artifact(layout.curve(run), "curves")
            tracker.finish()
    finally:
        distributed.leave()


if __name__ == "__main__":
    run_entry(main)
