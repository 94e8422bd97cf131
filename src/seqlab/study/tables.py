"""The study's numeric CSV files (training curves, gradient norms): rows of numbers in and out.

(``seqlab.training.run.curve_csv`` writes the same format for the main pipeline; it is not imported
here because its module pulls in the whole classification stack, three seconds per study stage.)
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from seqlab.io import InputError


def rows_csv(rows: list[dict[str, float]]) -> str:
    """Rows of numbers, all with the first row's keys, as CSV text with a header."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_rows(path: Path, made_by: str) -> list[dict[str, float]]:
    """A CSV written by :func:`rows_csv`; a missing file names the stage ``made_by`` that writes it."""
    if not path.is_file():
        raise InputError(f"{path}: file not found; it is made by stage {made_by} (run `dvc repro {made_by}`)")
    with path.open(encoding="utf-8", newline="") as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
