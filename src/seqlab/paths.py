"""Where each stage reads and writes, relative to the repository root.

dvc.yaml spells out the same paths for DVC; everything in Python asks this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SPLITS: tuple[str, ...] = ("train", "valid", "test")


def repo_root(start: str | Path | None = None) -> Path:
    """The repository (or DVC experiment workspace) a stage runs in: the nearest folder above ``start``
    (default: the working directory) holding dvc.yaml. Every stage output is written below it."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    return here


def store_root(root: Path) -> Path:
    """Where the MLflow store of the workspace ``root`` lives: ``root`` itself, except for the copies under
    ``<repo>/.dvc/tmp/exps/`` in which DVC runs queued experiments, whose runs go to the original
    repository's store, so every experiment of a sweep shows in one MLflow UI (and outlives its copy)."""
    parts = root.resolve().parts
    for index in range(len(parts) - 2):
        if parts[index : index + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:index])
    return root


def tracking_uri(root: Path) -> str:
    """MLflow tracking URI: $MLFLOW_TRACKING_URI, else an absolute SQLite file in ``store_root(root)``."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(store_root(root) / 'mlflow.db').as_posix()}"


def artifact_root(root: Path) -> Path:
    """Where MLflow keeps the artifacts of the runs of workspace ``root`` (beside its store)."""
    return store_root(root) / "mlartifacts"


@dataclass(frozen=True)
class Layout:
    """Paths of every stage output under one repository root."""

    root: Path

    def prepared(self, task: str) -> Path:
        return self.root / "data" / "prepared" / task

    def validation_report(self, task: str) -> Path:
        return self.root / "reports" / "validation" / f"{task}.json"

    def validation_docs(self, task: str) -> Path:
        return self.root / "reports" / "validation" / f"{task}_docs"

    def tokenized(self, task: str) -> Path:
        return self.root / "data" / "tokenized" / task

    def vocab(self, task: str) -> Path:
        return self.root / "data" / "vocab" / task

    def baseline(self, task: str) -> Path:
        return self.root / "metrics" / "baseline" / f"{task}.json"

    def train_dir(self, run: str) -> Path:
        return self.root / "models" / run / "train"

    def checkpoint(self, run: str) -> Path:
        return self.train_dir(run) / "best.pt"

    def train_metrics(self, run: str) -> Path:
        return self.root / "metrics" / "train" / f"{run}.json"

    def curve(self, run: str) -> Path:
        return self.root / "metrics" / "curves" / f"{run}.csv"

    def onnx_dir(self, run: str) -> Path:
        return self.root / "models" / run / "onnx"

    def onnx_model(self, run: str) -> Path:
        return self.onnx_dir(run) / "model.onnx"

    def parity_report(self, run: str) -> Path:
        return self.root / "reports" / "parity" / f"{run}.json"

    def registry_record(self, run: str) -> Path:
        return self.root / "reports" / "registry" / f"{run}.json"

    def quantized_dir(self, run: str) -> Path:
        return self.root / "models" / run / "quantized"

    def eval_metrics(self, run: str) -> Path:
        return self.root / "metrics" / "eval" / f"{run}.json"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def repro_log(self) -> Path:
        return self.reports / "repro.log"

    @property
    def champions(self) -> Path:
        return self.reports / "champions.json"

    def dist(self, task: str) -> Path:
        return self.root / "dist" / task

    def study_model(self, name: str) -> Path:
        """Checkpoint of the study model ``name`` (e.g. ``lstm-T100``, ``gru-T100-noclip``)."""
        return self.root / "models" / "study" / f"{name}.pt"

    def study_metrics(self, name: str) -> Path:
        return self.root / "metrics" / "study" / "adding" / f"{name}.json"

    def study_curve(self, name: str) -> Path:
        return self.root / "metrics" / "study" / "curves" / f"{name}.csv"

    def study_gradients(self, cell: str) -> Path:
        return self.root / "metrics" / "study" / "gradients" / f"{cell}.json"

    def study_gradient_norms(self, cell: str) -> Path:
        return self.root / "metrics" / "study" / "gradients" / f"{cell}.csv"

    @property
    def study_sizes(self) -> Path:
        return self.root / "metrics" / "study" / "sizes.json"

    @property
    def study_reports(self) -> Path:
        return self.reports / "study"
