"""Stage evaluate@<run>: test-split quality, latency and size for torch fp32, ORT fp32 and ORT int8."""

import torch

from seqlab.checkpoint import load_model
from seqlab.config import load_params
from seqlab.entry import run_entry
from seqlab.evaluation.evaluate import evaluate_backends, int8_drop_points, tracking_metrics
from seqlab.inference.backends import OrtBackend, TorchBackend
from seqlab.inference.sessions import create_session, cuda_available, session_provider
from seqlab.io import read_json, write_json
from seqlab.paths import Layout, repo_root, tracking_uri
from seqlab.text.dataset import token_set
from seqlab.training.run import VARIANT_KEYS
from seqlab.training.splits import load_run_split
from seqlab.training.tracking import reopen_run


def main(run: str) -> None:
    """Evaluate RUN on its task's test split."""
    layout = Layout(repo_root())
    params = load_params(layout.root / "params.yaml")
    config = params.evaluate
    if config.threads:
        torch.set_num_threads(config.threads)
    model, spec = load_model(layout.checkpoint(run))
    test, encoder = load_run_split(spec, layout.tokenized(spec.task), layout.vocab(spec.task), "test")
    known = token_set(layout.tokenized(spec.task) / "train.jsonl")
    quantized = layout.quantized_dir(run)
    fp32 = create_session(layout.onnx_model(run), "cpu", config.threads)
    backends = [
        TorchBackend(model, "torch_fp32"),
        OrtBackend(fp32, "ort_fp32"),
        OrtBackend(create_session(quantized / "model.int8.onnx", "cpu", config.threads), "ort_int8"),
    ]
    if cuda_available():
        backends.append(OrtBackend(create_session(quantized / "model.fp16.onnx", "cuda"), "ort_cuda_fp16"))
    results = evaluate_backends(backends, test, encoder.vocab.pad_id, spec.labels, config, params.seed,
                                spec.tag_scheme, known)
    model_config = spec.model_config
    metrics = {
        "run": run, "task": spec.task, **model_config.model_dump(include=set(VARIANT_KEYS)),
        "parameters": sum(p.numel() for p in model.parameters()),
        "test_examples": len(test.sequences), "threads": torch.get_num_threads(),
        "provider": session_provider(fp32), "backends": results,
        "sizes_bytes": read_json(quantized / "quantize.json")["sizes_bytes"],
        "int8_accuracy_drop_points": int8_drop_points(results),
    }
    write_json(layout.eval_metrics(run), metrics)
    tracker = reopen_run(layout.root, tracking_uri(layout.root), f"seqlab-{spec.task}", run,
                         layout.train_dir(run) / "mlflow_run.json")
    tracker.log_metrics(tracking_metrics(metrics))
    tracker.log_artifact(layout.eval_metrics(run), "evaluate")


if __name__ == "__main__":
    run_entry(main)
