"""Read and check the report's inputs: every run's metrics and each task's baseline.

Inputs per run (paths from :class:`seqlab.paths.Layout`): the train metrics, the evaluation metrics,
the export's registry record (``reports/registry/<run>.json``), for a generating or sequence-to-sequence
run also its per-epoch curve; per task the baseline metrics. What must be there depends on the task's
structure: accuracy for classifiers and taggers, bits per character for generating models (lm, condlm),
word and phoneme error rates and attention samples for sequence-to-sequence models (seq2seq, which have
no fitted baseline). A missing or malformed input stops the report with an :class:`~seqlab.io.InputError`
naming the file and the stage that makes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.config import GENERATIVE, Params
from seqlab.io import InputError, read_csv_numbers, read_json
from seqlab.paths import Layout

logger = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {"torch_fp32": "torch", "ort_fp32": "ORT fp32", "ort_int8": "ORT int8"}
MODEL_KEYS = ("cell", "bidirectional", "layers", "residual", "impl", "parameters", "backends", "sizes_bytes")


@dataclass(frozen=True)
class InputKeys:
    """What the report reads from a run's and a task's files, for one kind of task."""

    train: tuple[str, ...]
    evaluation: tuple[str, ...]
    scores: tuple[str, ...]  # what every backend in the evaluation must report
    baseline: tuple[str, ...]
    curve: str | None = None  # the valid score column of the per-epoch curve CSV; None: no curve is read


TEXT_KEYS = InputKeys(train=("valid_accuracy", "valid_macro_f1", "parameters"),
                      evaluation=(*MODEL_KEYS, "int8_accuracy_drop_points"), scores=("accuracy",),
                      baseline=("model", "valid_accuracy", "test_accuracy", "test_macro_f1"))
GENERATIVE_KEYS = InputKeys(train=("valid_bpc", "valid_accuracy", "parameters"),
                            evaluation=(*MODEL_KEYS, "int8_bpc_increase", "generation"), scores=("bpc", "accuracy"),
                            baseline=("model", "order", "valid_bpc", "test_bpc"), curve="valid_bpc")
SEQ2SEQ_KEYS = InputKeys(train=("valid_wer", "valid_per", "parameters"),
                         evaluation=(*MODEL_KEYS, "int8_wer_increase_points", "attention_samples"),
                         scores=("wer", "per", "greedy_wer"), baseline=(), curve="valid_wer")


def input_keys(structure: str) -> InputKeys:
    """The keys the report needs for a task of ``structure``: error rates for sequence-to-sequence tasks,
    bits per character for generating tasks, accuracy for classifiers and taggers."""
    if structure == "seq2seq":
        return SEQ2SEQ_KEYS
    return GENERATIVE_KEYS if structure in GENERATIVE else TEXT_KEYS


class _Structure:
    """What a result's task ``structure`` makes of it (shared by a run's and a task's results)."""

    structure: str

    @property
    def generative(self) -> bool:
        """A generating task (lm, condlm): scored in bits per character."""
        return self.structure in GENERATIVE

    @property
    def seq2seq(self) -> bool:
        """A sequence-to-sequence task: scored in word and phoneme error rates."""
        return self.structure == "seq2seq"


@dataclass(frozen=True)
class RunResult(_Structure):
    """Everything the report knows about one run (``curve``: per-epoch rows, read for generating and
    sequence-to-sequence runs)."""

    run: str
    task: str
    train: dict[str, Any]
    evaluation: dict[str, Any]
    registry: dict[str, Any]
    structure: str = "classify"
    curve: tuple[dict[str, float], ...] = ()

    @property
    def valid_accuracy(self) -> float:
        return float(self.train["valid_accuracy"])

    @property
    def valid_bpc(self) -> float:
        return float(self.train["valid_bpc"])

    @property
    def valid_wer(self) -> float:
        return float(self.train["valid_wer"])

    @property
    def valid_per(self) -> float:
        return float(self.train["valid_per"])

    def test_score(self, backend: str = "ort_int8", key: str = "accuracy") -> float:
        """Test ``key`` (accuracy; bpc for a generating run; wer, per or greedy_wer for a sequence-to-sequence
        run) of ``backend`` (torch_fp32, ort_fp32 or ort_int8)."""
        return float(self.evaluation["backends"][backend][key])

    def latency_p50(self, backend: str, batch: int) -> float | None:
        """Median latency in ms of one call (one step for a generating run, the greedy decoding of the whole
        batch for a sequence-to-sequence run) on ``batch`` items, or None."""
        found = self.evaluation["backends"][backend].get("latency", {}).get(f"batch_{batch}")
        return float(found["p50_ms"]) if found else None


@dataclass(frozen=True)
class TaskResults(_Structure):
    """A task's runs (in params.yaml order) and its baseline (a sequence-to-sequence task has none fitted)."""

    task: str
    runs: list[RunResult]
    baseline: dict[str, Any]
    structure: str = "classify"

    def run_result(self, run: str) -> RunResult:
        """The result of the run called ``run``; a KeyError when the task has none."""
        found = next((result for result in self.runs if result.run == run), None)
        if found is None:
            raise KeyError(f"task {self.task} has no run {run}")
        return found

    def batch_sizes(self) -> list[int]:
        """Every batch size with a latency measurement in any run, ascending."""
        sizes = {
            int(key.removeprefix("batch_"))
            for result in self.runs
            for backend in result.evaluation["backends"].values()
            for key in backend.get("latency", {})
        }
        return sorted(sizes)


def read_input(path: Path, stage: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Read a stage output JSON; a missing file or key is an InputError naming the file and ``stage``."""
    data = read_json(path, made_by=stage)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object (made by stage {stage})")
    missing = [key for key in required if key not in data]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)}; rerun stage {stage} (`dvc repro {stage}`)")
    return data


def read_curve(path: Path, stage: str, column: str) -> tuple[dict[str, float], ...]:
    """A run's per-epoch curve CSV with ``epoch`` and ``column``; a missing file or column, or a cell that is no
    number, is an InputError."""
    rows = read_csv_numbers(path, stage)
    missing = [key for key in ("epoch", column) if not rows or key not in rows[0]]
    if missing:
        raise InputError(f"{path}: no rows with {', '.join(missing)}; rerun stage {stage} (`dvc repro {stage}`)")
    return tuple(rows)


def load_run(layout: Layout, run: str, task: str, structure: str = "classify") -> RunResult:
    """Read the train metrics, evaluation metrics and registry record of ``run`` (and the curve of a
    generating or sequence-to-sequence run), checking the keys a task of ``structure`` needs."""
    keys = input_keys(structure)
    evaluation = read_input(layout.eval_metrics(run), f"evaluate@{run}", keys.evaluation)
    for backend in BACKENDS:
        missing = [key for key in keys.scores if key not in evaluation["backends"].get(backend, {})]
        if missing:
            raise InputError(f"{layout.eval_metrics(run)}: no {', '.join(missing)} for backend {backend}; "
                             f"rerun stage evaluate@{run}")
    return RunResult(
        run=run,
        task=task,
        train=read_input(layout.train_metrics(run), f"train@{run}", keys.train),
        evaluation=evaluation,
        registry=read_input(layout.registry_record(run), f"export@{run}", ("model_name",)),
        structure=structure,
        curve=read_curve(layout.curve(run), f"train@{run}", keys.curve) if keys.curve else (),
    )


def load_results(layout: Layout, params: Params) -> dict[str, TaskResults]:
    """Read every run in params.yaml, grouped by task; tasks without runs are left out."""
    results: dict[str, TaskResults] = {}
    for task, config in params.tasks.items():
        runs = [load_run(layout, name, task, config.structure) for name, run in params.runs.items()
                if run.task == task]
        if not runs:
            logger.warning("task %s has no runs in params.yaml; it is left out of the report", task)
            continue
        baseline = read_input(layout.baseline(task), f"baseline@{task}", input_keys(config.structure).baseline)
        results[task] = TaskResults(task, runs, baseline, config.structure)
    return results
