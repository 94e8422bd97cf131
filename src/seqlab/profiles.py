"""Profiles: named sets of params.yaml values for another kind of machine, run as a DVC experiment.

``profiles/<name>.yaml`` has the shape of params.yaml but holds only the values it changes (``gpu``: bigger
models and longer schedules for one CUDA GPU). ``seqlab repro --profile gpu`` checks params.yaml with those
values first, so a misspelt key is named before anything runs, then starts ``dvc exp run -S key=value ...``:
DVC writes the values into params.yaml, reruns what they change and keeps the experiment for
``dvc exp show``; every MLflow run it trains is tagged with the experiment's name.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from seqlab.config import ConfigError, Params, parse_params, read_params

PROFILES_DIR = "profiles"


def profile_path(root: Path, name: str) -> Path:
    """``profiles/<name>.yaml`` under ``root``, or a ConfigError listing the profiles there."""
    path = root / PROFILES_DIR / f"{name}.yaml"
    if not path.is_file():
        known = sorted(found.stem for found in (root / PROFILES_DIR).glob("*.yaml"))
        raise ConfigError(f"no profile '{name}': {path} does not exist (profiles: {', '.join(known) or 'none'})")
    return path


def _leaves(values: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (key path, value) of a nested mapping whose value is not itself a mapping."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*prefix, str(key)))
        else:
            yield (*prefix, str(key)), value


def _has(tree: Any, keys: tuple[str, ...]) -> bool:
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def _set(tree: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        tree = tree.setdefault(key, {})
    tree[keys[-1]] = value


def profile_overrides(params_path: Path, profile: Path) -> tuple[Params, list[str]]:
    """The params ``profile`` makes of ``params_path``, and the ``dvc exp run`` arguments that apply it: ``-S
    key=value`` per value (``+key`` for a key params.yaml does not write out yet). A ConfigError, naming the
    profile and the key, when params.yaml with those values would not load."""
    params = read_params(params_path)
    parse_params(params, str(params_path))  # its own problems first, named as its own
    values = read_params(profile)
    if not isinstance(values, dict) or not values:
        raise ConfigError(f"{profile}: a profile is a mapping of params.yaml keys to their values")
    merged = copy.deepcopy(params)
    arguments = []
    for keys, value in _leaves(values):
        added = "" if _has(params, keys) else "+"
        _set(merged, keys, value)
        arguments += ["-S", f"{added}{'.'.join(keys)}={json.dumps(value)}"]
    return parse_params(merged, f"{params_path} with {profile}"), arguments
