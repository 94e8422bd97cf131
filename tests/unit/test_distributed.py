"""DistributedDataParallel in `fit`: two real processes over gloo against one process, same global batch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from seqlab.config import ConfigError, TrainConfig
from seqlab.serving.process import free_port
from seqlab.training.distributed import CPU, SINGLE, Processes, training_device
from seqlab.training.loop import fit
from seqlab.training.tracking import NullTracker


def _train(processes: Processes, out: Path) -> None:
    """Fit a small GRU classifier on fixed batches of 8 sequences; save its weights and epoch calls."""
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"rnn": torch.nn.GRU(3, 6, batch_first=True), "head": torch.nn.Linear(6, 2)})
    inputs, labels = torch.randn(4, 8, 5, 3), torch.randint(0, 2, (4, 8))  # 4 batches of 8 sequences

    def loss_fn(m, batch):
        x, y = batch
        _, h = m["rnn"](x)  # (1, B, H)
        return torch.nn.functional.cross_entropy(m["head"](h[-1]), y)

    calls = []
    fit(model, lambda epoch: list(zip(inputs, labels, strict=True)), loss_fn, lambda m: {"valid_score": 0.0},
        TrainConfig(max_epochs=2, patience=5, lr=0.05), "valid_score",
        lambda epoch, *_: calls.append(epoch), NullTracker(), processes=processes)
    torch.save({"weights": model.state_dict(), "calls": calls}, out / f"rank{processes.rank}.pt")


def _worker(rank: int, port: int, out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        _train(Processes(rank, 2), out)
    finally:
        dist.destroy_process_group()


def test_two_processes_train_the_model_one_process_trains(tmp_path: Path) -> None:
    # Guards: each process training on the whole batch, gradients not averaged (the copies drift apart), the
    # shares of a batch overlapping or missing rows, or every process writing checkpoints.
    single, double = tmp_path / "single", tmp_path / "double"
    single.mkdir(), double.mkdir()
    _train(SINGLE, single)
    mp.spawn(_worker, args=(free_port(), double), nprocs=2, join=True)
    one = torch.load(single / "rank0.pt")
    ranks = [torch.load(double / f"rank{rank}.pt") for rank in (0, 1)]
    for name, value in one["weights"].items():
        assert torch.equal(ranks[0]["weights"][name], ranks[1]["weights"][name]), name  # in step
        assert torch.allclose(ranks[0]["weights"][name], value, atol=1e-5), name  # the same training
    assert one["calls"] == ranks[0]["calls"] == [1, 2] and ranks[1]["calls"] == []  # rank 0 only


def test_a_batch_is_split_without_overlap_and_a_tiny_one_goes_whole() -> None:
    # Guards: shares that overlap or drop rows, and an empty share (a NaN loss) for a batch of one.
    batch = (torch.arange(10), torch.arange(10) * 2, True)
    shares = [Processes(rank, 3).shard(batch) for rank in range(3)]
    assert torch.cat([share[0] for share in shares]).tolist() == list(range(10))
    assert all(share[2] is True and torch.equal(share[1], share[0] * 2) for share in shares)
    assert Processes(1, 3).shard((torch.arange(2), False))[0].tolist() == [0, 1]
    assert SINGLE.shard(batch) == batch


def test_the_training_device_is_a_gpu_only_when_torch_sees_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # Guards: auto picking a GPU that is not there, cuda falling back to the CPU in silence, and two processes
    # sharing one GPU or asking for one that does not exist.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert training_device("auto") == training_device("cpu") == CPU
    with pytest.raises(ConfigError, match="distributed.device is 'cuda', but torch sees no CUDA GPU"):
        training_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert training_device("auto", 1) == torch.device("cuda", 1)
    assert training_device("cpu", 1) == CPU
    with pytest.raises(ConfigError, match="process 2 needs GPU 2, but torch sees 2"):
        training_device("cuda", 2)
    assert Processes(device=torch.device("cuda", 0)).backend == "nccl" and SINGLE.backend == "gloo"


def test_a_share_lands_on_the_process_device() -> None:
    # Guards: batches left on the CPU while the model sits on another device ("meta" stands in for a GPU here).
    meta = Processes(0, 2, torch.device("meta"))
    share = meta.shard((torch.arange(4), torch.ones(4, 2), 7))
    assert [part.device.type for part in share[:2]] == ["meta", "meta"] and share[0].shape == (2,)
    assert share[2] == 7
