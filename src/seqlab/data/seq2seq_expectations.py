"""The seq2seq part of the data suite: rows of a source and every reference target (``parallel.py``).

Each row becomes the columns below, which ``expectations`` checks like every other suite's columns:
``source`` (None unless a string), ``target_count`` (None unless ``targets`` is a list of strings),
``shortest_target`` (tokens in the shortest target), ``symbols`` (every target token of the row, for
the unseen-symbol share) and ``stress_digit`` (the first target symbol with a digit, or None). The
cross-split flag and the shares of source characters and target symbols unseen in train are added
across splits by ``expectations``.
"""

from __future__ import annotations

from typing import Any

import great_expectations as gx

from seqlab.config import ChecksConfig
from seqlab.text.tokenizers import get_tokenizer

PAIR_COLUMNS = ["source", "target_count", "shortest_target", "symbols", "stress_digit"]


def pair_columns(row: dict[str, Any], target_tokenizer: str) -> dict[str, Any]:
    """The columns the seq2seq suite checks, derived from one ``{"source": ..., "targets": [...]}`` row."""
    source, targets = row.get("source"), row.get("targets")
    if not (isinstance(targets, list) and all(isinstance(target, str) for target in targets)):
        targets = None
    tokens = [get_tokenizer(target_tokenizer)(target) for target in targets or []]
    symbols = [symbol for target_tokens in tokens for symbol in target_tokens]
    return {
        "source": source if isinstance(source, str) else None,
        "target_count": None if targets is None else len(targets),
        "shortest_target": min(map(len, tokens), default=None),
        "symbols": symbols,
        "stress_digit": next((symbol for symbol in symbols if any(char.isdigit() for char in symbol)), None),
    }


def pair_expectations(checks: ChecksConfig, no_stress_digits: bool) -> list[Any]:
    """The seq2seq suite: a sane source unique across splits, at least one non-empty target, source characters
    and target symbols (nearly all) known to train; with ``no_stress_digits``, no stress digit on a phoneme."""
    expect = gx.expectations
    unseen = f"at most {checks.max_unseen_char_share:.1%} of the split"
    expectations = [
        expect.ExpectTableRowCountToBeBetween(min_value=1, notes="every split has rows"),
        expect.ExpectColumnValuesToNotBeNull(column="source", notes="every row has a source string"),
        expect.ExpectColumnValueLengthsToBeBetween(
            column="source",
            min_value=checks.min_chars,
            max_value=checks.max_chars,
            notes=f"every source has {checks.min_chars} to {checks.max_chars} characters",
        ),
        expect.ExpectColumnValuesToBeUnique(
            column="source", notes="no source appears twice in a split (all its targets make one row)"
        ),
        expect.ExpectColumnValuesToBeInSet(
            column="in_other_split", value_set=[False], notes="no source appears in two splits"
        ),
        expect.ExpectColumnValuesToNotBeNull(column="target_count", notes="every row has a list of target strings"),
        expect.ExpectColumnValuesToBeBetween(
            column="target_count", min_value=1, notes="every source has at least one target"
        ),
        expect.ExpectColumnValuesToBeBetween(column="shortest_target", min_value=1, notes="no target is empty"),
        expect.ExpectColumnSumToBeBetween(
            column="unseen_share",
            max_value=checks.max_unseen_char_share,
            notes=f"source characters the train split never shows are {unseen}",
        ),
        expect.ExpectColumnSumToBeBetween(
            column="unseen_symbol_share",
            max_value=checks.max_unseen_char_share,
            notes=f"target symbols the train split never shows are {unseen}",
        ),
    ]
    if no_stress_digits:
        expectations.append(expect.ExpectColumnValuesToBeNull(
            column="stress_digit", notes="no target symbol carries a stress digit (keep_stress is false)"
        ))
    return expectations
