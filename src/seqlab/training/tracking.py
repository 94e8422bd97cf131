"""Experiment tracking behind one small interface: MLflow for real runs, a no-op for tests.

One MLflow experiment per task, one run per pipeline run key. The train stage creates the run;
later stages (export, evaluate) reopen it by id, so all of a model's numbers sit in one run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

from seqlab import paths
from seqlab.io import read_json

logger = logging.getLogger(__name__)


class Tracker(Protocol):
    """What stages record about a run."""

    run_id: str | None

    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None: ...
    def set_tags(self, tags: dict[str, str]) -> None: ...
    def log_artifact(self, path: Path, folder: str | None = None) -> None: ...
    def register_onnx(self, path: Path, model_name: str) -> str | None: ...
    def finish(self) -> None: ...


class NullTracker:
    """Records nothing; for unit tests and library use without MLflow."""

    run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        pass

    def register_onnx(self, path: Path, model_name: str) -> str | None:
        return None

    def finish(self) -> None:
        pass


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested dict -> ``{"model.hidden": "128", ...}`` as MLflow params want."""
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, or None outside a git repository."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def provenance_tags(root: Path) -> dict[str, str]:
    """Git commit and the DVC stage / experiment that produced the run (DVC sets both variables)."""
    tags = {"mlflow.source.git.commit": git_commit(root) or "unknown"}
    for variable in ("DVC_STAGE", "DVC_EXP_NAME"):
        if os.environ.get(variable):
            tags[variable.lower()] = os.environ[variable]
    return tags


def serving_requirements() -> list[str]:
    """What a logged ONNX model needs to run, pinned to the versions installed here. Given to MLflow, which
    would otherwise infer them in a subprocess (seconds per export stage)."""
    return [f"{name}=={version(name)}" for name in ("onnx", "onnxruntime-gpu", "numpy")]


class MlflowTracker:
    """An MLflow run in ``experiment``, created anew or reopened by ``run_id``."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_root: Path, run_name: str,
                 run_id: str | None = None, tags: dict[str, str] | None = None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self._mlflow = mlflow
        self.tracking_uri = tracking_uri
        self.client = MlflowClient(tracking_uri)
        if run_id is None:
            found = self.client.get_experiment_by_name(experiment)
            experiment_id = (
                found.experiment_id
                if found
                else self.client.create_experiment(experiment, artifact_location=(artifact_root / experiment).as_uri())
            )
            run = self.client.create_run(experiment_id, run_name=run_name, tags=tags or {})
            run_id = run.info.run_id
        elif tags:
            self.set_tags(tags)
        self.run_id: str | None = run_id
        logger.info("MLflow run %s (%s) at %s", run_name, run_id, tracking_uri)

    @classmethod
    def in_workspace(cls, root: Path, experiment: str, run_name: str, run_id: str | None = None,
                     tags: dict[str, str] | None = None) -> MlflowTracker:
        """The run in the MLflow store of workspace ``root`` (its own, or for a DVC experiment copy the
        original repository's: see ``seqlab.paths.store_root``)."""
        return cls(paths.tracking_uri(root), experiment, paths.artifact_root(root), run_name, run_id=run_id, tags=tags)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in flatten(params).items()])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), folder)

    def register_onnx(self, path: Path, model_name: str) -> str | None:
        """Log the ONNX model to the run and register it as a new version of ``model_name``."""
        import onnx

        # Model logging goes through MLflow's fluent API, which reads the process-wide tracking URI.
        self._mlflow.set_tracking_uri(self.tracking_uri)
        with self._mlflow.start_run(run_id=self.run_id):
            info = self._mlflow.onnx.log_model(onnx.load(str(path)), name="onnx", registered_model_name=model_name,
                                               pip_requirements=serving_requirements())
        version = getattr(info, "registered_model_version", None)
        return str(version) if version is not None else None

    def finish(self) -> None:
        self.client.set_terminated(self.run_id)


def reopen_run(root: Path, experiment: str, run_name: str, record: Path) -> Tracker:
    """The MLflow run the train stage recorded in ``record`` (``mlflow_run.json``), reopened in the store
    of workspace ``root``."""
    run_id = read_json(record, made_by=f"train@{run_name}").get("run_id")
    if not run_id:
        logger.warning("%s names no MLflow run; nothing will be tracked", record)
        return NullTracker()
    return MlflowTracker.in_workspace(root, experiment, run_name, run_id=run_id)
