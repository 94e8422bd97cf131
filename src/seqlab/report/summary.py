"""The cross-run report: read every run's metrics, write reports/summary.md, plots and champions.

Inputs per run (paths from :class:`seqlab.paths.Layout`): the train metrics, the evaluation metrics,
the export's registry record (``reports/registry/<run>.json``) and the task's baseline metrics.
A missing or malformed input stops the report with an :class:`~seqlab.io.InputError` naming the
file and the stage that makes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.config import Params
from seqlab.io import InputError, read_json, write_json, write_text
from seqlab.paths import Layout
from seqlab.report.champion import champions_record, set_champion_aliases
from seqlab.report.plots import write_task_plots

logger = logging.getLogger(__name__)

BACKENDS: dict[str, str] = {"torch_fp32": "torch", "ort_fp32": "ORT fp32", "ort_int8": "ORT int8"}
SIZES: tuple[str, ...] = ("fp32", "int8", "fp16")
TRAIN_KEYS = ("valid_accuracy", "valid_macro_f1", "parameters")
EVAL_KEYS = ("cell", "bidirectional", "layers", "residual", "impl", "parameters", "backends", "sizes_bytes",
             "int8_accuracy_drop_points")
BASELINE_KEYS = ("model", "valid_accuracy", "test_accuracy", "test_macro_f1")


@dataclass(frozen=True)
class RunResult:
    """Everything the report knows about one run."""

    run: str
    task: str
    train: dict[str, Any]
    evaluation: dict[str, Any]
    registry: dict[str, Any]

    @property
    def valid_accuracy(self) -> float:
        return float(self.train["valid_accuracy"])

    def test_accuracy(self, backend: str = "ort_int8") -> float:
        """Test accuracy of ``backend`` (torch_fp32, ort_fp32 or ort_int8)."""
        return float(self.evaluation["backends"][backend]["accuracy"])

    def latency_p50(self, backend: str, batch: int) -> float | None:
        """Median latency in ms of one batch of ``batch`` items, or None when not measured."""
        found = self.evaluation["backends"][backend].get("latency", {}).get(f"batch_{batch}")
        return float(found["p50_ms"]) if found else None


@dataclass(frozen=True)
class TaskResults:
    """A task's runs (in params.yaml order) and its baseline."""

    task: str
    runs: list[RunResult]
    baseline: dict[str, Any]

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


def load_run(layout: Layout, run: str, task: str) -> RunResult:
    """Read the train metrics, evaluation metrics and registry record of ``run``."""
    evaluation = read_input(layout.eval_metrics(run), f"evaluate@{run}", EVAL_KEYS)
    for backend in BACKENDS:
        if "accuracy" not in evaluation["backends"].get(backend, {}):
            raise InputError(f"{layout.eval_metrics(run)}: no accuracy for backend {backend}; "
                             f"rerun stage evaluate@{run}")
    return RunResult(
        run=run,
        task=task,
        train=read_input(layout.train_metrics(run), f"train@{run}", TRAIN_KEYS),
        evaluation=evaluation,
        registry=read_input(layout.registry_record(run), f"export@{run}", ("model_name",)),
    )


def load_results(layout: Layout, params: Params) -> dict[str, TaskResults]:
    """Read every run in params.yaml, grouped by task; tasks without runs are left out."""
    results: dict[str, TaskResults] = {}
    for task in params.tasks:
        runs = [load_run(layout, name, task) for name, run in params.runs.items() if run.task == task]
        if not runs:
            logger.warning("task %s has no runs in params.yaml; it is left out of the report", task)
            continue
        baseline = read_input(layout.baseline(task), f"baseline@{task}", BASELINE_KEYS)
        results[task] = TaskResults(task, runs, baseline)
    return results


def _acc(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _mb(size: float | None) -> str:
    return "–" if size is None else f"{size / 1e6:.2f}"


def _measured_on(results: TaskResults) -> str:
    """One line saying how the numbers were measured (test size, provider, threads), per distinct setting."""
    settings = sorted({(str(r.evaluation.get("test_examples", "?")), str(r.evaluation.get("provider", "?")),
                        str(r.evaluation.get("threads", "?"))) for r in results.runs})
    said = "; ".join(f"{examples} test examples, ONNX Runtime provider {provider}, {threads} threads"
                     for examples, provider, threads in settings)
    return f"Measured on {said}."


def task_table(results: TaskResults) -> list[str]:
    """Markdown table lines: one row per run, then the baseline row."""
    batches = results.batch_sizes()
    header = ["run", "cell", "bi", "layers", "residual", "impl", "params", "valid acc", "test acc torch",
              "test acc ORT fp32",
              "test acc ORT int8", "macro-F1 ORT int8", "int8 drop (pts)", "fp32 MB", "int8 MB", "fp16 MB",
              "fp32/int8"]
    header += [f"p50 ms b{batch} {label}" for batch in batches for label in BACKENDS.values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * 7 + ["---:"] * (len(header) - 7)) + "|"]
    for result in results.runs:
        ev = result.evaluation
        sizes = ev["sizes_bytes"]
        ratio = f"{sizes['fp32'] / sizes['int8']:.1f}×" if sizes.get("fp32") and sizes.get("int8") else "–"
        row = [f"`{result.run}`", str(ev["cell"]), "yes" if ev["bidirectional"] else "no", str(ev["layers"]),
               "yes" if ev["residual"] else "no", str(ev["impl"]), f"{int(ev['parameters']):,}",
               _acc(result.valid_accuracy)]
        row += [_acc(result.test_accuracy(backend)) for backend in BACKENDS]
        row += [_acc(ev["backends"]["ort_int8"].get("macro_f1")), f"{float(ev['int8_accuracy_drop_points']):.2f}"]
        row += [_mb(sizes.get(kind)) for kind in SIZES] + [ratio]
        row += [_ms(result.latency_p50(backend, batch)) for batch in batches for backend in BACKENDS]
        lines.append("| " + " | ".join(row) + " |")
    base = results.baseline
    row = ["baseline", str(base["model"]), "–", "–", "–", "–", "–", _acc(base["valid_accuracy"]),
           _acc(base["test_accuracy"]),
           "–", "–", _acc(base["test_macro_f1"])]
    lines.append("| " + " | ".join(row + ["–"] * (len(header) - len(row))) + " |")
    return lines


TAGGING_FIGURES: dict[str, str] = {
    "oov_accuracy": "accuracy on words unseen in training", "word_precision": "word precision",
    "word_recall": "word recall", "word_f1": "word F1",
}


def _tagging_lines(results: TaskResults, champion: str, most: int = 12) -> list[str]:
    """For a tag task: the champion's unseen-word accuracy or word F1 beside the baseline's, and its
    precision, recall and F1 on the ``most`` most frequent tags."""
    scores = results.run_result(champion).evaluation["backends"]["ort_int8"]
    found = [(key, label) for key, label in TAGGING_FIGURES.items() if scores.get(key) is not None]
    if not found:
        return []
    said = ", ".join(f"{label} {scores[key]:.4f}" for key, label in found)
    base = ", ".join(f"{label} {results.baseline[f'test_{key}']:.4f}" for key, label in found
                     if results.baseline.get(f"test_{key}") is not None)
    lines = [f"Tagging figures, test split: champion (ORT int8) {said}" + (f"; baseline {base}." if base else "."), ""]
    per_tag = sorted(scores.get("per_tag", {}).items(), key=lambda item: -item[1]["support"])[:most]
    if per_tag:
        lines += [f"Champion per tag ({len(per_tag)} most frequent tags in the test split):", "",
                  "| tag | test tokens | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
        lines += [f"| `{tag}` | {row['support']:,} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} |"
                  for tag, row in per_tag]
        lines.append("")
    return lines


LEGEND = """\
## How to read the tables

- **run**: the run's name in params.yaml; **cell / bi / layers / residual**: recurrent cell,
  bidirectional or not, stacked layers, residual connections between layers; **impl**: torch's fused
  kernels or the step-by-step cells of `seqlab.models.cells` (exported through the same ONNX nodes);
  **params**: trainable parameters.
- **valid acc**: accuracy of the best checkpoint on the valid split (the split used for early
  stopping). The **champion** of a task is the run with the highest *VALID* accuracy (ties: valid
  macro-F1, then lower valid loss, then name); test numbers never take part in the choice, so they
  stay an honest estimate of how the champion does on new data.
- **test acc torch / ORT fp32 / ORT int8**: accuracy on the held-out test split of the PyTorch model,
  the exported ONNX model in ONNX Runtime, and its int8 version (weights stored as int8 for every
  cell type; see docs/library-notes.md for what runs in int8).
  **macro-F1 ORT int8**: F1 averaged over classes (each class counts equally) of the int8 model.
- **int8 drop (pts)**: test accuracy lost by int8 quantization, in percentage points, as the evaluate
  stage measured it (positive: the int8 model is worse).
- **fp32 / int8 / fp16 MB**: model file sizes in megabytes (10^6 bytes); **fp32/int8**: how many
  times smaller the int8 file is.
- **p50 ms bN**: median latency in milliseconds of one call on a batch of N texts (evaluate stage,
  CPU unless stated in metrics/eval); compare within one machine only.
- **baseline**: classify tasks: character 1-3-gram TF-IDF + logistic regression (scikit-learn, C
  chosen on valid); tag tasks: the most frequent train tag of each word (unseen words: the most
  frequent tag), or for segmentation forward maximum matching with the train split's words. Its test
  accuracy sits in the *test acc torch* column and its test macro-F1 in the macro-F1 column.
- **tag tasks**: *acc* is token accuracy (every token of every test sentence), *macro-F1* the F1
  averaged over tags; a confusion plot shows which tags the champion mixes up.
"""


def summary_markdown(results: dict[str, TaskResults], champions: dict[str, dict[str, Any]],
                     plots: dict[str, dict[str, Path]], report_dir: Path) -> str:
    """The whole reports/summary.md text; ``plots`` maps task -> kind -> PNG path (linked relatively)."""
    lines = ["# seqlab summary", "",
             "Every run in params.yaml against a non-neural baseline; see the legend below the tables.", ""]
    for task, task_results in results.items():
        champion = champions[task]
        base = task_results.baseline
        lines += [f"## Task `{task}`", "", _measured_on(task_results), "", *task_table(task_results), ""]
        version = champion.get("version")
        registered = (f"registered as `{champion['model_name']}` version {version}, alias `champion`"
                      if version else "not in the MLflow model registry (no alias set)")
        lines += [f"**Champion:** `{champion['run']}`, valid accuracy {champion['valid_accuracy']:.4f}, "
                  f"test accuracy (ORT int8) {champion['test_accuracy']:.4f}; {registered}.", "",
                  f"Baseline ({base['model']}, C={base.get('C', '?')}): test accuracy "
                  f"{base['test_accuracy']:.4f}; champion (ORT int8) minus baseline: "
                  f"{100 * (champion['test_accuracy'] - base['test_accuracy']):+.2f} points.", ""]
        lines += _tagging_lines(task_results, champion["run"])
        for kind, path in plots.get(task, {}).items():
            lines += [f"![{task} {kind}]({path.relative_to(report_dir).as_posix()})", ""]
    lines.append(LEGEND)
    return "\n".join(lines)


def write_report(layout: Layout, params: Params, set_aliases: bool = True) -> dict[str, dict[str, Any]]:
    """Write summary.md, the plots and champions.json under reports/; set the MLflow champion aliases.

    Every input is read (and checked) before anything is written. Returns the champions record.
    """
    results = load_results(layout, params)
    champions = champions_record(results)
    plot_dir = layout.reports / "plots"
    plots = {task: write_task_plots(task_results, plot_dir, champions[task]["run"])
             for task, task_results in results.items()}
    summary = layout.reports / "summary.md"
    write_text(summary, summary_markdown(results, champions, plots, layout.reports))
    write_json(layout.champions, champions)
    logger.info("wrote %s, %s and %d plots", summary, layout.champions, sum(map(len, plots.values())))
    if set_aliases:
        set_champion_aliases(champions, layout.root)
    return champions
