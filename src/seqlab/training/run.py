"""Train one run end to end: data, model, loop, checkpoints, metrics and the MLflow record."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab.checkpoint import ModelSpec, load_checkpoint, save_checkpoint
from seqlab.config import ModelConfig, RunConfig, TaskConfig
from seqlab.io import csv_text, sha256_file, write_json, write_text
from seqlab.models.registry import count_parameters
from seqlab.text.dataset import load_encoded_split
from seqlab.text.encoding import load_encoder
from seqlab.training.distributed import SINGLE, Processes
from seqlab.training.loop import FitResult, fit
from seqlab.training.splits import epoch_batches, evaluate_split, sequence_loss
from seqlab.training.tracking import Tracker

logger = logging.getLogger(__name__)


VARIANT_KEYS = ("cell", "bidirectional", "layers", "residual", "impl")


def variant_tags(model: ModelConfig) -> dict[str, str]:
    """The MLflow tags that let the UI group and compare runs by variant."""
    return {key: str(getattr(model, key)) for key in VARIANT_KEYS}


def build_and_log(spec: ModelSpec, run: RunConfig, seed: int, tracker: Tracker) -> tuple[nn.Module, int]:
    """A fresh model for ``spec`` and its parameter count; the run's params and variant tags go to ``tracker``."""
    model = spec.build()
    parameters = count_parameters(model)
    tracker.log_params({"task": run.task, "model": run.model.model_dump(), "train": run.train.model_dump(),
                        "seed": seed, "parameters": parameters, "vocab_size": spec.sizes["vocab_size"]})
    tracker.set_tags({"structure": spec.structure, **variant_tags(run.model)})
    return model, parameters


def run_fingerprint(spec: ModelSpec, seed: int, data_dirs: list[Path]) -> str:
    """What a run's checkpoints belong to: its spec (variant, training settings, sizes), seed and data files.
    A checkpoint with another fingerprint is never resumed."""
    digest = hashlib.sha256(json.dumps({"spec": asdict(spec), "seed": seed}, sort_keys=True).encode())
    for folder in data_dirs:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                digest.update(f"{path.relative_to(folder)}:{sha256_file(path)}".encode())
    return digest.hexdigest()


class RunCheckpoints:
    """``last.pt`` (weights, optimizer and the loop's state) after every epoch and ``best.pt`` on improvement;
    and the point to resume from when a run was stopped before it finished (killed, or out of memory)."""

    def __init__(self, out_dir: Path, spec: ModelSpec, fingerprint: str) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir, self.spec, self.fingerprint = out_dir, spec, fingerprint

    @classmethod
    def of(cls, spec: ModelSpec, seed: int, tokenized_dir: Path, vocab_dir: Path, out_dir: Path) -> RunCheckpoints:
        """The checkpoints of a run trained from ``tokenized_dir`` and ``vocab_dir``, in ``out_dir``."""
        return cls(out_dir, spec, run_fingerprint(spec, seed, [tokenized_dir, vocab_dir]))

    def save(self, epoch: int, record: dict[str, float], improved: bool, model: nn.Module,
             optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
        """The ``on_epoch_end`` callback of :func:`fit`."""
        progress = {"epoch": epoch, "metrics": record, "fingerprint": self.fingerprint, "loop": state}
        save_checkpoint(self.out_dir / "last.pt", self.spec, model, progress, optimizer)
        if improved:
            save_checkpoint(self.out_dir / "best.pt", self.spec, model, {"epoch": epoch, "metrics": record})

    def resume(self, model: nn.Module) -> dict[str, Any] | None:
        """The loop state to pass to :func:`fit` (``model`` gets the checkpoint's weights) if ``last.pt`` is an
        unfinished run with this fingerprint; None (start afresh) otherwise."""
        path = self.out_dir / "last.pt"
        if not path.exists():
            return None
        payload = load_checkpoint(path)
        progress = payload["progress"]
        if progress.get("fingerprint") != self.fingerprint or progress.get("loop", {}).get("finished", True):
            return None
        model.load_state_dict(payload["state_dict"])
        logger.info("%s: resuming after epoch %d from %s", self.spec.run, progress["epoch"], path)
        return {**progress["loop"], "optimizer": payload["optimizer"]}


def finish_run(run_name: str, result: FitResult, parameters: int, unit: str, units_per_epoch: int, monitor: str,
               out_dir: Path, tracker: Tracker, processes: Processes = SINGLE) -> dict[str, Any]:
    """The run's summary (the best epoch's ``valid_*`` metrics, speed in ``unit``s per second) and curve CSV;
    records the MLflow run id beside the checkpoints (rank 0) and logs the summary as ``best_*`` metrics."""
    best = result.history[result.best_epoch - 1]
    summary = {
        "best_epoch": result.best_epoch, "epochs": len(result.history), "stop_reason": result.stop_reason,
        "train_seconds": round(result.seconds, 2), "steps": result.steps, "parameters": parameters,
        f"train_{unit}_per_second": round(units_per_epoch * len(result.history) / result.seconds, 1),
        **{k: v for k, v in best.items() if k.startswith("valid_")},
    }
    if processes.main:
        write_json(out_dir / "mlflow_run.json", {"run_id": tracker.run_id})
    tracker.log_metrics({f"best_{k}": v for k, v in summary.items() if isinstance(v, int | float)})
    logger.info("%s: best epoch %d of %d (%s), %s %.4f", run_name, result.best_epoch, len(result.history),
                result.stop_reason, monitor, best[monitor])
    return {"summary": summary, "curve": csv_text(result.history)}


def train_run(run_name: str, run: RunConfig, task: TaskConfig, seed: int, tokenized_dir: Path, vocab_dir: Path,
              out_dir: Path, tracker: Tracker, processes: Processes = SINGLE) -> dict[str, Any]:
    """Train ``run`` on its task's tokenized splits; checkpoints go to ``out_dir``.

    Writes ``last.pt`` every epoch and ``best.pt`` whenever the valid accuracy improves, and resumes an
    unfinished run of the same settings and data from its ``last.pt``. Returns the run's summary metrics.
    """
    torch.manual_seed(seed)
    encoder = load_encoder(vocab_dir, task.tokenizer, task.max_len, run.model.model_dump())
    vocab = encoder.vocab
    train = load_encoded_split(tokenized_dir / "train.jsonl", encoder, task.labels, task.structure)
    valid = load_encoded_split(tokenized_dir / "valid.jsonl", encoder, task.labels, task.structure)
    sizes = {"vocab_size": len(vocab), "num_classes": len(task.labels), "pad_id": vocab.pad_id}
    if encoder.chars is not None:
        sizes["char_vocab_size"] = len(encoder.chars)
    if encoder.pairs is not None:
        sizes["pair_vocab_size"] = len(encoder.pairs)
    spec = ModelSpec(
        structure=task.structure, task=run.task, run=run_name, model=run.model.model_dump(), sizes=sizes,
        labels=task.labels, tokenizer=task.tokenizer, max_len=task.max_len, train=run.train.model_dump(),
        tag_scheme=task.tag_scheme,
    )
    model, parameters = build_and_log(spec, run, seed, tracker)
    checkpoints = RunCheckpoints.of(spec, seed, tokenized_dir, vocab_dir, out_dir)
    result = fit(
        model,
        epoch_batches(train, run.train, seed, vocab.pad_id, vocab.unk_id),
        sequence_loss,
        lambda m: evaluate_split(m, valid, vocab.pad_id, task.labels, "valid", task.tag_scheme),
        run.train,
        monitor="valid_accuracy",
        on_epoch_end=checkpoints.save,
        tracker=tracker,
        resume=checkpoints.resume(model),
        processes=processes,
    )
    return finish_run(run_name, result, parameters, "tokens", sum(map(len, train.sequences)), "valid_accuracy",
                      out_dir, tracker, processes)


def write_train_outputs(outputs: dict[str, Any], metrics_path: Path, curve_path: Path) -> None:
    """Write the summary metrics JSON and the per-epoch curve CSV."""
    write_json(metrics_path, outputs["summary"])
    write_text(curve_path, outputs["curve"])
