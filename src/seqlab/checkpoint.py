"""Self-describing checkpoints: weights plus everything needed to rebuild and use the model.

Export, evaluation and serving rebuild a model from the checkpoint file alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqlab.config import ModelConfig, TrainConfig
from seqlab.io import InputError, atomic_path
from seqlab.models.registry import build_model, fused_equivalent

FORMAT = "seqlab-checkpoint/1"


@dataclass
class ModelSpec:
    """What a model is: its structure, variant config, data-decided sizes and data settings."""

    structure: str
    task: str
    run: str
    model: dict[str, Any]
    sizes: dict[str, int]
    labels: list[str]
    tokenizer: str
    max_len: int
    train: dict[str, Any] = field(default_factory=dict)
    tag_scheme: str = "tags"

    @property
    def model_config(self) -> ModelConfig:
        return ModelConfig.model_validate(self.model)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.model_validate(self.train)

    def build(self) -> nn.Module:
        """A fresh (untrained) model matching this spec."""
        return build_model(self.structure, self.model_config, **self.sizes)

    def fused(self, model: nn.Module) -> nn.Module:
        """``model`` (built from this spec) with fused kernels in place of scratch cells, for export."""
        return fused_equivalent(model, self.structure, self.model_config, **self.sizes)


def save_checkpoint(path: Path, spec: ModelSpec, model: nn.Module, progress: dict[str, Any],
                    optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write weights, spec and training progress (epoch, step, metrics) atomically."""
    payload = {
        "format": FORMAT,
        "spec": asdict(spec),
        "progress": progress,
        "state_dict": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_payload(path: Path, expected_format: str, when_missing: str, weights_only: bool = False) -> dict[str, Any]:
    """The dict ``torch.save`` wrote at ``path``, checked to be of ``expected_format``; an InputError naming the
    file when it is missing (``when_missing`` says why and what makes it) or of another format."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=weights_only)
    except FileNotFoundError as err:
        raise InputError(f"{path}: {when_missing}") from err
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise InputError(f"{path}: not a {expected_format} checkpoint")
    return payload


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The raw checkpoint payload, checked for format."""
    return read_payload(path, FORMAT, "checkpoint not found (run the train stage first)")


def load_model(path: Path) -> tuple[nn.Module, ModelSpec]:
    """Rebuild the model stored at ``path`` in eval mode, with its spec."""
    payload = load_checkpoint(path)
    spec = ModelSpec(**payload["spec"])
    model = spec.build()
    model.load_state_dict(payload["state_dict"])
    return model.eval(), spec
