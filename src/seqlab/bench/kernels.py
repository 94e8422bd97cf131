"""How close a recurrent layer runs to the machine's limit: the GFLOP/s an LSTM layer's forward pass
achieves, against a plain matrix product of the same total work on the same threads.

An LSTM step multiplies the input (B, I) and the state (B, H) by its gate weights (I + H, 4H): 2·B·(I+H)·4H
floating-point operations per step, the elementwise gate arithmetic aside. The reference does all T steps'
work as one product, (B·T, I+H) @ (I+H, 4H); the LSTM cannot, since each step needs the state before it.

torch has two CPU matrix products: the BLAS one behind ``torch.mm`` (MKL) and oneDNN's, which its CPU LSTM
runs on. Either can be the faster (oneDNN's on AMD CPUs, where MKL does not take its fastest paths), so both
are timed and the LSTM is measured against the faster.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils import mkldnn

from seqlab.bench.figures import spread
from seqlab.bench.timing import timed_repeats
from seqlab.config import BenchKernelConfig
from seqlab.models.encoder import make_recurrent_layer


def lstm_flops(batch: int, steps: int, input_size: int, hidden: int) -> int:
    """Floating-point operations of the gate products of a one-layer LSTM forward pass."""
    return 2 * batch * steps * (input_size + hidden) * 4 * hidden


def onednn_product(left: torch.Tensor, right: torch.Tensor) -> Callable[[], torch.Tensor] | None:
    """``left @ right`` through oneDNN's matrix product (operands converted to its layout once, outside
    the call); None where this torch build has no oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return None
    linear = nn.Linear(right.shape[0], right.shape[1], bias=False)
    linear.weight.data = right.T.contiguous()  # Linear computes x @ weight.T
    module, operand = mkldnn.to_mkldnn(linear), left.to_mkldnn()
    return lambda: module(operand)


@torch.inference_mode()
def bench_kernels(settings: BenchKernelConfig) -> dict[str, Any]:
    """Achieved GFLOP/s of the fused LSTM layer and of the equal-work matrix product through BLAS and through
    oneDNN; the LSTM's rate as a share of the faster product."""
    generator = torch.Generator().manual_seed(0)
    batch, steps, width, hidden = settings.batch, settings.steps, settings.hidden, settings.hidden
    layer = make_recurrent_layer("lstm", width, hidden).eval()
    inputs = torch.randn(batch, steps, width, generator=generator)  # (B, T, I)
    left = torch.randn(batch * steps, width + hidden, generator=generator)  # (B·T, I+H)
    right = torch.randn(width + hidden, 4 * hidden, generator=generator)  # (I+H, 4H)
    flops = lstm_flops(batch, steps, width, hidden)

    def rate(call: Callable[[], object]) -> dict[str, float]:
        return spread([flops / seconds / 1e9 for seconds in timed_repeats(call, settings.repeats, settings.warmup)], 2)

    lstm, blas = rate(lambda: layer(inputs)), rate(lambda: left @ right)
    onednn_call = onednn_product(left, right)
    onednn = rate(onednn_call) if onednn_call is not None else None
    products = {"blas": blas} | ({"onednn": onednn} if onednn else {})
    reference = max(products, key=lambda name: products[name]["median"])
    return {"batch": batch, "steps": steps, "input_size": width, "hidden": hidden, "threads": torch.get_num_threads(),
            "gflop": round(flops / 1e9, 3), "lstm_gflops": lstm, "matmul_gflops": blas,
            "onednn_matmul_gflops": onednn, "reference": reference,
            "ratio": round(lstm["median"] / products[reference]["median"], 3)}
