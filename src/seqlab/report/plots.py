"""Comparison plots of a task's runs: test accuracy per backend, model size, latency per batch size, and
for tag tasks the champion's confusion between tags.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global state, no display)
and written atomically as PNG without a timestamp, so reruns on the same inputs give the same bytes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

from seqlab.io import atomic_path

if TYPE_CHECKING:
    from seqlab.report.summary import TaskResults

logger = logging.getLogger(__name__)

BACKEND_LABELS: dict[str, str] = {"torch_fp32": "torch fp32", "ort_fp32": "ORT fp32", "ort_int8": "ORT int8"}
COLOURS: dict[str, str] = {"torch_fp32": "#4c72b0", "ort_fp32": "#55a868", "ort_int8": "#dd8452"}
BAR_WIDTH = 0.26


def _save(figure: Figure, path: Path) -> None:
    FigureCanvasAgg(figure)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})


def _plain(value: float, _position: float | None = None) -> str:
    return f"{value:.3g}"


def _offsets(count: int) -> np.ndarray:
    return (np.arange(count) - (count - 1) / 2) * BAR_WIDTH  # (count,)


def accuracy_plot(results: TaskResults, path: Path) -> Path:
    """Grouped bars of test accuracy per run and backend, the baseline as a dashed line."""
    runs = [result.run for result in results.runs]
    positions = np.arange(len(runs))  # (R,)
    figure = Figure(figsize=(max(5.0, 1.6 * len(runs) + 2.5), 4.0))
    axes = figure.add_subplot()
    values = []
    for offset, backend in zip(_offsets(len(BACKEND_LABELS)), BACKEND_LABELS, strict=True):
        heights = [result.test_accuracy(backend) for result in results.runs]
        values += heights
        bars = axes.bar(positions + offset, heights, BAR_WIDTH, label=BACKEND_LABELS[backend],
                        color=COLOURS[backend])
        axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    baseline = float(results.baseline["test_accuracy"])
    axes.axhline(baseline, color="black", linestyle="--", linewidth=1,
                 label=f"baseline (TF-IDF + LR) {baseline:.3f}")
    low = min([*values, baseline])
    axes.set_ylim(max(0.0, np.floor((low - 0.05) * 20) / 20), min(1.0, max([*values, baseline]) + 0.02))
    axes.set_xticks(positions, runs, rotation=15 if len(runs) > 3 else 0)
    axes.set_ylabel("test accuracy (axis does not start at 0)")
    axes.set_title(f"{results.task}: test accuracy by backend")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)
    return path


def latency_plot(results: TaskResults, path: Path) -> Path:
    """Median latency per run and backend, one panel per batch size, on a log scale."""
    runs = [result.run for result in results.runs]
    batches = results.batch_sizes()
    positions = np.arange(len(runs))  # (R,)
    figure = Figure(figsize=(max(4.0, 1.4 * len(runs) + 1.5) * max(1, len(batches)) + 0.8, 4.2))
    panels = figure.subplots(1, max(1, len(batches)), squeeze=False)[0]
    for axes, batch in zip(panels, batches, strict=False):
        for offset, backend in zip(_offsets(len(BACKEND_LABELS)), BACKEND_LABELS, strict=True):
            measured = [result.latency_p50(backend, batch) for result in results.runs]
            heights = [np.nan if value is None else value for value in measured]
            bars = axes.bar(positions + offset, heights, BAR_WIDTH, label=BACKEND_LABELS[backend],
                            color=COLOURS[backend])
            axes.bar_label(bars, labels=["" if v is None else _plain(v) for v in measured], fontsize=7, padding=2)
        axes.set_yscale("log")
        axes.margins(y=0.15)
        axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axes.yaxis.set_major_formatter(FuncFormatter(_plain))
        axes.yaxis.set_minor_formatter(FuncFormatter(lambda _value, _position: ""))
        axes.set_xticks(positions, runs, rotation=15 if len(runs) > 3 else 0)
        axes.set_title(f"batch of {batch}")
        axes.grid(axis="y", which="major", alpha=0.3)
    panels[0].set_ylabel("p50 latency per call (ms, log scale)")
    panels[0].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5 * len(panels), -0.1), ncol=3,
                     frameon=False)
    if not batches:
        panels[0].set_title("no latency measured")
    figure.suptitle(f"{results.task}: median latency by backend")
    _save(figure, path)
    return path


def size_plot(results: TaskResults, path: Path) -> Path:
    """Model file size per run, fp32 beside int8, each int8 bar labelled with how many times smaller it is."""
    runs = [result.run for result in results.runs]
    positions = np.arange(len(runs))  # (R,)
    sizes = [result.evaluation["sizes_bytes"] for result in results.runs]
    figure = Figure(figsize=(max(5.0, 1.4 * len(runs) + 2.5), 4.0))
    axes = figure.add_subplot()
    bars_by_kind = [(-BAR_WIDTH / 2, "fp32", COLOURS["ort_fp32"]), (BAR_WIDTH / 2, "int8", COLOURS["ort_int8"])]
    for offset, kind, colour in bars_by_kind:
        bars = axes.bar(positions + offset, [size[kind] / 1e6 for size in sizes], BAR_WIDTH, label=f"ONNX {kind}",
                        color=colour)
        labels = [f"{size['fp32'] / size['int8']:.1f}×" if kind == "int8" else "" for size in sizes]
        axes.bar_label(bars, labels=labels, fontsize=7, padding=2)
    axes.set_xticks(positions, runs, rotation=15 if len(runs) > 3 else 0)
    axes.set_ylabel("model file (MB)")
    axes.set_title(f"{results.task}: model size, fp32 and int8 (label: times smaller)")
    axes.legend(fontsize=8, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)
    return path


def confusion_plot(confusion: dict[str, list], title: str, path: Path, most: int = 20) -> Path:
    """Heat map of a confusion matrix (rows: true tag, columns: predicted), each row as shares of that
    tag's tokens, for the ``most`` most frequent tags; the diagonal is left blank so errors stand out."""
    labels = confusion["labels"][:most]
    matrix = np.asarray(confusion["matrix"], dtype=float)[:most, :most]  # (L, L) counts
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)  # (L, L) rows sum to <= 1
    np.fill_diagonal(shares, np.nan)
    figure = Figure(figsize=(1.0 + 0.38 * len(labels), 0.8 + 0.34 * len(labels)))
    axes = figure.add_subplot()
    image = axes.imshow(shares, cmap="Reds", vmin=0)
    axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlabel("predicted tag")
    axes.set_ylabel("true tag")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true tag's tokens")
    _save(figure, path)
    return path


def write_task_plots(results: TaskResults, plot_dir: Path, champion: str | None = None) -> dict[str, Path]:
    """Write ``<task>_{accuracy,size,latency}.png`` into ``plot_dir``, and ``<task>_confusion.png`` of the
    ``champion`` run's int8 model when it is a tagger; returns kind -> path."""
    plots = {
        "accuracy": accuracy_plot(results, plot_dir / f"{results.task}_accuracy.png"),
        "size": size_plot(results, plot_dir / f"{results.task}_size.png"),
        "latency": latency_plot(results, plot_dir / f"{results.task}_latency.png"),
    }
    confusion = results.run_result(champion).evaluation["backends"]["ort_int8"].get("confusion") if champion else None
    if confusion:
        title = f"{results.task}: tag confusion of {champion} (ORT int8, test split, errors only)"
        plots["confusion"] = confusion_plot(confusion, title, plot_dir / f"{results.task}_confusion.png")
    logger.info("%s: plots %s", results.task, ", ".join(str(path) for path in plots.values()))
    return plots
