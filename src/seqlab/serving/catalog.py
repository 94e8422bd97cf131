"""The models a server serves: every bundle under a folder, loaded once at start-up.

Loading checks each bundle against its SHA256SUMS (a missing or altered file stops start-up with an
error naming it) and builds its ONNX Runtime sessions: fp16 models on the CUDA execution provider when
it loads, int8 models on the CPU otherwise. What each model reports (``/v1/models``) is read here too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.inference.bundle import CHECKSUMS, BundleModel, load_bundle
from seqlab.io import InputError, read_json, sha256_file

logger = logging.getLogger(__name__)

SERVED_BACKENDS = {"int8": "ort_int8", "fp16": "ort_cuda_fp16"}
"""The evaluation backend whose test figures describe the model a precision serves."""


@dataclass(frozen=True)
class ServedModel:
    """One task's bundle, loaded, and what ``/v1/models`` says of it."""

    task: str
    model: BundleModel
    info: dict[str, Any]


def load_catalog(folder: Path, provider: str = "auto", threads: int | None = 1) -> dict[str, ServedModel]:
    """Every bundle in ``folder`` (a folder with a ``config.json`` each, as ``make export`` writes them), by
    task; ``threads`` is ONNX Runtime's thread count per call (the server runs calls side by side)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder; write the bundles first with `make export`")
    bundles = sorted(path.parent for path in folder.glob("*/config.json"))
    if not bundles:
        raise InputError(f"{folder}: no bundle inside (a bundle is a folder with config.json and {CHECKSUMS}); "
                         "run `make export`")
    catalog: dict[str, ServedModel] = {}
    for bundle in bundles:
        model = load_bundle(bundle, provider, threads)
        task = model.config.get("task", bundle.name)
        if task in catalog:
            raise InputError(f"{bundle}: task '{task}' is served already by {catalog[task].model.folder}")
        catalog[task] = ServedModel(task, model, model_info(model))
        logger.info("serving %s from %s: %s on %s", task, bundle, model.precision, model.provider)
    return catalog


def model_info(model: BundleModel) -> dict[str, Any]:
    """Task, structure, how inputs are split (tokenizer, tag scheme), run, variant, version, checksum, provider
    and the test figures of the served precision."""
    config = model.config
    evaluation = read_json(model.folder / "metrics.json")
    backends = evaluation.get("backends", {})
    backend = SERVED_BACKENDS[model.precision] if SERVED_BACKENDS[model.precision] in backends else "ort_fp32"
    figures = {name: value for name, value in backends.get(backend, {}).items()
               if isinstance(value, int | float) and not isinstance(value, bool)}
    return {
        "task": config.get("task", model.folder.name),
        "structure": config["structure"],
        "tokenizer": config.get("tokenizer"),
        "tag_scheme": config.get("tag_scheme"),
        "run": config.get("run"),
        "variant": config.get("model", {}),
        "version": config.get("commit"),
        "created": config.get("created"),
        "sha256": sha256_file(model.folder / CHECKSUMS),
        "labels": model.labels,
        "provider": model.provider,
        "precision": model.precision,
        "metrics": {"backend": backend, **figures},
    }
