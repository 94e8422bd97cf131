"""How a benchmark states a figure measured several times: its minimum, median and maximum."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """``{"min", "median", "max"}`` of repeated measurements of one figure, rounded to ``digits``."""
    if not values:
        raise ValueError("a figure needs at least one measurement")
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits),
            "max": round(max(values), digits)}
