"""Does ONNX Runtime compute what PyTorch computes? Compare logits on real data at several shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from seqlab.config import ExportConfig
from seqlab.entry import StageError
from seqlab.inference.backends import Backend, batched_outputs, stack_rows
from seqlab.text.encoding import Encoded

# Batch sizes the parity check runs at: one sequence alone, and mixed-length padded batches.
PARITY_BATCH_SIZES = (1, 7, 64)


def parity_report(reference: Backend, candidate: Backend, sequences: Sequence[Encoded], pad_id: int,
                  single_limit: int = 200) -> dict[str, Any]:
    """Largest and mean |logit difference| and the share of equal predictions (per sequence, or per
    token for taggers), per batch size.

    Batch size 1 runs on the first ``single_limit`` sequences only (it is slow and adds no shapes).
    """
    expected = batched_outputs(reference, sequences, pad_id, batch_size=64)
    by_batch: dict[str, dict[str, float]] = {}
    for batch_size in PARITY_BATCH_SIZES:
        count = min(single_limit, len(sequences)) if batch_size == 1 else len(sequences)
        got = stack_rows(batched_outputs(candidate, sequences[:count], pad_id, batch_size=batch_size))
        want = stack_rows(expected[:count])
        difference = np.abs(got - want)
        by_batch[f"batch_{batch_size}"] = {
            "examples": count,
            "max_abs_diff": float(difference.max()),
            "mean_abs_diff": float(difference.mean()),
            "agreement": float((got.argmax(-1) == want.argmax(-1)).mean()),
        }
    return {
        "reference": reference.name,
        "candidate": candidate.name,
        "max_abs_diff": max(r["max_abs_diff"] for r in by_batch.values()),
        "agreement": min(r["agreement"] for r in by_batch.values()),
        "by_batch_size": by_batch,
    }


def check_parity(report: dict[str, Any], config: ExportConfig, where: str) -> None:
    """Raise a StageError when the candidate differs beyond the tolerances of ``config``."""
    problems = []
    if report["max_abs_diff"] > config.max_abs_diff:
        problems.append(f"max |logit difference| {report['max_abs_diff']:.3g} > {config.max_abs_diff:g}")
    if report["agreement"] < config.min_agreement:
        problems.append(f"prediction agreement {report['agreement']:.4f} < {config.min_agreement}")
    if "beam" in report and report["beam"]["same_nbest"] < config.min_agreement:  # seq2seq: beam search too
        problems.append(f"identical beam n-best lists for {report['beam']['same_nbest']:.4f} of the sources "
                        f"< {config.min_agreement}")
    if problems:
        raise StageError(f"{where}: ONNX Runtime does not match PyTorch: {'; '.join(problems)}")
