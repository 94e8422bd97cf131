"""The pipeline's own stages, timed: `seqlab repro` runs `dvc repro` and keeps its output with the seconds
since the start on every line (reports/repro.log), so the wall time of each stage can be read back from
dvc's "Running stage" lines; and the throughput of the tokenize and vocab stages' work per task."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from seqlab.bench.figures import spread
from seqlab.bench.timing import timed_repeats
from seqlab.config import Params, TaskConfig
from seqlab.io import atomic_path
from seqlab.paths import Layout
from seqlab.text.tokenizers import tokenize_file
from seqlab.text.vocab import vocabularies_of_split

STAGE_LINE = re.compile(r"^Running stage '(?P<stage>[^']+)':")


def run_logged(command: list[str], cwd: Path, log: Path) -> int:
    """Run ``command``, passing its output through, and write that output to ``log`` with the seconds since
    the start before every line (the log appears when the command ends, whatever its exit status)."""
    started = time.monotonic()
    with atomic_path(log) as tmp, tmp.open("w", encoding="utf-8") as handle:
        process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   bufsize=1)
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(line)
            handle.write(f"{time.monotonic() - started:.1f}\t{line}")
        handle.write(f"{time.monotonic() - started:.1f}\t(exit status {process.wait()})\n")
    return process.returncode


def stage_times(log: Path) -> dict[str, float]:
    """Seconds from each "Running stage" line of a `seqlab repro` log to the next (the last: to the end)."""
    marks: list[tuple[str | None, float]] = []
    for line in log.read_text(encoding="utf-8").splitlines():
        seconds, _, text = line.partition("\t")
        match = STAGE_LINE.match(text)
        marks.append((match["stage"] if match else None, float(seconds)))
    starts = [(stage, at) for stage, at in marks if stage]
    ends = [at for _, at in starts[1:]] + [marks[-1][1]] if marks else []
    return {stage: round(end - at, 1) for (stage, at), end in zip(starts, ends, strict=True)}


def data_throughput(layout: Layout, params: Params) -> dict[str, Any]:
    """Per task: MB per second of the tokenize stage's work (prepared train JSONL in, tokenized JSONL out) and
    of the vocab stage's (the tokenized train split read and counted), as min/median/max over the repeats."""
    settings = params.bench.stages
    tasks: dict[str, Any] = {}
    for task, config in params.tasks.items():
        prepared, tokenized = layout.prepared(task) / "train.jsonl", layout.tokenized(task) / "train.jsonl"
        if prepared.exists() and tokenized.exists():
            with tempfile.TemporaryDirectory() as folder:
                tasks[task] = _task_throughput(_head(prepared, Path(folder) / "prepared.jsonl", settings.max_rows),
                                               _head(tokenized, Path(folder) / "tokenized.jsonl", settings.max_rows),
                                               config, settings.repeats)
    return tasks


def _head(source: Path, target: Path, rows: int | None) -> Path:
    """``source`` itself, or its first ``rows`` lines copied to ``target``."""
    if rows is None:
        return source
    with source.open(encoding="utf-8") as lines:
        target.write_text("".join(itertools.islice(lines, rows)), encoding="utf-8")
    return target


def _task_throughput(prepared: Path, tokenized: Path, config: TaskConfig, repeats: int) -> dict[str, Any]:
    """:func:`data_throughput` of one task."""
    target_kind = config.target_tokenizer if config.structure == "seq2seq" else None
    with tempfile.TemporaryDirectory() as folder:
        tokenize = timed_repeats(lambda: tokenize_file(prepared, Path(folder) / "train.jsonl", config.tokenizer,
                                                       target_kind), repeats, 0)
    vocab = timed_repeats(lambda: vocabularies_of_split(tokenized, config.vocab), repeats, 0)
    prepared_mb, tokenized_mb = prepared.stat().st_size / 1e6, tokenized.stat().st_size / 1e6
    return {"tokenizer": config.tokenizer, "prepared_mb": round(prepared_mb, 2),
            "tokenize_mb_per_s": spread([prepared_mb / seconds for seconds in tokenize], 2),
            "tokenized_mb": round(tokenized_mb, 2),
            "vocab_mb_per_s": spread([tokenized_mb / seconds for seconds in vocab], 2)}


def bench_stages(layout: Layout, params: Params) -> dict[str, Any]:
    """Data-stage throughput, and the wall time of every stage of the last `seqlab repro` (if its log is there)."""
    log = layout.repro_log
    return {"throughput": data_throughput(layout, params),
            "log": str(log.relative_to(layout.root)), "stage_seconds": stage_times(log) if log.exists() else None}
