"""Stage export@<run>: checkpoint -> ONNX, checked against PyTorch on the test split, registered in MLflow.

Classifiers and taggers: one graph (tokens, lengths -> logits). Generating models: the step graph
(tokens, state -> logits, next state) and, for a conditioned one, the condition graph.
"""

import logging
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from seqlab.checkpoint import ModelSpec, load_model
from seqlab.config import GENERATIVE, load_params
from seqlab.entry import run_entry
from seqlab.evaluation.generative import load_test_text
from seqlab.export.lm_export import export_condition_graph, export_step_graph, step_parity_report
from seqlab.export.onnx_export import export_model
from seqlab.export.parity import check_parity, parity_report
from seqlab.inference.backends import OrtBackend, TorchBackend
from seqlab.inference.bundle import CONDITION_FILE
from seqlab.inference.sessions import create_session
from seqlab.io import atomic_path, write_json
from seqlab.paths import Layout, repo_root, tracking_uri
from seqlab.training.splits import load_run_split
from seqlab.training.tracking import reopen_run


def export_text_model(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path, opset: int) -> dict[str, Any]:
    """A classifier or tagger as ``model.onnx`` in ``folder``, and its parity report on the test split."""
    test, encoder = load_run_split(spec, layout.tokenized(spec.task), layout.vocab(spec.task), "test")
    export_model(spec.fused(model), folder / "model.onnx", opset, encoder)
    ort_backend = OrtBackend(create_session(folder / "model.onnx", "cpu"), "ort_fp32")
    return parity_report(TorchBackend(model), ort_backend, test.sequences, encoder.vocab.pad_id)


def export_generating_model(layout: Layout, model: nn.Module, spec: ModelSpec, folder: Path,
                            opset: int) -> dict[str, Any]:
    """A language model's step graph as ``model.onnx`` (and a conditioned one's ``condition.onnx``) in
    ``folder``, and the parity report of both, state carried, on the test text."""
    test, _ = load_test_text(spec, layout.tokenized(spec.task), layout.vocab(spec.task))
    export_step_graph(model, folder / "model.onnx", opset)
    condition = None
    if spec.structure == "condlm":
        export_condition_graph(model, folder / CONDITION_FILE, opset)
        condition = create_session(folder / CONDITION_FILE, "cpu")
    ids = test.stream if test.stream is not None else np.concatenate(list(test.texts))
    return step_parity_report(model, create_session(folder / "model.onnx", "cpu"), ids, condition, name="ort_fp32")


def main(run: str) -> None:
    """Export RUN's best checkpoint to ONNX and check ONNX Runtime against PyTorch."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    model, spec = load_model(layout.checkpoint(run))
    tracker = reopen_run(layout.root, tracking_uri(layout.root), f"seqlab-{spec.task}", run,
                         layout.train_dir(run) / "mlflow_run.json")
    export = export_generating_model if spec.structure in GENERATIVE else export_text_model
    with atomic_path(layout.onnx_dir(run)) as staging:
        staging.mkdir()
        report = export(layout, model, spec, staging, params.export.opset)
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
