"""Atomic file writes and line-numbered reads.

Every stage writes through these helpers: output goes to a temporary path beside the target and
is renamed into place only when complete, so a crash or a bad input never leaves a half-written
file, and an earlier good output survives a failed rerun.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """A user-supplied file is unreadable or malformed; the message names the file and line."""


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path for ``target`` (file or directory); rename it into place on success.

    On any exception the temporary path is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    staged = tmp / target.name
    try:
        yield staged
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(staged, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    write_text(path, json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def missing_file(path: Path, made_by: str | None) -> InputError:
    """The error for a file that is not there, naming the stage ``made_by`` that writes it (when given)."""
    hint = f"; it is made by stage {made_by} (run `dvc repro {made_by}`)" if made_by else ""
    return InputError(f"{path}: file not found{hint}")


def read_json(path: str | Path, made_by: str | None = None) -> Any:
    """Read a JSON file, naming the file in the error when it is missing or malformed.

    ``made_by`` names the pipeline stage that writes the file, so a missing file says what to run.
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise missing_file(path, made_by) from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not valid UTF-8 JSON: {err}") from err


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows, all with the first row's keys, as CSV text with a header (training curves, study tables)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def read_csv_numbers(path: str | Path, made_by: str) -> list[dict[str, float]]:
    """The rows of a CSV of numbers written by :func:`csv_text`; a missing file, or a cell that is no number,
    is an InputError naming the file and the stage ``made_by`` that writes it."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]
    except FileNotFoundError as err:
        raise missing_file(path, made_by) from err
    except (ValueError, TypeError) as err:  # a cell that is not a number, or a short row (None)
        raise InputError(f"{path}: not a CSV of numbers ({err}); rerun stage {made_by} (`dvc repro {made_by}`)") \
            from err


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write one JSON object per line, atomically."""
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line, failing with file:line on bad UTF-8."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except FileNotFoundError as err:
        raise InputError(f"{path}: file not found") from err
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise InputError(f"{path}:{number}: not valid UTF-8 ({err.reason} at byte {err.start})") from err


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of a JSONL file."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{number}: not valid JSON: {err.msg}") from err
        if not isinstance(row, dict):
            raise InputError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield number, row


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
