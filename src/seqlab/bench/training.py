"""Training speed: torch's fused recurrent kernels against the written-out cells (models/cells.py), forward
plus backward, for each cell type; and the training throughput every default run logged.

Beside them, the rate of the matrix products alone: the ones a layer's forward and backward pass cannot
avoid, whatever kernel runs them. With g gates, inputs X (B·T, I), weights W_ih (gH, I) and W_hh (gH, H):
the input projection X @ W_ih^T of all steps at once; the state product h_{t-1} @ W_hh^T (B, gH) forward,
T of them, and the gate gradient's product dG_t @ W_hh (B, H) backward, T - 1 of them (none flows into
the constant first state), each waiting for the one before; then the weight gradients dG^T @ X and
dG^T @ H_prev over all steps. (The bench's inputs need no gradient, so no product for dX is counted.)
The gate arithmetic is left out, so no kernel that multiplies with torch's matrix product (as the
scratch cells and torch's CPU GRU and RNN kernels do) can beat this rate, and its ratio to the scratch
cells bounds what such a kernel could gain over them at this shape. (torch's CPU LSTM runs on oneDNN,
whose own products can be faster: see the kernels section.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from seqlab.bench.figures import spread
from seqlab.bench.timing import timed_repeats
from seqlab.config import BenchTrainingConfig, Params
from seqlab.io import read_json
from seqlab.models.cells import GATES
from seqlab.models.encoder import make_recurrent_layer
from seqlab.paths import Layout


def token_rates(call: Callable[[], None], settings: BenchTrainingConfig) -> list[float]:
    """Tokens per second of ``call``, which processes one bench batch (batch x steps tokens), per repeat."""
    tokens = settings.batch * settings.steps
    return [tokens / seconds for seconds in timed_repeats(call, settings.repeats, settings.warmup)]


def train_step_rates(cell: str, impl: str, settings: BenchTrainingConfig) -> list[float]:
    """Tokens per second of forward and backward passes of one ``cell`` layer, one figure per repeat."""
    torch.manual_seed(0)
    layer = make_recurrent_layer(cell, settings.input_size, settings.hidden, impl).train()
    inputs = torch.randn(settings.batch, settings.steps, settings.input_size)  # (B, T, I)

    def step() -> None:
        layer.zero_grad(set_to_none=True)
        outputs, _ = layer(inputs)  # (B, T, H)
        outputs.square().mean().backward()

    return token_rates(step, settings)


def matrix_products(cell: str, settings: BenchTrainingConfig) -> Callable[[], None]:
    """A call that runs only the matrix products of one ``cell`` layer's forward and backward pass (module
    docstring), on random operands of the bench's shape."""
    generator = torch.Generator().manual_seed(0)
    batch, steps, width, hidden = settings.batch, settings.steps, settings.input_size, settings.hidden
    gates = GATES[cell] * hidden

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    inputs, states = random(batch * steps, width), random(batch * steps, hidden)  # X, H_prev
    w_ih, w_hh = random(gates, width), random(gates, hidden)
    state, gate_grad, gate_grads = random(batch, hidden), random(batch, gates), random(batch * steps, gates)

    def products() -> None:
        torch.mm(inputs, w_ih.T)
        for _ in range(steps):
            torch.mm(state, w_hh.T)
        for _ in range(steps - 1):  # the first step's state is a constant: no gradient flows into it
            torch.mm(gate_grad, w_hh)
        torch.mm(gate_grads.T, inputs)
        torch.mm(gate_grads.T, states)

    return products


def bench_training(layout: Layout, params: Params) -> dict[str, Any]:
    """Per cell: fused, scratch and products-only tokens per second, fused over scratch, the products-only
    rate over scratch (the most any kernel could gain) and fused's share of it; each default run's logged
    throughput."""
    settings = params.bench.training
    cells = {}
    for cell in settings.cells:
        fused, scratch, products = (spread(rates, 1) for rates in (
            train_step_rates(cell, "fused", settings), train_step_rates(cell, "scratch", settings),
            token_rates(matrix_products(cell, settings), settings)))
        cells[cell] = {"fused_tokens_per_s": fused, "scratch_tokens_per_s": scratch,
                       "products_only_tokens_per_s": products,
                       "speedup": round(fused["median"] / scratch["median"], 2),
                       "speedup_bound": round(products["median"] / scratch["median"], 2),
                       "fused_share_of_products": round(fused["median"] / products["median"], 3)}
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
