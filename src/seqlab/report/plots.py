"""Comparison plots of a task's runs: the test score per backend (accuracy, bits per character for
generating tasks, word error rate for sequence-to-sequence tasks), model size, latency per batch size,
for tag tasks the champion's confusion between tags, and for generating and sequence-to-sequence tasks
every run's learning curve (valid bits per character or valid word error rate per epoch).
For sequence-to-sequence models, heat maps of a decoder's attention over the source tokens.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot, no global state, no display)
and written atomically as PNG without a timestamp, so reruns on the same inputs give the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator

from seqlab.io import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from seqlab.report.results import TaskResults

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


@dataclass(frozen=True)
class Score:
    """A score to plot: its key in the evaluation's backends (a test score) or in the curve CSV (a valid
    score per epoch), and in the baseline record (None: the task has no baseline)."""

    key: str
    label: str
    baseline_key: str | None
    highest: float | None  # the largest value the score can take, if any
    note: str = ""  # said after the title


ACCURACY = Score("accuracy", "test accuracy", "test_accuracy", 1.0)
BPC = Score("bpc", "test bits per character", "test_bpc", None, " (lower is better)")
WER = Score("wer", "test WER (beam search)", None, 1.0, " (lower is better)")
VALID_BPC = Score("valid_bpc", "valid bits per character", "valid_bpc", None)
VALID_WER = Score("valid_wer", "valid WER (greedy decoding)", None, 1.0)


def _baseline_line(axes: Axes, results: TaskResults, key: str | None) -> list[float]:
    """Draw the baseline's ``key`` as a dashed line and return ``[its value]``; ``[]`` when ``key`` is None."""
    if key is None:
        return []
    value = float(results.baseline[key])
    axes.axhline(value, color="black", linestyle="--", linewidth=1,
                 label=f"baseline ({results.baseline['model']}) {value:.3f}")
    return [value]


def score_plot(results: TaskResults, path: Path, score: Score = ACCURACY) -> Path:
    """Grouped bars of a test score per run and backend, the baseline (if the score has one) as a dashed line."""
    runs = [result.run for result in results.runs]
    positions = np.arange(len(runs))  # (R,)
    figure = Figure(figsize=(max(5.0, 1.6 * len(runs) + 2.5), 4.0))
    axes = figure.add_subplot()
    values = []
    for offset, backend in zip(_offsets(len(BACKEND_LABELS)), BACKEND_LABELS, strict=True):
        heights = [result.test_score(backend, score.key) for result in results.runs]
        values += heights
        bars = axes.bar(positions + offset, heights, BAR_WIDTH, label=BACKEND_LABELS[backend],
                        color=COLOURS[backend])
        axes.bar_label(bars, fmt="%.3f", fontsize=7, padding=2)
    values += _baseline_line(axes, results, score.baseline_key)
    low, high = min(values), max(values) + 0.02
    top = high if score.highest is None else min(score.highest, high)
    axes.set_ylim(max(0.0, np.floor((low - 0.05) * 20) / 20), top)
    axes.set_xticks(positions, runs, rotation=15 if len(runs) > 3 else 0)
    axes.set_ylabel(f"{score.label} (axis does not start at 0)")
    axes.set_title(f"{results.task}: {score.label} by backend{score.note}")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    _save(figure, path)
    return path


def latency_plot(results: TaskResults, path: Path, per: str = "call") -> Path:
    """Median latency of one ``per`` (a call, or a generating model's step) per run and backend, one panel per
    batch size, on a log scale."""
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
    panels[0].set_ylabel(f"p50 latency per {per} (ms, log scale)")
    panels[0].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5 * len(panels), -0.1), ncol=3,
                     frameon=False)
    if not batches:
        panels[0].set_title("no latency measured")
    figure.suptitle(f"{results.task}: median latency of one {per} by backend")
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


def curve_plot(results: TaskResults, path: Path, score: Score = VALID_BPC) -> Path:
    """A valid ``score`` (a curve CSV column: valid bits per character, valid word error rate) after each
    epoch, a line per run (its best epoch starred), the baseline's (if the score has one) as a dashed line."""
    figure = Figure(figsize=(6.5, 4.2))
    axes = figure.add_subplot()
    for result in results.runs:
        epochs = [row["epoch"] for row in result.curve]
        values = [row[score.key] for row in result.curve]
        line = axes.plot(epochs, values, marker="o", markersize=3, linewidth=1.5, label=result.run)[0]
        best = int(result.train.get("best_epoch", 0))
        if best in epochs:
            axes.plot(best, values[epochs.index(best)], marker="*", markersize=11, color=line.get_color())
    _baseline_line(axes, results, score.baseline_key)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(score.label)
    axes.set_title(f"{results.task}: learning curves (star: the best epoch, the checkpoint kept)")
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    axes.grid(alpha=0.3)
    _save(figure, path)
    return path


def _attention_weights(source: list[str], output: list[str], weights: np.ndarray, name: str) -> np.ndarray:
    """``weights`` as floats, or a ValueError naming its shape and the (output, source) shape it must have."""
    matrix = np.asarray(weights, dtype=float)
    expected = (len(output), len(source))
    if matrix.shape != expected:
        raise ValueError(f"{name}: attention weights of shape {matrix.shape}, but {len(output)} output and "
                         f"{len(source)} source tokens need shape {expected}")
    return matrix


def _attention_axes(figure: Figure, axes: Axes, source: list[str], output: list[str], weights: np.ndarray,
                    title: str) -> None:
    """Draw one attention heat map (already checked weights) with its colour bar on ``axes``."""
    # At least 0..1, the range of attention shares, so panels side by side share a scale.
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=max(1.0, float(np.nanmax(weights, initial=0.0))))
    rotation = 90 if max(map(len, source), default=0) > 2 else 0  # letters read best upright
    axes.set_xticks(range(len(source)), source, rotation=rotation, fontsize=8)
    axes.set_yticks(range(len(output)), output, fontsize=8)  # imshow puts row 0, the first output, at the top
    axes.set_xlabel("source token")
    axes.set_ylabel("output token")
    axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="attention weight")


def _attention_size(source: list[str], output: list[str]) -> tuple[float, float]:
    """Inches for one heat map and its colour bar: width by source tokens, height by output tokens."""
    return 2.2 + 0.34 * max(len(source), 4), 1.2 + 0.3 * max(len(output), 4)


def attention_plot(source: list[str], output: list[str], weights: np.ndarray, title: str, path: Path) -> Path:
    """Heat map of a decoder's attention: row ``i`` of ``weights`` (shape ``(len(output), len(source))``) is
    the attention over the source tokens (x axis) when output token ``i`` (y axis, first at the top) was
    produced. A wrong shape is a ValueError naming both shapes."""
    matrix = _attention_weights(source, output, weights, title)
    figure = Figure(figsize=_attention_size(source, output))
    _attention_axes(figure, figure.add_subplot(), source, output, matrix, title)
    _save(figure, path)
    return path


def attention_grid(examples: list[tuple[str, list[str], list[str], np.ndarray]], title: str, path: Path,
                   columns: int = 2) -> Path:
    """Attention heat maps of several examples ``(word, source tokens, output tokens, weights)`` in one figure,
    ``columns`` per row, each titled with its word (see ``attention_plot``). No examples, or an example's
    weights of the wrong shape, is a ValueError."""
    if not examples:
        raise ValueError(f"{title}: no attention examples to plot")
    checked = [(word, source, output, _attention_weights(source, output, weights, word))
               for word, source, output, weights in examples]
    rows = -(-len(checked) // columns)  # ceiling division
    width = max(_attention_size(source, output)[0] for _, source, output, _ in checked)
    height = max(_attention_size(source, output)[1] for _, source, output, _ in checked)
    figure = Figure(figsize=(width * columns, height * rows + 0.4), layout="constrained")  # no label overlaps
    panels = figure.subplots(rows, columns, squeeze=False).ravel()
    for axes, (word, source, output, weights) in zip(panels, checked, strict=False):
        _attention_axes(figure, axes, source, output, weights, word)
    for axes in panels[len(checked):]:
        axes.set_axis_off()  # an odd count leaves the last panel empty
    figure.suptitle(title)
    _save(figure, path)
    return path


def _sample_word(source: list[str]) -> str:
    """A sample's source as one string: characters joined into a word, longer tokens (words) with spaces."""
    # The evaluate stage's samples do not say how the source was tokenized; single-character tokens mean characters.
    return "".join(source) if all(len(token) == 1 for token in source) else " ".join(source)


def attention_samples_plot(samples: list[dict[str, Any]], title: str, path: Path) -> Path:
    """Attention heat maps of the evaluate stage's ``attention_samples`` (each: ``source`` tokens, greedy
    ``output`` tokens ending in ``<eos>``, ``weights`` of one row per output token and one column per source
    token) in one figure via ``attention_grid``, each panel titled with its source. No samples, or weights of
    the wrong shape, is a ValueError."""
    examples = [(_sample_word(sample["source"]), list(sample["source"]), list(sample["output"]),
                 np.asarray(sample["weights"], dtype=float)) for sample in samples]
    return attention_grid(examples, title, path)


def _score_plots(results: TaskResults, plot_dir: Path) -> dict[str, Path]:
    """The task's test score per backend and, for generating and sequence-to-sequence tasks, its valid curves."""
    task = results.task
    if results.seq2seq:
        return {"wer": score_plot(results, plot_dir / f"{task}_wer.png", WER),
                "curves": curve_plot(results, plot_dir / f"{task}_curves.png", VALID_WER)}
    if results.generative:
        return {"bpc": score_plot(results, plot_dir / f"{task}_bpc.png", BPC),
                "curves": curve_plot(results, plot_dir / f"{task}_curves.png", VALID_BPC)}
    return {"accuracy": score_plot(results, plot_dir / f"{task}_accuracy.png", ACCURACY)}


def _champion_plots(results: TaskResults, plot_dir: Path, champion: str) -> dict[str, Path]:
    """The ``champion`` run's tag confusion (a tagger's int8 model) or attention heat maps (a sequence-to-sequence
    model's test samples), if its evaluation has them."""
    task, evaluation = results.task, results.run_result(champion).evaluation
    plots: dict[str, Path] = {}
    confusion = evaluation["backends"]["ort_int8"].get("confusion")
    if confusion:
        title = f"{task}: tag confusion of {champion} (ORT int8, test split, errors only)"
        plots["confusion"] = confusion_plot(confusion, title, plot_dir / f"{task}_confusion.png")
    if evaluation.get("attention_samples"):
        title = f"{task}: attention of {champion} (torch, greedy decoding, test items)"
        plots["attention"] = attention_samples_plot(evaluation["attention_samples"], title,
                                                    plot_dir / f"{task}_attention.png")
    return plots


def write_task_plots(results: TaskResults, plot_dir: Path, champion: str | None = None) -> dict[str, Path]:
    """Write the task's plots into ``plot_dir`` and return kind -> path.

    Classify and tag tasks: ``<task>_{accuracy,size,latency}.png``, and ``<task>_confusion.png`` of the
    ``champion`` run's int8 model when it is a tagger. Generating tasks: ``<task>_{bpc,curves,size,latency}.png``
    (latency of one step). Sequence-to-sequence tasks: ``<task>_{wer,curves,size,latency}.png`` (latency of the
    greedy decoding of a batch) and ``<task>_attention.png`` of the ``champion`` run's test samples.
    """
    task = results.task
    plots = _score_plots(results, plot_dir)
    plots["size"] = size_plot(results, plot_dir / f"{task}_size.png")
    per = "greedy decoding" if results.seq2seq else "step" if results.generative else "call"
    plots["latency"] = latency_plot(results, plot_dir / f"{task}_latency.png", per)
    if champion:
        plots.update(_champion_plots(results, plot_dir, champion))
    logger.info("%s: plots %s", task, ", ".join(str(path) for path in plots.values()))
    return plots
