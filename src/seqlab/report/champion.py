"""Choose each task's champion on the valid split and point the MLflow ``champion`` alias at it.

Classifiers and taggers: the highest valid accuracy (ties: the higher valid macro-F1, then the lower
valid loss, then the run name). Generating models (lm, condlm): the lowest valid bits per character
(ties: the higher valid next-character accuracy, then the run name). Sequence-to-sequence models
(seq2seq): the lowest valid word error rate (ties: the lower valid phoneme error rate, then the run
name). The choice never looks at test numbers, so the test split stays an unbiased estimate of the
champion, and it is deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.paths import tracking_uri

if TYPE_CHECKING:
    from seqlab.report.results import RunResult, TaskResults

logger = logging.getLogger(__name__)

ALIAS = "champion"


def _text_rank(result: RunResult) -> tuple[float, float, float, str]:
    train = result.train
    return (-result.valid_accuracy, -float(train.get("valid_macro_f1", 0.0)), float(train.get("valid_loss", 0.0)),
            result.run)


def _generative_rank(result: RunResult) -> tuple[float, float, str]:
    return result.valid_bpc, -result.valid_accuracy, result.run


def _seq2seq_rank(result: RunResult) -> tuple[float, float, str]:
    return result.valid_wer, result.valid_per, result.run


def _rank(result: RunResult) -> Callable[[RunResult], tuple[float | str, ...]]:
    """The ordering of runs of ``result``'s structure: the best run sorts first."""
    if result.seq2seq:
        return _seq2seq_rank
    return _generative_rank if result.generative else _text_rank


def choose_champion(runs: list[RunResult]) -> RunResult:
    """The best run on the valid split: the highest valid accuracy, for generating runs the lowest valid
    bits per character, for sequence-to-sequence runs the lowest valid word error rate (ties as the module
    says)."""
    if not runs:
        raise ValueError("no runs to choose a champion from")
    return min(runs, key=_rank(runs[0]))


def _champion_scores(champion: RunResult) -> dict[str, float]:
    """The champion's valid score and its ORT int8 test scores, keyed as champions.json names them."""
    if champion.seq2seq:
        return {"valid_wer": champion.valid_wer, "test_wer": champion.test_score("ort_int8", "wer"),
                "test_per": champion.test_score("ort_int8", "per")}
    metric, valid = ("bpc", champion.valid_bpc) if champion.generative else ("accuracy", champion.valid_accuracy)
    return {f"valid_{metric}": valid, f"test_{metric}": champion.test_score("ort_int8", metric)}


def champions_record(results: dict[str, TaskResults]) -> dict[str, dict[str, Any]]:
    """``{task: {run, <valid score>, <test scores of ORT int8>, model_name, version}}`` for champions.json.

    The scores are ``valid_accuracy`` and ``test_accuracy``; for a generating task ``valid_bpc`` and
    ``test_bpc``; for a sequence-to-sequence task ``valid_wer``, ``test_wer`` and ``test_per`` (beam
    search). Test scores are reported, never used in the choice.
    """
    record: dict[str, dict[str, Any]] = {}
    for task, task_results in results.items():
        champion = choose_champion(task_results.runs)
        scores = _champion_scores(champion)
        version = champion.registry.get("version")
        record[task] = {
            "run": champion.run,
            **scores,
            "model_name": champion.registry["model_name"],
            "version": None if version is None else str(version),
        }
        logger.info("%s: champion %s (%s)", task, champion.run,
                    ", ".join(f"{key} {value:.4f}" for key, value in scores.items() if key.startswith("valid_")))
    return record


def set_champion_aliases(champions: dict[str, dict[str, Any]], root: Path) -> dict[str, bool]:
    """Set alias ``champion`` on each champion's registered version; returns task -> alias set or not.

    A champion without a registered version (registration unavailable when it was exported) or a
    model the MLflow store does not know (e.g. runs made with the do-nothing tracker) is logged as a
    warning and skipped: the report is still valid without the alias.
    """
    done = {task: False for task in champions}
    pending = {task: info for task, info in champions.items() if info.get("version") is not None}
    for task in sorted(set(champions) - set(pending)):
        logger.warning("%s: champion %s has no registered model version; no '%s' alias set",
                       task, champions[task]["run"], ALIAS)
    if not pending:
        return done
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(root)
    client = MlflowClient(uri)
    for task, info in pending.items():
        name, version = info["model_name"], str(info["version"])
        try:
            client.set_registered_model_alias(name, ALIAS, version)
        except MlflowException as err:
            logger.warning("%s: could not set alias '%s' on %s version %s at %s: %s",
                           task, ALIAS, name, version, uri, err.message)
            continue
        done[task] = True
        logger.info("%s: alias '%s' -> %s version %s", task, ALIAS, name, version)
    return done
