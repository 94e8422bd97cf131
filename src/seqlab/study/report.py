"""The study report: every study metric -> reports/study/study.md and its plots, logged to MLflow.

Inputs (paths from :class:`seqlab.paths.Layout`): each adding-problem model's metrics and curve,
each cell's gradient-flow summary and norms, and the size table. A missing input stops the report
with an :class:`~seqlab.io.InputError` naming the file and the stage that makes it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqlab.config import StudyConfig
from seqlab.io import read_csv_numbers, read_json, write_text
from seqlab.paths import Layout
from seqlab.study.adding import EXPERIMENT, TRIVIAL_MSE, run_name
from seqlab.study.gradients import CONDITIONS
from seqlab.study.plots import adding_plot, curves_plot, gradient_plot
from seqlab.training.tracking import MlflowTracker, provenance_tags

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResults:
    """Everything the study stages measured, read back from their outputs."""

    runs: dict[str, dict[str, Any]]  # run name -> training summary (clipped models, then unclipped twins)
    curves: dict[str, list[dict[str, float]]]  # run name -> curve points
    gradients: dict[str, dict[str, Any]]  # cell -> gradient-flow summary
    norms: dict[str, dict[str, list[float]]]  # cell -> condition -> norm by distance
    sizes: dict[str, Any]


def load_study(layout: Layout, study: StudyConfig) -> StudyResults:
    """Read the outputs of every study stage that params.yaml's ``study`` section defines."""
    stages = {run_name(cell, length): f"study_adding@{cell}-{length}" for cell in study.cells
              for length in study.lengths}
    stages |= {run_name(cell, study.gradients.length, clipped=False): f"study_gradients@{cell}"
               for cell in study.cells}
    runs = {name: read_json(layout.study_metrics(name), made_by=stage) for name, stage in stages.items()}
    curves = {name: read_csv_numbers(layout.study_curve(name), stage) for name, stage in stages.items()}
    gradients = {cell: read_json(layout.study_gradients(cell), made_by=f"study_gradients@{cell}")
                 for cell in study.cells}
    norms = {}
    for cell in study.cells:
        rows = read_csv_numbers(layout.study_gradient_norms(cell), f"study_gradients@{cell}")
        norms[cell] = {condition: [row[condition] for row in rows] for condition in CONDITIONS}
    return StudyResults(runs, curves, gradients, norms, read_json(layout.study_sizes, made_by="study_sizes"))


def _mse(value: float, solved_mse: float) -> str:
    return (f"{value:.4f}" if value >= 1e-3 else f"{value:.1e}") + (" ✓" if value < solved_mse else "")


def _sci(value: float | None) -> str:
    return "–" if value is None else f"{value:.2e}"


def adding_lines(study: StudyConfig, results: StudyResults) -> list[str]:
    """Markdown: test MSE per cell and length, the unclipped twins in their own column, then findings."""
    twin = study.gradients.length
    header = ["cell", *[f"T={length}" for length in study.lengths], f"T={twin}, no clipping"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for cell in study.cells:
        row = [cell] + [_mse(results.runs[run_name(cell, length)]["test_mse"], study.solved_mse)
                        for length in study.lengths]
        unclipped = results.runs[run_name(cell, twin, clipped=False)]
        diverged = f" (diverged at step {unclipped['diverged_at_step']})" if unclipped["diverged_at_step"] else ""
        lines.append("| " + " | ".join([*row, _mse(unclipped["test_mse"], study.solved_mse) + diverged]) + " |")
    lines.append("")
    for length in study.lengths:
        solved = [cell for cell in study.cells if results.runs[run_name(cell, length)]["test_mse"] < study.solved_mse]
        unsolved = [f"{cell} ({results.runs[run_name(cell, length)]['test_mse']:.3f})" for cell in study.cells
                    if cell not in solved]
        said = [f"solved by {', '.join(solved)}"] if solved else []
        said += [f"not solved by {', '.join(unsolved)}"] if unsolved else []
        lines.append(f"- T={length}: {'; '.join(said)}.")
    if any(run["test_mse"] > TRIVIAL_MSE for run in results.runs.values()):
        lines.append(f"- A test MSE above {TRIVIAL_MSE:.3f} is a model that never learned the task and ends "
                     "worse than the constant prediction: its output still moves with the training noise (curves).")
    seconds = {cell: sum(run["train_seconds"] for run in results.runs.values() if run["cell"] == cell)
               for cell in study.cells}
    lines.append("- Training wall time, all of a cell's runs on this machine: "
                 + ", ".join(f"{cell} {value:.0f} s" for cell, value in seconds.items()) + ".")
    return lines


def gradient_lines(study: StudyConfig, results: StudyResults) -> list[str]:
    """Markdown: the gradient norm at the loss, half-way and at the far end, per cell and condition."""
    far = study.gradients.length - 1
    lines = [f"| cell | condition | at the loss | {far // 2} steps back | {far} steps back | far / near |",
             "|---|---|---:|---:|---:|---:|"]
    for cell in study.cells:
        for condition, label in CONDITIONS.items():
            figures = results.gradients[cell]["conditions"][condition]
            lines.append(f"| {cell} | {label} | {_sci(figures['norm_at_loss'])} | {_sci(figures['norm_half_way'])} | "
                         f"{_sci(figures['norm_far'])} | {_sci(figures['far_over_near'])} |")
    return lines


def size_lines(study: StudyConfig, results: StudyResults) -> list[str]:
    """Markdown: parameters and µs per time step per hidden size and cell."""
    sizes = results.sizes
    batches = study.sizes.batch_sizes
    header = ["hidden", "cell", "parameters", "vs LSTM", *[f"µs / step, batch {batch}" for batch in batches]]
    lines = [f"Input size {sizes['input_size']}; median of {sizes['repeats']} calls of {sizes['steps']} steps, "
             f"{sizes['threads']} CPU thread(s), inference mode.", "",
             "| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (len(header) - 2)]
    for hidden, row in sizes["hidden"].items():
        for cell, figures in row.items():
            ratio = figures.get("parameters_vs_lstm")
            lines.append("| " + " | ".join([hidden, cell, f"{figures['parameters']:,}",
                                             "–" if ratio is None else f"{ratio:.3f}",
                                             *[f"{figures[f'us_per_step_b{batch}']:.1f}" for batch in batches]])
                         + " |")
    if {"lstm", "gru"} <= set(study.cells):
        rows = sizes["hidden"].values()
        parameter_ratios = sorted({f"{row['gru']['parameters_vs_lstm']:.3f}" for row in rows})
        said = [f"parameters {', '.join(parameter_ratios)}"]
        for batch in batches:
            key = f"us_per_step_b{batch}"
            said.append(f"time per step at batch {batch}: "
                        + ", ".join(f"{row['gru'][key] / row['lstm'][key]:.2f}" for row in rows))
        lines += ["", f"- GRU / LSTM, hidden {', '.join(sizes['hidden'])}: " + "; ".join(said) + "."]
    return lines


def study_markdown(study: StudyConfig, results: StudyResults, plots: dict[str, Path]) -> str:
    """The whole reports/study/study.md text; ``plots`` are PNGs in the same folder."""
    train = study.train
    forget = "" if train.forget_bias is None else f", LSTM forget-gate bias {train.forget_bias:g} at init"
    return "\n".join([
        "# Vanilla RNN, LSTM and GRU: measured", "",
        f"Every model: one fused layer of {train.hidden} units and a linear read-out of the last state; Adam, "
        f"lr {train.lr:g}, batch {train.batch_size}, {train.steps} steps of fresh random sequences, seed "
        f"{study.seed}, gradient norm clipped at {train.clip_norm:g} unless said otherwise{forget}.", "",
        "## Long-range memory: the adding problem", "",
        "Each step carries a value ~ U(0, 1) and a marker; two steps are marked, one in each half; the target "
        "is the sum of the two marked values, read at the last step (Hochreiter & Schmidhuber 1997; Le et al. "
        f"2015). Always predicting 1.0 scores MSE {TRIVIAL_MSE:.3f}; a length is solved below test MSE "
        f"{study.solved_mse:g} (✓). Test MSE on {study.test_size} fixed sequences per length, after the last step.",
        "", *adding_lines(study, results), "",
        f"![test MSE]({plots['adding'].name})", "", f"![training curves]({plots['curves'].name})", "",
        "## Gradient flow", "",
        f"Mean over {study.gradients.sequences} test sequences of ||dLoss/dh_t|| (each sequence's own squared "
        f"error at the last step) against the distance from the loss, at T={study.gradients.length}, measured "
        f"through the scratch cells in float64. *far / near*: the norm {study.gradients.length - 1} steps back "
        "over the norm at the loss, the share of the gradient that reaches the first marker's earliest "
        "position. (A trained model that solves the task has a small error, hence a small norm at the loss.)", "",
        *gradient_lines(study, results), "", f"![gradient flow]({plots['gradients'].name})", "",
        "## Parameters and step latency", "", *size_lines(study, results), "",
    ])


def write_study_report(layout: Layout, study: StudyConfig) -> list[Path]:
    """Write study.md and its plots to reports/study/ and log them as an MLflow run; returns the files written."""
    results = load_study(layout, study)
    folder = layout.study_reports
    mse = {(run["cell"], run["length"]): run["test_mse"] for run in results.runs.values()
           if run["clip_norm"] is not None}
    plots = {
        "adding": adding_plot(study.cells, study.lengths, mse, study.solved_mse, folder / "adding_mse.png"),
        "curves": curves_plot(study.lengths, results.runs, results.curves, folder / "curves.png"),
        "gradients": gradient_plot(results.norms, folder / "gradients.png"),
    }
    report = folder / "study.md"
    write_text(report, study_markdown(study, results, plots))
    files = [report, *plots.values()]
    tracker = MlflowTracker.in_workspace(layout.root, EXPERIMENT, "study-report",
                            tags={**provenance_tags(layout.root), "study": "report"})
    tracker.log_metrics({f"test_mse.{name}": run["test_mse"] for name, run in results.runs.items()})
    for path in files:
        tracker.log_artifact(path, "study")
    tracker.finish()
    logger.info("wrote %s", ", ".join(str(path) for path in files))
    return files
