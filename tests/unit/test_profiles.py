"""Profiles (profiles/<name>.yaml) become `dvc exp run -S` settings that DVC really applies, checked first."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from seqlab.config import ConfigError, load_params
from seqlab.profiles import profile_overrides, profile_path

Runner = Callable[..., subprocess.CompletedProcess[str]]


def _git_dvc_repo(folder: Path, params: Path, run: Runner) -> None:
    """A git repository with DVC and one stage that depends on every param."""
    shutil.copy(params, folder / "params.yaml")
    (folder / "dvc.yaml").write_text("stages:\n  echo:\n    cmd: cp params.yaml seen.yaml\n"
                                     "    params: [distributed, runs]\n    outs: [seen.yaml]\n")
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start"]):
        run(command, folder)


def test_dvc_applies_every_value_of_the_gpu_profile(tmp_path: Path, repo: Path, run: Runner) -> None:
    # Guards: settings DVC ignores or misreads (a value set through a YAML alias, a key params.yaml does
    # not write out yet, a string), so the experiment would train the CPU models under the GPU name.
    _git_dvc_repo(tmp_path, repo / "params.yaml", run)
    profile = profile_path(repo, "gpu")
    params, arguments = profile_overrides(tmp_path / "params.yaml", profile)
    run(["dvc", "exp", "run", *arguments], tmp_path)
    applied = load_params(tmp_path / "seen.yaml")
    expected = yaml.safe_load(profile.read_text(encoding="utf-8"))
    assert applied.distributed.device == expected["distributed"]["device"] == "cuda"
    for run, sections in expected["runs"].items():
        for section, values in sections.items():
            got = getattr(applied.runs[run], section).model_dump()
            assert {key: got[key] for key in values} == values, (run, section)
    shipped = load_params(repo / "params.yaml")
    assert applied.runs["sentiment-gru"] == shipped.runs["sentiment-gru"]  # what the profile leaves alone
    assert applied == params  # what seqlab checked is what DVC ran


def test_a_misspelt_profile_key_is_named_before_anything_runs(tmp_path: Path, repo: Path) -> None:
    # Guards: a typo reaching `dvc exp run`, which would add the unknown key and fail only in the train stage.
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "big.yaml").write_text("runs:\n  g2p-bilstm:\n    model: {hiden: 512}\n")
    with pytest.raises(ConfigError, match=r"with .*big\.yaml: runs\.g2p-bilstm\.model\.hiden"):
        profile_overrides(repo / "params.yaml", profile_path(tmp_path, "big"))
    with pytest.raises(ConfigError, match=r"no profile 'gpu2'.*\(profiles: big\)"):
        profile_path(tmp_path, "gpu2")


def test_the_gpu_profile_stops_at_once_on_a_machine_without_a_gpu(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards: `make repro-gpu` on a CPU machine running the data stages first and failing only in a train stage.
    import torch
    from typer.testing import CliRunner

    from seqlab.cli import app

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(app, ["repro", "--profile", "gpu"])
    assert result.exit_code == 1
    assert "profile 'gpu' trains on a CUDA GPU" in " ".join(result.output.split())
