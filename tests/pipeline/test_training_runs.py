"""Training beyond one process, and nothing lost: a train stage killed mid-run resumes from its last
checkpoint on the next `dvc repro` and ends where an uninterrupted run ends; the same stage run twice with
the same seed gives the same metrics (CPU); two torchrun processes reach what one process reaches with the
same global batch. On a copy of the tiny project, so the other tests keep their outputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.e2e

RUN = "tiny-numbers"
STAGE = f"train@{RUN}"
TIMINGS = ("train_seconds", "train_target_tokens_per_second", "train_tokens_per_second")
CLASSIFIER = "tiny-bigru"


@pytest.fixture(scope="module")
def copy(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny project without its caches and large outputs (RUN trained, as the pipeline left it)."""
    root = tmp_path_factory.mktemp("resume") / "project"
    models = {path.name for path in (project / "models").iterdir()} - {RUN}
    heavy = {Path("."): {"mlartifacts", "dist", "mlflow.db"}, Path(".dvc"): {"cache"}, Path("data"): {"prepared"},
             Path("models"): models}  # not needed to train these stages; RUN keeps its trained outputs
    shutil.copytree(project, root, symlinks=True,
                    ignore=lambda folder, names: heavy.get(Path(folder).relative_to(project), set()) & set(names))
    return root


def _repro(run, root: Path, *options: str, stage: str = STAGE) -> subprocess.CompletedProcess[str]:
    return run(["dvc", "repro", "--single-item", *options, stage], root, timeout=900)


def _outcome(root: Path, name: str = RUN) -> tuple[dict, list[dict]]:
    """The run's metrics without its timings, and its curve without the epoch times."""
    metrics = json.loads((root / f"metrics/train/{name}.json").read_text())
    for key in TIMINGS:
        metrics.pop(key, None)
    lines = (root / f"metrics/curves/{name}.csv").read_text().splitlines()
    header = lines[0].split(",")
    curve = [{k: v for k, v in zip(header, line.split(","), strict=True) if k != "epoch_seconds"} for line in lines[1:]]
    return metrics, curve


def _last_epoch(checkpoint: Path) -> tuple[int, bool] | None:
    """(epoch, finished) of a last.pt being written by a running stage, None until one is complete."""
    try:
        loop = torch.load(checkpoint, map_location="cpu", weights_only=False)["progress"]["loop"]
    except (FileNotFoundError, EOFError, RuntimeError, KeyError):
        return None
    return loop["epoch"], loop["finished"]


def test_the_same_stage_twice_gives_the_same_metrics(copy: Path, run) -> None:
    # Guards: unseeded randomness anywhere in training (batch order, dropout, init, token dropout).
    first = _outcome(copy)  # the pipeline's own run of RUN
    _repro(run, copy, "--force")
    assert _outcome(copy) == first


def test_a_killed_run_resumes_and_ends_as_the_uninterrupted_one(copy: Path, run, tool_environment) -> None:
    # Guards: a rerun that starts over (the checkpoint deleted or ignored), a resume that loses the optimizer,
    # schedule or random state (other final metrics), or one that resumes a finished or foreign checkpoint.
    uninterrupted = _outcome(copy)  # the pipeline's run of RUN (and the rerun of the test above)
    checkpoint = copy / f"models/{RUN}/train/last.pt"
    stage = subprocess.Popen(["dvc", "repro", "--single-item", "--force", STAGE], cwd=copy, env=tool_environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 600
    while (seen := _last_epoch(checkpoint)) is None or seen[1] or seen[0] < 1:  # a new, unfinished run's epoch
        assert stage.poll() is None, "the stage ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint of the new run appeared"
        time.sleep(0.02)
    os.killpg(stage.pid, signal.SIGKILL)  # dvc and the training process with it
    stage.wait(timeout=60)
    killed_at, finished = _last_epoch(checkpoint)
    assert not finished and killed_at < yaml.safe_load((copy / "params.yaml").read_text())["runs"][RUN]["train"][
        "max_epochs"]
    resumed = _repro(run, copy)
    assert f"resuming after epoch {killed_at}" in resumed.stdout + resumed.stderr
    assert _outcome(copy) == uninterrupted


def test_two_processes_reach_what_one_reaches_with_the_same_global_batch(copy: Path, run) -> None:
    # Guards: processes that each train on the whole batch (twice the global batch), drift apart (gradients
    # not averaged), or all write checkpoints and metrics. CLASSIFIER has no dropout, so each process's
    # share of a batch averages to the batch's own gradient; the pipeline trained it on one process.
    one, one_curve = _outcome(copy, CLASSIFIER)
    params_path = copy / "params.yaml"
    params = yaml.safe_load(params_path.read_text())
    params["distributed"]["processes"] = 2
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    two_run = _repro(run, copy, stage=f"train@{CLASSIFIER}")
    two, two_curve = _outcome(copy, CLASSIFIER)
    assert "on cpu, 2 processes (DDP over gloo)" in two_run.stdout + two_run.stderr
    assert two["steps"] == one["steps"]  # the same batches: each process took half of every one
    # Stated tolerance: the processes sum their shares in another order, and a batch that does not split
    # evenly weighs its halves equally, so the figures agree closely but not to the last bit.
    assert abs(two["valid_accuracy"] - one["valid_accuracy"]) <= 0.01
    assert float(two_curve[-1]["train_loss"]) == pytest.approx(float(one_curve[-1]["train_loss"]), rel=0.02)
    assert float(two_curve[-1]["valid_loss"]) == pytest.approx(float(one_curve[-1]["valid_loss"]), rel=0.02)
    assert _last_epoch(copy / f"models/{CLASSIFIER}/train/last.pt") == (1, True)  # rank 0 wrote it, whole
