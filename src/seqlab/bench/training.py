"""Training speed: torch's fused recurrent kernels against the written-out cells (models/cells.py), forward
plus backward, for each cell type; and the training throughput every default run logged."""

from __future__ import annotations

from typing import Any

import torch

from seqlab.bench.figures import spread
from seqlab.bench.timing import timed_repeats
from seqlab.config import BenchTrainingConfig, Params
from seqlab.io import read_json
from seqlab.models.encoder import make_recurrent_layer
from seqlab.paths import Layout


def train_step_rates(cell: str, impl: str, settings: BenchTrainingConfig) -> list[float]:
    """Tokens per second of forward and backward passes of one ``cell`` layer, one figure per repeat."""
    torch.manual_seed(0)
    layer = make_recurrent_layer(cell, settings.input_size, settings.hidden, impl).train()
    inputs = torch.randn(settings.batch, settings.steps, settings.input_size)  # (B, T, I)

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        outputs, _ = layer(inputs)  # (B, T, H)
        outputs.square().mean().backward()

    tokens = settings.batch * settings.steps
    return [tokens / seconds for seconds in timed_repeats(step, settings.repeats, settings.warmup)]


def bench_training(layout: Layout, params: Params) -> dict[str, Any]:
    """Fused and scratch tokens per second per cell, their ratio, and each default run's logged throughput."""
    settings = params.bench.training
    cells = {}
    for cell in settings.cells:
        fused, scratch = spread(train_step_rates(cell, "fused", settings), 1), \
            spread(train_step_rates(cell, "scratch", settings), 1)
        cells[cell] = {"fused_tokens_per_s": fused, "scratch_tokens_per_s": scratch,
                       "speedup": round(fused["median"] / scratch["median"], 2)}
    runs = {}
    for run, config in params.runs.items():
        path = layout.train_metrics(run)
        if path.exists():
            logged = read_json(path)
            # What a run counts: input tokens, characters (language models) or target tokens (seq2seq).
            counted = next(key for key in logged if key.startswith("train_") and key.endswith("_per_second"))
            runs[run] = {"task": config.task, "cell": config.model.cell, "impl": config.model.impl,
                         "tokens_per_s": logged[counted], "counted": counted.removeprefix("train_").split("_per")[0],
                         "train_seconds": logged["train_seconds"]}
    return {"batch": settings.batch, "steps": settings.steps, "input_size": settings.input_size,
            "hidden": settings.hidden, "threads": torch.get_num_threads(), "cells": cells, "runs": runs}
