"""What every command-line entry shares: logging set-up and clean errors for people.

Library code only logs; the pipeline stages and the ``seqlab`` CLI call :func:`run_entry`, which
configures logging once and turns the errors a user can fix (bad params, bad input files, failed
checks) into one readable message and exit status 1 instead of a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

import typer

from seqlab.config import ConfigError
from seqlab.io import InputError


class StageError(RuntimeError):
    """A stage's own check failed (validation, parity, ...); the message says what and where."""


USER_ERRORS = (ConfigError, InputError, StageError)


def configure_logging(level: str | None = None) -> None:
    """Log to stderr with time and module; level from $SEQLAB_LOG_LEVEL (default INFO)."""
    logging.basicConfig(
        level=(level or os.environ.get("SEQLAB_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # Third-party libraries are chatty at INFO; keep their warnings only.
    for noisy in ("great_expectations", "jieba", "mlflow", "alembic", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("TQDM_DISABLE", "1")


def run_entry(main: Callable[..., None]) -> None:
    """Run a stage's ``main`` as a typer command with logging and user-error handling."""
    configure_logging()

    def guarded(*args: object, **kwargs: object) -> None:
        try:
            main(*args, **kwargs)
        except USER_ERRORS as err:
            logging.getLogger(main.__module__).error("%s", err)
            sys.exit(1)

    guarded.__signature__ = __import__("inspect").signature(main)  # type: ignore[attr-defined]
    guarded.__doc__ = main.__doc__
    typer.run(guarded)
