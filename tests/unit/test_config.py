"""params.yaml is strict: typos and wrong types are errors that name the key."""

from pathlib import Path

import pytest
import yaml

from seqlab.config import ConfigError, load_params

SHIPPED = sorted(Path(__file__).resolve().parents[2].glob("**/params*.yaml"))


@pytest.mark.parametrize("path", [p for p in SHIPPED if ".venv" not in p.parts and ".dvc" not in p.parts], ids=str)
def test_every_shipped_params_file_loads(path: Path) -> None:
    # Guards: a params file we ship (default or test preset) that the code cannot read.
    params = load_params(path)
    assert params.runs and params.tasks


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _base(repo: Path) -> tuple[dict, str]:
    """The shipped params and the name of their first run."""
    data = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    return data, next(iter(data["runs"]))


def test_unknown_key_is_named(tmp_path: Path, repo: Path) -> None:
    # Guards: a misspelt knob silently ignored instead of reported.
    data, run = _base(repo)
    data["runs"][run]["model"]["hiden"] = 64
    with pytest.raises(ConfigError, match=rf"runs\.{run}\.model\.hiden"):
        load_params(_write(tmp_path, data))


def test_wrong_type_is_named(tmp_path: Path, repo: Path) -> None:
    # Guards: a wrong type reaching the model code.
    data, run = _base(repo)
    data["runs"][run]["model"]["hidden"] = "big"
    with pytest.raises(ConfigError, match=rf"runs\.{run}\.model\.hidden.*integer"):
        load_params(_write(tmp_path, data))


def test_a_yaml_alias_is_refused_with_its_line(tmp_path: Path, repo: Path) -> None:
    # Guards: a shared `train: *anchor` that `dvc exp run -S` (make sweep) silently leaves unchanged.
    path = tmp_path / "params.yaml"
    text = (repo / "params.yaml").read_text(encoding="utf-8").replace("runs:\n", "shared: &shared {lr: 0.1}\nruns:\n")
    path.write_text(text.replace("seed: 1234\n", "seed: 1234\nagain: *shared\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"params\.yaml:4: YAML alias '\*shared'"):
        load_params(path)


def test_edge_characters_without_character_features_are_named(tmp_path: Path, repo: Path) -> None:
    # Guards: edge characters asked for on a tagger that reads no characters, found only when it is built.
    data, _ = _base(repo)
    data["runs"]["seg-bilstm"]["model"]["edge_embed_dim"] = 16
    with pytest.raises(ConfigError, match=r"runs\.seg-bilstm\.model.*edge_embed_dim > 0.*char_embed_dim"):
        load_params(_write(tmp_path, data))


def test_run_of_unknown_task_is_an_error(tmp_path: Path, repo: Path) -> None:
    # Guards: a run pointing at a task that does not exist.
    data, run = _base(repo)
    data["runs"][run]["task"] = "sentimnet"
    with pytest.raises(ConfigError, match="unknown task 'sentimnet'"):
        load_params(_write(tmp_path, data))


def test_split_shares_must_sum_to_one(tmp_path: Path, repo: Path) -> None:
    # Guards: splits that silently drop or duplicate data.
    data, _ = _base(repo)
    data["tasks"]["sentiment"]["split"] = {"train": 0.8, "valid": 0.1, "test": 0.2}
    with pytest.raises(ConfigError, match="add up to 1"):
        load_params(_write(tmp_path, data))


def test_file_source_needs_a_path(tmp_path: Path, repo: Path) -> None:
    # Guards: a user-file task with no file.
    data, _ = _base(repo)
    data["tasks"]["sentiment"]["source"] = {"kind": "file"}
    with pytest.raises(ConfigError, match="source.path"):
        load_params(_write(tmp_path, data))


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.yaml: file not found"):
        load_params(tmp_path / "nope.yaml")
