"""Data expectations on the prepared splits, checked with great-expectations 1.x.

One suite runs on each split (one pandas batch per split) in an ephemeral GX context. Every task:
no text is missing, texts have a sane length, no text repeats within a split or appears in two
splits. Classify tasks (and condlm, whose labels are its conditions): no label is missing, labels
come from the task's label set, every label appears and none falls under a minimum share. Tag tasks
(rows of ``tokens`` and ``tags``; their ``text`` is the tokens joined): one tag per token, every tag
from the task's fixed tag set, no empty token. Language-model tasks (rows of ``id`` and a whole
document's ``text``): every document has an id, unique across the splits, and its text appears in no
other split; the characters train never shows are at most a tiny share of each split. Seq2seq tasks
(rows of a ``source`` and its ``targets``; the suite is in ``seq2seq_expectations``): the source is
unique across the splits, every target is non-empty, source characters and target symbols train never
shows are at most a tiny share, and stress-free phonemes carry no digit. Cross-split, per-class,
per-token and per-character checks run on derived columns (``in_other_split``, ``label_share``,
``unknown_tag``, ``unseen_share``, ...) so that they too are plain column expectations; a document's
text is compared by its SHA-256 (``digest``), so GX never copies whole documents into its results.
Each failure is reported with the line numbers of the split's JSONL file; the results can also be
rendered as a Data Docs HTML site.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import (
    DataContextConfig,
    InMemoryStoreBackendDefaults,
    ProgressBarsConfig,
)

from seqlab.config import ChecksConfig, Structure
from seqlab.data.seq2seq_expectations import PAIR_COLUMNS, pair_columns, pair_expectations
from seqlab.data.validation_report import MAX_EXAMPLES, ExpectationOutcome, ValidationReport
from seqlab.io import atomic_path

logger = logging.getLogger(__name__)

# SUMMARY keeps the Data Docs small; unexpected_index_column_names makes GX name each bad row's line.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "SUMMARY",
    "unexpected_index_column_names": ["line"],
    "partial_unexpected_count": MAX_EXAMPLES,
}


def _plain(value: Any) -> Any:
    """numpy scalars and NaN (as GX and pandas hand them back) -> JSON-ready Python values."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _strings(value: Any) -> list[str] | None:
    """``value`` when it is a list of strings, else None (a malformed row)."""
    return value if isinstance(value, list) and all(isinstance(item, str) for item in value) else None


_TAG_COLUMNS = ["text", "token_count", "tag_count", "shortest_token", "unknown_tag"]


def _sentence_columns(row: dict[str, Any], tag_set: set[str]) -> dict[str, Any]:
    """The columns the tag suite checks, derived from one ``{"tokens": [...], "tags": [...]}`` row."""
    tokens, tags = _strings(row.get("tokens")), _strings(row.get("tags"))
    return {
        "text": None if tokens is None else "".join(tokens),
        "token_count": None if tokens is None else len(tokens),
        "tag_count": None if tags is None else len(tags),
        "shortest_token": None if not tokens else min(len(token.strip()) for token in tokens),
        "unknown_tag": next((tag for tag in tags or [] if tag not in tag_set), None),
    }


_DOCUMENT_COLUMNS = ["id", "text", "chars", "digest"]


def _document_columns(row: dict[str, Any]) -> dict[str, Any]:
    """The columns the lm suite checks, derived from one ``{"id": ..., "text": <document>}`` row."""
    identifier, text = row.get("id"), row.get("text")
    is_text = isinstance(text, str)
    return {
        "id": identifier if isinstance(identifier, str) else None,
        "text": text,
        "chars": len(text) if is_text else None,
        "digest": hashlib.sha256(text.encode()).hexdigest() if is_text else None,
    }


def _in_other_split(frames: dict[str, pd.DataFrame], name: str, column: str) -> pd.Series:
    """Per row of split ``name``: whether its (non-null) value of ``column`` occurs in another split."""
    others = {value for other, frame in frames.items() if other != name for value in frame[column].dropna()}
    return frames[name][column].notna() & frames[name][column].isin(others)


@dataclass(frozen=True)
class _Unseen:
    """The columns saying what of a row the train split never shows: which symbols (joined by ``joiner``),
    how many, and that count as a share of the split's symbols (the column's sum is the split's share)."""

    symbols: str
    count: str
    share: str
    joiner: str


UNSEEN_CHARS = _Unseen("unseen_chars", "unseen_count", "unseen_share", "")
UNSEEN_SYMBOLS = _Unseen("unseen_symbols", "unseen_symbol_count", "unseen_symbol_share", " ")


def _add_unseen(frames: dict[str, pd.DataFrame], column: str, names: _Unseen) -> None:
    """Per row: the symbols of ``column`` (a string's characters or a list's items) that the train split never
    shows, in the ``names`` columns."""
    train = frames["train"][column] if "train" in frames else []
    seen = set().union(*(set(value) for value in train if isinstance(value, str | list)))
    for frame in frames.values():
        values = [value if isinstance(value, str | list) else "" for value in frame[column]]
        unseen = [sorted(set(value) - seen) for value in values]
        counts = [sum(value.count(symbol) for symbol in symbols) for value, symbols in zip(values, unseen, strict=True)]
        total = max(sum(map(len, values)), 1)
        frame[names.symbols] = [names.joiner.join(symbols) for symbols in unseen]
        frame[names.count] = counts
        frame[names.share] = [count / total for count in counts]


def _frames(
    splits: dict[str, list[dict[str, Any]]], structure: Structure, labels: list[str], target_tokenizer: str
) -> dict[str, pd.DataFrame]:
    """One DataFrame per split with the line number and the derived columns the suite checks."""
    frames = {}
    tag_set = set(labels)
    for name, rows in splits.items():
        # object dtype: with pandas 3's default "str" dtype, GX type checks look at the dtype, not each
        # value; and counts stay ints (not floats) beside a None.
        if structure == "tag":
            records = [_sentence_columns(row, tag_set) for row in rows]
            frame = pd.DataFrame(records, columns=_TAG_COLUMNS, dtype=object)
        elif structure == "lm":
            frame = pd.DataFrame([_document_columns(row) for row in rows], columns=_DOCUMENT_COLUMNS, dtype=object)
        elif structure == "seq2seq":
            records = [pair_columns(row, target_tokenizer) for row in rows]
            frame = pd.DataFrame(records, columns=PAIR_COLUMNS, dtype=object)
        else:
            frame = pd.DataFrame.from_records(rows, columns=["text", "label"]).astype(object)
        frame.insert(0, "line", range(1, len(frame) + 1))
        frames[name] = frame
    key = {"lm": "digest", "seq2seq": "source"}.get(structure, "text")  # what must not appear in two splits
    for name, frame in frames.items():
        frame["in_other_split"] = _in_other_split(frames, name, key)
        if structure == "lm":
            frame["id_in_other_split"] = _in_other_split(frames, name, "id")
        elif structure in ("classify", "condlm"):  # rows that carry a label
            sizes = frame.groupby("label", dropna=False)["line"].transform("size")
            frame["label_share"] = sizes / max(len(frame), 1)
    if structure == "lm":
        _add_unseen(frames, "text", UNSEEN_CHARS)
    elif structure == "seq2seq":
        _add_unseen(frames, "source", UNSEEN_CHARS)
        _add_unseen(frames, "symbols", UNSEEN_SYMBOLS)
    return frames


def _suite(
    structure: Structure, labels: list[str], checks: ChecksConfig, no_stress_digits: bool
) -> gx.ExpectationSuite:
    """The expectations every split must meet; each one's notes say in English what it guards."""
    suite = gx.ExpectationSuite(name="prepared_splits")
    if structure == "lm":
        expectations = _document_expectations(checks)
    elif structure == "seq2seq":
        expectations = pair_expectations(checks, no_stress_digits)
    else:
        expectations = _row_expectations(structure, labels, checks)
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite


def _document_expectations(checks: ChecksConfig) -> list[Any]:
    """The lm suite: named whole documents, none in two splits, and train shows (nearly) every character."""
    expect = gx.expectations
    return [
        expect.ExpectTableRowCountToBeBetween(min_value=1, notes="every split has at least one document"),
        expect.ExpectColumnValuesToNotBeNull(column="id", notes="every document has a string id"),
        expect.ExpectColumnValuesToBeUnique(column="id", notes="no document id appears twice in a split"),
        expect.ExpectColumnValuesToBeInSet(
            column="id_in_other_split", value_set=[False], notes="no document id appears in two splits"
        ),
        expect.ExpectColumnValuesToNotBeNull(column="text", notes="every document has a text"),
        expect.ExpectColumnValuesToBeOfType(column="text", type_="str", notes="every text is a string"),
        expect.ExpectColumnValuesToBeBetween(
            column="chars",
            min_value=checks.min_chars,
            max_value=checks.max_chars,
            notes=f"every document has {checks.min_chars} to {checks.max_chars} characters",
        ),
        expect.ExpectColumnValuesToBeUnique(column="digest", notes="no document text appears twice in a split"),
        expect.ExpectColumnValuesToBeInSet(
            column="in_other_split", value_set=[False], notes="no document text appears in two splits"
        ),
        expect.ExpectColumnSumToBeBetween(
            column="unseen_share",
            max_value=checks.max_unseen_char_share,
            notes=f"characters the train split never shows are at most {checks.max_unseen_char_share:.1%} "
                  "of the split",
        ),
    ]


def _row_expectations(structure: Structure, labels: list[str], checks: ChecksConfig) -> list[Any]:
    """The suite of classify and condlm rows (a text and a label) or tag rows (tokens and tags)."""
    expect = gx.expectations
    text = "sentence" if structure == "tag" else "text"  # a tag row's text: its tokens joined
    text_expectations = [
        expect.ExpectTableRowCountToBeBetween(min_value=1, notes="every split has rows"),
        expect.ExpectColumnValuesToNotBeNull(
            column="text", notes="every row has a list of tokens" if structure == "tag" else "every row has a text"
        ),
        expect.ExpectColumnValueLengthsToBeBetween(
            column="text",
            min_value=checks.min_chars,
            max_value=checks.max_chars,
            notes=f"every {text} has {checks.min_chars} to {checks.max_chars} characters",
        ),
        expect.ExpectColumnValuesToBeUnique(column="text", notes=f"no {text} appears twice in a split"),
        expect.ExpectColumnValuesToBeInSet(
            column="in_other_split", value_set=[False], notes=f"no {text} appears in two splits"
        ),
    ]
    if structure == "tag":
        shown = ", ".join(labels) if len(labels) <= 8 else f"the task's {len(labels)} tags"
        structure_expectations = [
            expect.ExpectColumnValuesToNotBeNull(column="tag_count", notes="every row has a list of tags"),
            expect.ExpectColumnPairValuesToBeEqual(
                column_A="token_count", column_B="tag_count", notes="one tag per token"
            ),
            expect.ExpectColumnValuesToBeNull(column="unknown_tag", notes=f"every tag is one of {shown}"),
            expect.ExpectColumnValuesToBeBetween(
                column="shortest_token", min_value=1, notes="no token is empty or blank"
            ),
        ]
    else:
        structure_expectations = [
            expect.ExpectColumnValuesToBeOfType(column="text", type_="str", notes="every text is a string"),
            expect.ExpectColumnValuesToNotBeNull(column="label", notes="every row has a label"),
            expect.ExpectColumnValuesToBeInSet(
                column="label", value_set=labels, notes=f"every label is one of {', '.join(labels)}"
            ),
            expect.ExpectColumnDistinctValuesToContainSet(
                column="label", value_set=labels, notes="every label appears in the split"
            ),
            expect.ExpectColumnMinToBeBetween(
                column="label_share",
                min_value=checks.min_class_share,
                notes=f"every label makes up at least {checks.min_class_share:.0%} of the split",
            ),
        ]
    return text_expectations + structure_expectations


def _context(site_dir: Path | None) -> Any:
    """An ephemeral GX context: in-memory stores, no progress bars, no analytics, optional docs site."""
    sites = {}
    if site_dir is not None:
        sites["local"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        data_docs_sites=sites,
        analytics_enabled=False,
        # TQDM_DISABLE does not help: GX passes tqdm's disable= itself, from this setting.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def _outcome(split: str, frame: pd.DataFrame, result: Any) -> ExpectationOutcome:
    """Our view of one GX ExpectationValidationResult, with example rows by JSONL line."""
    config = result.expectation_config
    columns = [config.kwargs[key] for key in ("column", "column_A", "column_B") if key in config.kwargs]
    column = ", ".join(columns) or None
    details = result.result or {}
    outcome = ExpectationOutcome(
        split=split,
        expectation=config.type,
        column=column,
        guards=str(config.notes or config.type),
        success=bool(result.success),
        bad_rows=_plain(details.get("unexpected_count")),
    )
    info = result.exception_info or {}
    if info.get("raised_exception"):
        outcome.error = str(info.get("exception_message"))
    if config.type == "expect_column_distinct_values_to_contain_set":
        outcome.observed = _plain(details.get("partial_missing_list", []))
    elif "observed_value" in details:
        outcome.observed = _plain(details["observed_value"])
    if outcome.success:
        return outcome
    if column == "label_share":
        low = frame[frame["label_share"] < config.kwargs["min_value"]]
        outcome.bad_rows = len(low)
        outcome.examples = [
            {"line": int(row.line), "value": _plain(row.label), "share": round(float(row.label_share), 4)}
            for row in low.head(MAX_EXAMPLES).itertuples()
        ]
    elif column in (UNSEEN_CHARS.share, UNSEEN_SYMBOLS.share):
        names = UNSEEN_CHARS if column == UNSEEN_CHARS.share else UNSEEN_SYMBOLS
        item, key = ("document", "id") if "id" in frame else ("source", "source")
        unseen = frame[frame[names.count] > 0]
        outcome.bad_rows = len(unseen)
        outcome.examples = [
            {"line": int(row.line), "item": item, "value": _plain(getattr(row, key)),
             "count": int(getattr(row, names.count)), "unseen": getattr(row, names.symbols)}
            for row in unseen.head(MAX_EXAMPLES).itertuples()
        ]
    elif columns:
        lines = [int(entry["line"]) for entry in details.get("partial_unexpected_index_list") or []]
        shown = _shown(columns, frame)
        outcome.examples = [{"line": n, "value": _cell(frame, n, shown)} for n in lines[:MAX_EXAMPLES]]
    return outcome


def _shown(columns: list[str], frame: pd.DataFrame) -> list[str]:
    """The columns an example row shows: what a cross-split flag is about; a document by its id, not its text."""
    if "digest" in frame:  # an lm split: the text is a whole document
        return ["id", "chars"] if columns == ["chars"] else ["id"]
    if "target_count" in frame:  # a seq2seq split: a row is named by its source
        return ["source"] if columns in (["source"], ["in_other_split"]) else ["source", *columns]
    return ["text"] if columns == ["in_other_split"] else columns


def _cell(frame: pd.DataFrame, line: int, columns: list[str]) -> Any:
    """The value of one column on a JSONL line, or ``"a 3, b 4"`` for several columns."""
    if len(columns) == 1:
        return _plain(frame.at[line - 1, columns[0]])
    return ", ".join(f"{name} {_plain(frame.at[line - 1, name])}" for name in columns)


def validate_splits(
    splits: dict[str, list[dict[str, Any]]],
    labels: list[str],
    checks: ChecksConfig,
    docs_dir: Path | None = None,
    structure: Structure = "classify",
    target_tokenizer: str = "whitespace",
    no_stress_digits: bool = False,
) -> ValidationReport:
    """Check every split against the expectation suite; optionally write Data Docs into ``docs_dir``.

    ``splits`` maps a split name to its rows in file order (row i is line i + 1 of
    ``<split>.jsonl``); ``labels`` is the label set, or the tag set of a tag task. Seq2seq tasks
    split their targets into symbols with ``target_tokenizer``; ``no_stress_digits`` (cmudict with
    ``keep_stress`` false) adds the check that no symbol carries a digit. The Data Docs folder is
    built in a temporary folder and moved into place whole, whether the data passed or not; a crash
    leaves any earlier folder as it was.
    """
    frames = _frames(splits, structure, labels, target_tokenizer)
    if docs_dir is None:
        return _validate(frames, structure, labels, checks, no_stress_digits, site_dir=None)
    with atomic_path(docs_dir) as staged:
        report = _validate(frames, structure, labels, checks, no_stress_digits, site_dir=staged)
        if not (staged / "index.html").is_file():
            raise RuntimeError(f"great-expectations wrote no index.html for the Data Docs in {docs_dir}")
    logger.info("Data Docs written to %s", docs_dir / "index.html")
    return report


def _validate(
    frames: dict[str, pd.DataFrame],
    structure: Structure,
    labels: list[str],
    checks: ChecksConfig,
    no_stress_digits: bool,
    site_dir: Path | None,
) -> ValidationReport:
    context = _context(site_dir)  # before the suite: GX suites need an active context
    source = context.data_sources.add_pandas("prepared")
    suite = context.suites.add(_suite(structure, labels, checks, no_stress_digits))
    order = {expectation.id: index for index, expectation in enumerate(suite.expectations)}  # GX reorders
    outcomes: list[ExpectationOutcome] = []
    for split, frame in frames.items():
        batch = source.add_dataframe_asset(split).add_batch_definition_whole_dataframe(split)
        definition = context.validation_definitions.add(gx.ValidationDefinition(name=split, data=batch, suite=suite))
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)
        ordered = sorted(result.results, key=lambda item: order.get(item.expectation_config.id, len(order)))
        split_outcomes = [_outcome(split, frame, item) for item in ordered]
        logger.info("%s: %d of %d expectations met", split, sum(o.success for o in split_outcomes), len(split_outcomes))
        outcomes += split_outcomes
    if site_dir is not None:
        context.build_data_docs()
    rows = {split: len(frame) for split, frame in frames.items()}
    return ValidationReport(success=all(o.success for o in outcomes), rows=rows, results=outcomes)
