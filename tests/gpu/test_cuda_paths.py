"""The CUDA paths on a machine with a GPU (`make test-gpu`; `make test` leaves them out, as CI has no GPU):
cuDNN training, checkpoints written on the GPU and exported on the CPU, and ONNX Runtime's CUDA provider
running the fp16 models, through the real pipeline on tiny params, one run per structure."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.gpu

RUNS = ["tiny-bigru", "tiny-pos", "tiny-lm-gru", "tiny-g2p"]
"""A classifier, a tagger with a char CNN, a language model and an attention seq2seq model."""
FP16_TOLERANCE = 0.01
"""How far fp16 on CUDA may score from fp32 on the CPU (accuracy, as a share)."""


@pytest.fixture(scope="module")
def gpu_project(tmp_path_factory: pytest.TempPathFactory, make_tiny_copy: Callable[[Path], Path],
                run: Callable[..., subprocess.CompletedProcess[str]]) -> tuple[Path, str]:
    """A tiny copy of the project trained with ``distributed.device: cuda`` up to each run's evaluate stage,
    and the output of that `seqlab repro`."""
    if not torch.cuda.is_available():
        pytest.fail("make test-gpu needs a CUDA GPU that torch sees (torch.cuda.is_available() is False)")
    root = make_tiny_copy(tmp_path_factory.mktemp("gpu") / "project")
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["distributed"]["device"] = "cuda"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    result = run(["seqlab", "repro", *(f"evaluate@{name}" for name in RUNS)], root, timeout=1800)
    return root, result.stdout + result.stderr


def test_every_structure_trains_on_the_gpu(gpu_project: tuple[Path, str]) -> None:
    # Guards: a train stage that quietly stays on the CPU when a GPU is there.
    _, log = gpu_project
    for run in RUNS:
        assert f"training {run} on cuda:0 (" in log, run


def test_fp16_on_the_cuda_provider_scores_as_fp32_does(gpu_project: tuple[Path, str]) -> None:
    # Guards: the evaluate stage not reaching the CUDA provider, and an fp16 graph that computes something else.
    root, _ = gpu_project
    for run in RUNS:
        metrics = json.loads((root / "metrics" / "eval" / f"{run}.json").read_text(encoding="utf-8"))
        assert "ort_cuda_fp16" in metrics["backends"], run
        fp16, fp32 = (metrics["backends"][name]["accuracy"] for name in ("ort_cuda_fp16", "ort_fp32"))
        assert abs(fp16 - fp32) <= FP16_TOLERANCE, (run, fp16, fp32)
