"""Stage export@<run>: checkpoint -> ONNX, checked against PyTorch on the test split, registered in MLflow.

Classifiers and taggers: one graph (tokens, lengths -> logits). Generating models: the step graph
(tokens, state -> logits, next state) and, for a conditioned one, the condition graph. Sequence to
sequence: the encoder graph and the decoder-step graph, also checked by beam search over both backends.
"""

import logging

from seqlab.checkpoint import load_model
from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.export.parity import check_parity
from seqlab.export.run_export import export_run
from seqlab.io import atomic_path, write_json
from seqlab.paths import Layout, repo_root
from seqlab.training.tracking import reopen_run


def main(run: str) -> None:
    """Export RUN's best checkpoint to ONNX and check ONNX Runtime against PyTorch."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    model, spec = load_model(layout.checkpoint(run))
    tracker = reopen_run(layout.root, f"seqlab-{spec.task}", run,
                         layout.train_dir(run) / "mlflow_run.json")
    with atomic_path(layout.onnx_dir(run)) as staging:
        staging.mkdir()
        report = export_run(layout, model, spec, staging, params.export.opset, params.decode)
        write_json(layout.parity_report(run), report)
        check_parity(report, params.export, f"{run} ({layout.parity_report(run)})")
    model_name = f"seqlab-{spec.task}"
    version = tracker.register_onnx(layout.onnx_model(run), model_name)
    write_json(layout.registry_record(run), {"model_name": model_name, "version": version, "run_id": tracker.run_id})
    tracker.log_metrics({"parity_max_abs_diff": report["max_abs_diff"], "parity_agreement": report["agreement"]})
    tracker.log_artifact(layout.parity_report(run), "export")
    logging.getLogger(__name__).info("%s: exported; max |diff| %.2e, agreement %.4f, registered %s v%s", run,
                                     report["max_abs_diff"], report["agreement"], model_name, version)


if __name__ == "__main__":
    run_entry(main)
