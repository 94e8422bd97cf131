"""Stage evaluate@<run>: test-split quality, latency and size for torch fp32, ORT fp32 and ORT int8.

Classifiers and taggers: accuracy and F1 (tag tasks also unseen-word accuracy and word F1).
Generating models (lm, condlm): bits per character, one step's latency, and generation speed of the
stateful step graph against the sliding-window method. Sequence to sequence: word and token error rates
(greedy and beam), decoding latency, and attention heatmaps of a few test words in the MLflow run.
"""

import tempfile
from pathlib import Path

import torch

from seqlab.checkpoint import load_model
from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.evaluation.evaluate import tracking_metrics
from seqlab.evaluation.run_evaluation import evaluate_run
from seqlab.inference.sessions import CPU
from seqlab.io import read_json, write_json
from seqlab.paths import Layout, repo_root
from seqlab.report.plots import attention_samples_plot
from seqlab.training.run import VARIANT_KEYS
from seqlab.training.tracking import reopen_run


def main(run: str) -> None:
    """Evaluate RUN on its task's test split."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    if params.evaluate.threads:
        torch.set_num_threads(params.evaluate.threads)
    model, spec = load_model(layout.checkpoint(run))
    results = evaluate_run(layout, params, run, model, spec)
    metrics = {
        "run": run, "task": spec.task, "structure": spec.structure,
        **spec.model_config.model_dump(include=set(VARIANT_KEYS)),
        "parameters": sum(p.numel() for p in model.parameters()), "threads": torch.get_num_threads(),
        "provider": CPU, **results,  # every backend above but ort_cuda_fp16 runs on the CPU
        "sizes_bytes": read_json(layout.quantized_dir(run) / "quantize.json")["sizes_bytes"],
    }
    write_json(layout.eval_metrics(run), metrics)
    tracker = reopen_run(layout.root, f"seqlab-{spec.task}", run,
                         layout.train_dir(run) / "mlflow_run.json")
    tracker.log_metrics(tracking_metrics(metrics))
    tracker.log_artifact(layout.eval_metrics(run), "evaluate")
    if "attention_samples" in results:  # seq2seq: where the decoder looked, as heatmaps in the MLflow run
        with tempfile.TemporaryDirectory() as folder:
            path = attention_samples_plot(results["attention_samples"], f"{run}: attention (test words)",
                                          Path(folder) / f"{run}_attention.png")
            tracker.log_artifact(path, "evaluate")


if __name__ == "__main__":
    run_entry(main)
