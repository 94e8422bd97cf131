"""What the data-suite tests share: finding the failure line about one expectation."""

from __future__ import annotations

from seqlab.data.validation_report import ValidationReport


def failure_line(report: ValidationReport, split: str, expectation: str, column: str = "", columns: str = "") -> str:
    """The line of failure_message() about one expectation on one split, on a ``column`` or on a pair of
    ``columns`` ("a, b"); fails the test if absent."""
    assert not report.success
    wanted = f"{split}.jsonl: {expectation} on {f'columns {columns}' if columns else f'column {column}'} "
    lines = [line for line in report.failure_message().splitlines() if wanted in line]
    assert lines, f"{wanted!r} not named in:\n{report.failure_message()}"
    return lines[0]
