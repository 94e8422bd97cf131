"""Choose each task's champion on valid accuracy and point the MLflow ``champion`` alias at it.

The choice never looks at test numbers: the test split stays an unbiased estimate of the champion.
Ties on valid accuracy go to the higher valid macro-F1, then the lower valid loss, then the run name,
so the choice is deterministic.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.paths import tracking_uri

if TYPE_CHECKING:
    from seqlab.report.summary import RunResult, TaskResults

logger = logging.getLogger(__name__)

ALIAS = "champion"


def choose_champion(runs: list[RunResult]) -> RunResult:
    """The run with the best valid accuracy (ties: valid macro-F1, lower valid loss, then name)."""
    if not runs:
        raise ValueError("no runs to choose a champion from")

    def key(result: RunResult) -> tuple[float, float, float, str]:
        train = result.train
        return (-result.valid_accuracy, -float(train.get("valid_macro_f1", 0.0)),
                float(train.get("valid_loss", 0.0)), result.run)

    return min(runs, key=key)


def champions_record(results: dict[str, TaskResults]) -> dict[str, dict[str, Any]]:
    """``{task: {run, valid_accuracy, test_accuracy (ORT int8), model_name, version}}`` for champions.json."""
    record: dict[str, dict[str, Any]] = {}
    for task, task_results in results.items():
        champion = choose_champion(task_results.runs)
        version = champion.registry.get("version")
        record[task] = {
            "run": champion.run,
            "valid_accuracy": champion.valid_accuracy,
            "test_accuracy": champion.test_accuracy("ort_int8"),
            "model_name": champion.registry["model_name"],
            "version": None if version is None else str(version),
        }
        logger.info("%s: champion %s (valid accuracy %.4f)", task, champion.run, champion.valid_accuracy)
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
