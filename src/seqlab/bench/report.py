"""reports/bench.json and reports/bench.md: every figure of a `make bench` run, and what it ran on."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqlab.io import write_json, write_text


def number(value: float) -> str:
    """A measured value as a person reads it: whole and with thousands separators from 1,000 up
    (``1,027,920``, not ``1.02792e+06``), otherwise its significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:g}"


def figure(value: dict[str, float]) -> str:
    """A min/median/max figure as ``median (min–max)``."""
    return f"{number(value['median'])} ({number(value['min'])}–{number(value['max'])})"


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def inference_markdown(section: dict[str, Any]) -> str:
    """Per task champion: latency and throughput per backend and batch size, the target ratios, the quality."""
    parts = [f"{section['rounds']} rounds of {section['calls_per_round']} timed calls per backend and batch size. "
             "A call is a padded batch of test inputs (classify, tag), one generation step per text (lm, condlm), "
             "or greedy decoding of a batch of test words to the end (seq2seq)."]
    for task, entry in section["tasks"].items():
        rows = []
        for backend, batches in entry["backends"].items():
            quality = ", ".join(f"{key} {value:.4g}" for key, value in entry["quality"].get(backend, {}).items())
            for batch, figures in batches.items():
                rows.append([backend, batch.removeprefix("batch_"), figure(figures["p50_ms"]),
                             figure(figures["p99_ms"]), figure(figures["items_per_s"]), quality])
        ratios = ", ".join(f"{name.replace('_', ' ')}: {value:g}x" for name, value in entry["speedups"].items())
        parts.append(f"### {task} (`{entry['run']}`, {entry['structure']}, {entry['cell']})\n\n"
                     + table(["backend", "batch", "p50 ms", "p99 ms", "items/s", "test quality"], rows)
                     + f"\n\nRatios of items per second: {ratios}.")
    return "\n\n".join(parts)


def cells_markdown(section: dict[str, Any]) -> str:
    """Items per second of each cell type through each backend, and ORT over torch."""
    rows = []
    for cell, entry in section["cells"].items():
        for backend, batches in entry["items_per_s"].items():
            for batch, value in batches.items():
                ratio = entry["ratios"].get(f"{backend}_over_torch_{batch}")
                rows.append([cell, backend, batch.removeprefix("batch_"), figure(value),
                             f"{ratio:g}x" if ratio is not None else ""])
    shape = (f"{section['layers']}-layer {'bi' if section['bidirectional'] else 'uni'}directional classifier, "
             f"embedding {section['embed_dim']}, hidden {section['hidden']}, on the {section['task']} test split")
    return (f"{shape}; {section['rounds']} rounds of {section['calls_per_round']} calls.\n\n"
            + table(["cell", "backend", "batch", "items/s", "over torch"], rows))


def peers_markdown(section: dict[str, Any]) -> str:
    """One table per task: our bundle and its peers, quality and items per second."""
    parts = []
    for task, rows in section["tasks"].items():
        lines = [[row["model"], row["detail"], row["metric"],
                  f"{row['value']:.2%}" + (f" / {row['second_value']:.2%}" if "second_value" in row else ""),
                  f"{row['items']:,}", f"{row['items_per_s']:,.1f}"] for row in rows]
        parts.append(f"### {task} (test split)\n\n"
                     + table(["model", "how", "metric", "test", "test items", "items/s"], lines))
    return (f"Our bundles run the served path (ORT int8, CPU) in batches of {section['batch']}.\n\n"
            + "\n\n".join(parts))


def stages_markdown(section: dict[str, Any]) -> str:
    """Data-stage throughput per task, and every stage's wall time in the last `seqlab repro`."""
    rows = [[task, row["tokenizer"], f"{row['prepared_mb']:g}", figure(row["tokenize_mb_per_s"]),
             f"{row['tokenized_mb']:g}", figure(row["vocab_mb_per_s"])] for task, row in section["throughput"].items()]
    text = ("Train splits; tokenize: prepared JSONL in, tokenized JSONL written; vocab: tokenized JSONL read and "
            "counted.\n\n" + table(["task", "tokenizer", "prepared MB", "tokenize MB/s", "tokenized MB",
                                     "vocab MB/s"], rows))
    times = section["stage_seconds"]
    if not times:
        return text + f"\n\nNo {section['log']}: `make repro` writes it (stage wall times)."
    slowest = sorted(times.items(), key=lambda item: -item[1])
    total = sum(times.values())
    return (text + f"\n\nWall time of every stage the last `make repro` ran ({section['log']}; "
            f"{total / 60:.1f} minutes in all), slowest first:\n\n"
            + table(["stage", "seconds", "share"], [[stage, f"{seconds:,.1f}", f"{seconds / total:.1%}"]
                                                    for stage, seconds in slowest]))


def server_markdown(section: dict[str, Any]) -> str:
    """The server section: one row per task."""
    rows = [[task, figures["structure"], figures["endpoint"], f"{figures['precision']} on {figures['provider']}",
             figure(figures["requests_per_s"]), figure(figures["p50_ms"]), figure(figures["p99_ms"]),
             figures["requests"], figures["errors"]]
            for task, figures in section["tasks"].items()]
    rounds = f"{section['rounds']} rounds of {section['seconds_per_round']:g} s"
    return (f"{section['clients']} concurrent clients, {rounds} per task; a request is one input (predict) or "
            f"{section['generate_length']} characters (generate); "
            f"{section['threads_per_call']} ONNX Runtime thread per call.\n\n"
            + table(["task", "structure", "endpoint", "served as", "requests/s", "p50 ms", "p99 ms", "requests",
                     "errors"], rows))


def kernels_markdown(section: dict[str, Any]) -> str:
    """Closeness to the limit: the LSTM layer's GFLOP/s against the faster equal-work matrix product."""
    rows = [["LSTM layer forward", figure(section["lstm_gflops"])],
            ["matrix product, same work, BLAS (`torch.mm`)", figure(section["matmul_gflops"])]]
    if section["onednn_matmul_gflops"]:
        rows.append(["matrix product, same work, oneDNN", figure(section["onednn_matmul_gflops"])])
    reference = {"blas": "BLAS", "onednn": "oneDNN"}[section["reference"]]
    return (f"Batch {section['batch']}, hidden {section['hidden']}, input {section['input_size']}, "
            f"{section['steps']} steps ({section['gflop']:g} GFLOP of gate products), {section['threads']} threads. "
            f"**The LSTM layer reaches {section['ratio']:.0%} of the faster matrix product's rate ({reference}).**\n\n"
            + table(["kernel", "GFLOP/s"], rows))


def training_markdown(section: dict[str, Any]) -> str:
    """Fused against scratch cells, and the default runs' logged throughput."""
    cells = [[cell, figure(row["fused_tokens_per_s"]), figure(row["scratch_tokens_per_s"]), f"{row['speedup']:g}x",
              figure(row["products_only_tokens_per_s"]), f"{row['speedup_bound']:g}x",
              f"{row['fused_share_of_products']:.0%}"]
             for cell, row in section["cells"].items()]
    runs = [[run, row["task"], f"{row['cell']} ({row['impl']})",
             f"{row['tokens_per_s']:,.0f} {row['counted'].replace('_', ' ')}", f"{row['train_seconds']:,.0f}"]
            for run, row in section["runs"].items()]
    text = (f"One layer, forward and backward: batch {section['batch']}, {section['steps']} steps, input "
            f"{section['input_size']}, hidden {section['hidden']}, {section['threads']} threads.\n\n"
            + table(["cell", "fused tokens/s", "scratch tokens/s", "fused / scratch", "products only tokens/s",
                     "products only / scratch", "fused / products only"], cells)
            + "\n\n*Products only*: the layer's unavoidable matrix products through torch's matrix product, and "
              "nothing else (no gate arithmetic). No kernel built on that product runs faster (torch's CPU GRU and "
              "RNN kernels are; its LSTM runs on oneDNN's own), so *products only / scratch* is the most such a "
              "kernel could gain over the written-out cells at this shape.")
    if runs:
        text += ("\n\nThe default runs, as their train stage logged them (metrics/train/<run>.json):\n\n"
                 + table(["run", "task", "cell", "per second", "train seconds"], runs))
    return text


def generation_markdown(section: dict[str, Any]) -> str:
    """Characters per second per lm champion, method and length."""
    parts = []
    for run, entry in section["runs"].items():
        rows = [[length, figure(rates["ort_stateful"]), figure(rates["torch_stateful"]),
                 figure(rates["ort_sliding_window"]), f"{rates['stateful_over_window']:g}x",
                 f"{rates['ort_over_torch']:g}x"] for length, rates in entry["lengths"].items()]
        parts.append(f"`{run}` ({entry['task']}), characters per second; the sliding window re-reads the last "
                     f"{entry['window']} characters for each new one.\n\n"
                     + table(["characters", "ORT stateful", "torch stateful", "ORT sliding window",
                              "stateful / window", "ORT / torch"], rows))
    return "\n\n".join(parts) or "No language-model champion (run `make repro`)."


SECTION_MARKDOWN: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "inference": ("Inference: PyTorch eager against ONNX Runtime", inference_markdown),
    "cells": ("The served path against PyTorch, per cell type", cells_markdown),
    "peers": ("Peers on quality and speed", peers_markdown),
    "stages": ("Pipeline stages", stages_markdown),
    "server": ("Server under load", server_markdown),
    "kernels": ("Closeness to the limit", kernels_markdown),
    "training": ("Training: fused kernels against the written-out cells", training_markdown),
    "generation": ("Generation: stateful steps against the sliding window", generation_markdown),
}
"""Section name -> its heading and how it is written in bench.md."""


def markdown(results: dict[str, Any]) -> str:
    """bench.md: the machine, then each section's table; figures are median (min–max) over the repeats."""
    machine = results["machine"]
    libraries = ", ".join(f"{name} {version}" for name, version in machine["libraries"].items())
    parts = [
        "# seqlab benchmarks",
        f"Written by `make bench` on {results['created']}. Figures are median (min–max) over repeated runs; "
        "compare ratios, and absolute numbers only on this machine.",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores ({results['threads']} threads used); "
        f"GPU: {machine['gpu'] or 'none'}\n"
        f"- {machine['os']}, Python {machine['python']}\n- {libraries}",
    ]
    for name, section in results["sections"].items():
        heading, write = SECTION_MARKDOWN[name]
        parts += [f"## {heading}", write(section)]
    return "\n\n".join(parts) + "\n"


def write_reports(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write bench.json and bench.md into ``out_dir`` (each atomically); their paths."""
    json_path, markdown_path = out_dir / "bench.json", out_dir / "bench.md"
    write_json(json_path, results)
    write_text(markdown_path, markdown(results))
    return json_path, markdown_path
