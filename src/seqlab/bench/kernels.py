"""How close a recurrent layer runs to the machine's limit: the GFLOP/s an LSTM layer's forward pass
achieves, against a plain matrix product of the same total work on the same threads.

An LSTM step multiplies the input (B, I) and the state (B, H) by its gate weights (I + H, 4H): 2·B·(I+H)·4H
floating-point operations per step, the elementwise gate arithmetic aside. The reference does all T steps'
work as one product, (B·T, I+H) @ (I+H, 4H); the LSTM cannot, since each step needs the state before it.
"""

from __future__ import annotations

from typing import Any

import torch

from seqlab.bench.figures import spread
from seqlab.bench.timing import timed_repeats
from seqlab.config import BenchKernelConfig
from seqlab.models.encoder import make_recurrent_layer


def lstm_flops(batch: int, steps: int, input_size: int, hidden: int) -> int:
    """Floating-point operations of the gate products of a one-layer LSTM forward pass."""
    return 2 * batch * steps * (input_size + hidden) * 4 * hidden


@torch.inference_mode()
def bench_kernels(settings: BenchKernelConfig) -> dict[str, Any]:
    """Achieved GFLOP/s of the fused LSTM layer and of the equal-work matrix product; their ratio."""
    generator = torch.Generator().manual_seed(0)
    batch, steps, width, hidden = settings.batch, settings.steps, settings.hidden, settings.hidden
    layer = make_recurrent_layer("lstm", width, hidden).eval()
    inputs = torch.randn(batch, steps, width, generator=generator)  # (B, T, I)
    left = torch.randn(batch * steps, width + hidden, generator=generator)  # (B·T, I+H)
    right = torch.randn(width + hidden, 4 * hidden, generator=generator)  # (I+H, 4H)
    flops = lstm_flops(batch, steps, width, hidden)
    lstm = [flops / seconds / 1e9 for seconds in timed_repeats(lambda: layer(inputs), settings.repeats,
                                                                settings.warmup)]
    matmul = [flops / seconds / 1e9 for seconds in timed_repeats(lambda: left @ right, settings.repeats,
                                                                  settings.warmup)]
    lstm_figure, matmul_figure = spread(lstm, 2), spread(matmul, 2)
    return {"batch": batch, "steps": steps, "input_size": width, "hidden": hidden, "threads": torch.get_num_threads(),
            "gflop": round(flops / 1e9, 3), "lstm_gflops": lstm_figure, "matmul_gflops": matmul_figure,
            "ratio": round(lstm_figure["median"] / matmul_figure["median"], 3)}
