"""The outcome of the data suites: one record per expectation and split, and the readable failure message.

Kept apart from ``expectations`` (which builds and runs the great-expectations suites) so that what a
user reads when data fail is in one short module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_EXAMPLES = 5
"""Example rows kept per failed expectation."""


@dataclass
class ExpectationOutcome:
    """One expectation checked on one split."""

    split: str
    expectation: str
    column: str | None
    guards: str
    success: bool
    bad_rows: int | None = None
    examples: list[dict[str, Any]] = field(default_factory=list)
    observed: Any = None
    error: str | None = None

    def describe(self) -> str:
        """One line saying which expectation failed, what it guards and where."""
        plural = "s" if self.column and ", " in self.column else ""  # a column pair: "token_count, tag_count"
        where = f" on column{plural} {self.column}" if self.column else ""
        head = f"{self.split}.jsonl: {self.expectation}{where} ({self.guards})"
        if self.error:
            return f"{head}: could not be checked: {self.error}"
        details = []
        if self.column == "label_share" and self.observed is not None:
            details.append(f"smallest label share {self.observed:.1%}")
        elif self.column == "unseen_share" and self.observed is not None:
            details.append(f"characters unseen in train are {self.observed:.3%} of the split")
        elif self.column == "unseen_symbol_share" and self.observed is not None:
            details.append(f"target symbols unseen in train are {self.observed:.3%} of the split")
        elif self.expectation == "expect_column_distinct_values_to_contain_set":
            details.append(f"missing label(s): {', '.join(map(str, self.observed or []))}")
        elif self.observed is not None and not self.bad_rows:
            details.append(f"observed {self.observed}")
        if self.bad_rows:
            shown = "; ".join(_format_example(example) for example in self.examples)
            rows = f"{self.bad_rows} row{'s' if self.bad_rows != 1 else ''}"
            details.append(f"{rows}, e.g. {shown}" if shown else rows)
        return f"{head}: {', '.join(details) or 'failed'}"


@dataclass
class ValidationReport:
    """Every expectation's outcome on every split."""

    success: bool
    rows: dict[str, int]
    results: list[ExpectationOutcome]

    @property
    def failures(self) -> list[ExpectationOutcome]:
        """The outcomes that failed, in suite order, split by split."""
        return [outcome for outcome in self.results if not outcome.success]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the report."""
        return {
            "success": self.success,
            "rows": self.rows,
            "failed": len(self.failures),
            "checked": len(self.results),
            "results": [asdict(outcome) for outcome in self.results],
        }

    def failure_message(self) -> str:
        """A readable summary naming each failed expectation with example rows ('' when all passed)."""
        if self.success:
            return ""
        lines = [f"data validation failed: {len(self.failures)} of {len(self.results)} checks not met"]
        lines += [f"  {outcome.describe()}" for outcome in self.failures]
        return "\n".join(lines)


def _format_example(example: dict[str, Any]) -> str:
    value = example.get("value")
    if "share" in example:
        return f'line {example["line"]}: label "{value}" is {example["share"]:.1%} of the split'
    if "unseen" in example:  # a document (lm) or a source (seq2seq) with symbols unseen in train
        return f'line {example["line"]}: {example["item"]} "{value}", {example["count"]} unseen: {example["unseen"]!r}'
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f'line {example["line"]}: "{shown}"'
    return f"line {example['line']}: {value!r}"
