"""Figures of the cell study: gradient flow, adding-problem test MSE and training curves.

Drawn on matplotlib's Agg canvas without pyplot and saved like the pipeline's other plots
(atomically, no timestamp), so reruns on the same inputs give the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from seqlab.report.plots import _save
from seqlab.study.adding import TRIVIAL_MSE
from seqlab.study.gradients import CONDITIONS

COLOURS: dict[str, str] = {"rnn_tanh": "#4c72b0", "rnn_relu": "#8172b3", "lstm": "#dd8452", "gru": "#55a868"}


def gradient_plot(norms: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """||dLoss/dh_t|| against the distance from the loss, log scale: one panel per condition, a line per cell."""
    conditions = list(CONDITIONS)
    figure = Figure(figsize=(4.2 * len(conditions), 4.0))
    panels = figure.subplots(1, len(conditions), sharey=True, squeeze=False)[0]
    for axes, condition in zip(panels, conditions, strict=True):
        for cell, by_condition in norms.items():
            values = np.asarray(by_condition[condition])  # (T,) by distance
            axes.plot(np.arange(len(values)), values, label=cell, color=COLOURS.get(cell), linewidth=1.6)
        axes.set_yscale("log")
        axes.set_title(CONDITIONS[condition])
        axes.set_xlabel("distance from the loss (steps)")
        axes.grid(which="major", alpha=0.3)
    panels[0].set_ylabel("mean ||dLoss/dh_t|| (log scale)")
    panels[0].legend(fontsize=8)
    figure.suptitle("Gradient flow through time (adding problem)")
    _save(figure, path)
    return path


def adding_plot(cells: list[str], lengths: list[int], mse: dict[tuple[str, int], float], solved_mse: float,
                path: Path) -> Path:
    """Test MSE per length (groups) and cell (bars), log scale, with the trivial 0.167 and the solved line."""
    width = 0.8 / len(cells)
    positions = np.arange(len(lengths))  # (L,)
    figure = Figure(figsize=(max(5.0, 1.2 * len(lengths) * len(cells) + 1.5), 4.2))
    axes = figure.add_subplot()
    for index, cell in enumerate(cells):
        heights = [mse[cell, length] for length in lengths]
        bars = axes.bar(positions + (index - (len(cells) - 1) / 2) * width, heights, width, label=cell,
                        color=COLOURS.get(cell))
        axes.bar_label(bars, fmt="%.2g", fontsize=7, padding=2)
    axes.axhline(TRIVIAL_MSE, color="black", linestyle="--", linewidth=1,
                 label=f"always predict 1.0 ({TRIVIAL_MSE:.3f})")
    axes.axhline(solved_mse, color="grey", linestyle=":", linewidth=1, label=f"solved below {solved_mse:g}")
    axes.set_yscale("log")
    axes.margins(y=0.15)
    axes.set_xticks(positions, [f"T = {length}" for length in lengths])
    axes.set_ylabel("test MSE (log scale)")
    axes.set_title("Adding problem: test MSE after equal training budgets")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)
    return path


def curves_plot(lengths: list[int], runs: dict[str, dict[str, Any]], curves: dict[str, list[dict[str, float]]],
                path: Path) -> Path:
    """Test MSE against training step, one panel per length, a line per run (dashed: trained without clipping)."""
    figure = Figure(figsize=(4.2 * len(lengths), 4.0))
    panels = figure.subplots(1, len(lengths), sharey=True, squeeze=False)[0]
    for axes, length in zip(panels, lengths, strict=True):
        for name, summary in runs.items():
            if summary["length"] != length or not curves[name]:
                continue
            steps = [point["step"] for point in curves[name]]
            values = [point["test_mse"] for point in curves[name]]
            clipped = summary["clip_norm"] is not None
            axes.plot(steps, values, color=COLOURS.get(summary["cell"]), linestyle="-" if clipped else "--",
                      label=summary["cell"] + ("" if clipped else ", no clipping"), linewidth=1.4)
        axes.axhline(TRIVIAL_MSE, color="black", linestyle=":", linewidth=1)
        axes.set_yscale("log")
        axes.set_title(f"T = {length}")
        axes.set_xlabel("training step")
        axes.grid(which="major", alpha=0.3)
    labelled = {label: handle for axes in panels for handle, label in zip(*axes.get_legend_handles_labels(),
                                                                          strict=True)}
    panels[-1].legend(labelled.values(), labelled.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    panels[0].set_ylabel("test MSE (log scale; dotted: always predict 1.0)")
    figure.suptitle("Adding problem: training curves")
    _save(figure, path)
    return path
