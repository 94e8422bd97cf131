"""Where stages write (the workspace) and where MLflow records (the store), DVC experiment copies included."""

from __future__ import annotations

from pathlib import Path

from seqlab.paths import artifact_root, repo_root, store_root, tracking_uri


def test_an_experiment_copy_writes_its_outputs_in_the_copy_and_its_runs_to_the_repository(tmp_path: Path,
                                                                                        monkeypatch) -> None:
    # Guards the sweep: a queued experiment that wrote its outputs into the original repository left DVC
    # without them ("output ... does not exist"); one that kept its MLflow runs in the copy lost them with it.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    repository = tmp_path / "repo"
    copy = repository / ".dvc" / "tmp" / "exps" / "tmpa1b2c3"
    for root in (repository, copy):
        (root / "pipeline").mkdir(parents=True)
        (root / "dvc.yaml").write_text("stages: {}\n")

    assert repo_root(copy / "pipeline") == copy.resolve()
    assert store_root(copy.resolve()) == repository.resolve()
    assert tracking_uri(copy.resolve()) == f"sqlite:///{(repository.resolve() / 'mlflow.db').as_posix()}"
    assert artifact_root(copy.resolve()) == repository.resolve() / "mlartifacts"

    assert repo_root(repository / "pipeline") == repository.resolve()
    assert store_root(repository.resolve()) == repository.resolve()
