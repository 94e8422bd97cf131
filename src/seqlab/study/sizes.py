"""Parameter counts and per-step latency of the fused cells at equal input and hidden sizes.

A gated cell holds one input and one recurrent weight matrix and two bias vectors per gate block:
G * (H*I + H*H + 2H) parameters with G = 1 (vanilla RNN), 3 (GRU) or 4 (LSTM), so at equal sizes a
GRU has exactly 3/4 of an LSTM's parameters. The latency is the median over repeated forward calls
(inference mode, one layer, ``steps`` time steps) divided by the number of steps.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import Any

import torch

from seqlab.config import StudySizesConfig
from seqlab.models.encoder import make_recurrent_layer

logger = logging.getLogger(__name__)


def parameter_count(cell: str, input_size: int, hidden: int) -> int:
    """Parameters of one single-layer, single-direction fused ``cell``."""
    return sum(p.numel() for p in make_recurrent_layer(cell, input_size, hidden).parameters())


@torch.inference_mode()
def step_latency_us(cell: str, input_size: int, hidden: int, batch: int, config: StudySizesConfig) -> float:
    """Median microseconds per time step of the fused ``cell`` on a (batch, steps, input) call."""
    layer = make_recurrent_layer(cell, input_size, hidden).eval()
    inputs = torch.randn(batch, config.steps, input_size, generator=torch.Generator().manual_seed(0))
    for _ in range(config.warmup):
        layer(inputs)
    timings = []
    for _ in range(config.repeats):
        started = time.perf_counter()
        layer(inputs)
        timings.append(time.perf_counter() - started)
    return 1e6 * statistics.median(timings) / config.steps


def size_table(cells: list[str], config: StudySizesConfig) -> dict[str, Any]:
    """Parameters and µs per step by hidden size and cell; ratios to the LSTM where the LSTM is studied."""
    table: dict[str, Any] = {}
    for hidden in config.hidden_sizes:
        row = {}
        for cell in cells:
            row[cell] = {"parameters": parameter_count(cell, config.input_size, hidden)}
            for batch in config.batch_sizes:
                row[cell][f"us_per_step_b{batch}"] = round(step_latency_us(cell, config.input_size, hidden, batch,
                                                                           config), 2)
            logger.info("hidden %d, %s: %s", hidden, cell, row[cell])
        if "lstm" in row:
            for cell in cells:
                row[cell]["parameters_vs_lstm"] = row[cell]["parameters"] / row["lstm"]["parameters"]
        table[str(hidden)] = row
    return {"input_size": config.input_size, "steps": config.steps, "repeats": config.repeats,
            "threads": torch.get_num_threads(), "hidden": table}
