"""Shared fixtures: the repository root, its params, and the real (small) sentiment data."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqlab.config import Params, load_params

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(REPO / "params.yaml")
