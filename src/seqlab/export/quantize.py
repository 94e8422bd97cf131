"""Smaller models for serving: dynamic int8 for the CPU, float16 for CUDA."""

from __future__ import annotations

import logging
from pathlib import Path

import onnx

from seqlab.io import atomic_path

logger = logging.getLogger(__name__)


def quantize_int8(source: Path, target: Path) -> None:
    """ONNX Runtime dynamic quantization: int8 weights, uint8 activations computed at run time.

    LSTM becomes DynamicQuantizeLSTM and MatMul/Gather are quantized; GRU and RNN nodes stay
    float (the runtime has no quantized kernel for them).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer suggests a pre-processing pass through the root logger; it does not apply here.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with atomic_path(target) as tmp:
            quantize_dynamic(source, tmp, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def convert_fp16(source: Path, target: Path) -> None:
    """Float16 weights and compute, float32 inputs and outputs (for the CUDA execution provider)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    with atomic_path(target) as tmp:
        onnx.save(model, str(tmp))
