"""Quality and latency of one model through several backends (torch, ORT fp32, ORT int8), any structure."""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from seqlab.config import EvaluateConfig
from seqlab.evaluation.latency import latency_batches, measure_latency
from seqlab.evaluation.quality import split_quality
from seqlab.inference.backends import Backend, batched_outputs
from seqlab.text.dataset import EncodedSplit

logger = logging.getLogger(__name__)


def int8_drop_points(results: dict[str, dict[str, Any]]) -> float:
    """Test accuracy lost by int8 quantization, in percentage points (positive: int8 is worse)."""
    return round(100 * (results["ort_fp32"]["accuracy"] - results["ort_int8"]["accuracy"]), 3)


def tracking_metrics(record: dict[str, Any]) -> dict[str, float]:
    """The evaluation record flattened into MLflow metric names (``test_ort_int8_accuracy``, ...)."""
    backends = record["backends"]
    flat = {f"test_{name}_{key}": value for name, result in backends.items()
            for key, value in result.items() if isinstance(value, int | float)}
    flat.update({f"latency_{name}_{batch}_{stat}": value for name, result in backends.items()
                 for batch, stats in result["latency"].items() for stat, value in stats.items()})
    flat.update({f"size_{name}_bytes": size for name, size in record["sizes_bytes"].items()})
    flat.update({f"generation_{name}_{key}": value for name, speed in record.get("generation", {}).items()
                 for key, value in speed.items()})
    flat.update({key: record[key] for key in ("int8_accuracy_drop_points", "int8_bpc_increase",
                                              "int8_wer_increase_points") if key in record})
    return flat


def evaluate_backends(backends: list[Backend], split: EncodedSplit, pad_id: int, labels: list[str],
                      config: EvaluateConfig, seed: int, tag_scheme: str = "tags",
                      known: Collection[str] | None = None) -> dict[str, dict[str, Any]]:
    """Per backend: the quality on ``split`` (``split_quality`` in detail) and latency at each configured batch size.

    Every backend sees the same latency batches, so the figures compare like with like. ``known``:
    the train split's tokens (for taggers' accuracy on unseen words).
    """
    batches = {
        size: latency_batches(split.sequences, size, config.repeats + config.warmup, pad_id, seed + size)
        for size in config.batch_sizes
    }
    results: dict[str, dict[str, Any]] = {}
    for backend in backends:
        outputs = batched_outputs(backend, split.sequences, pad_id)
        quality = split_quality(outputs, split, labels, tag_scheme, known, detail=True,
                                transitions=backend.transitions)
        latency = {f"batch_{size}": measure_latency(backend, runs, config.warmup) for size, runs in batches.items()}
        results[backend.name] = {**quality, "latency": latency}
        logger.info("%s: accuracy %.4f, macro-F1 %.4f, %s", backend.name, quality["accuracy"], quality["macro_f1"],
                    ", ".join(f"{k} p50 {v['p50_ms']:.2f} ms" for k, v in latency.items()))
    return results
