"""Data-parallel training over several processes with torch's DistributedDataParallel, started by torchrun.

Every process builds the same model from the same seed and walks the same batches; each takes its share
of every batch (so the global batch is the configured ``batch_size`` whatever the number of processes),
DDP averages the gradients, and all processes stay in step. Only the first process (rank 0) logs and
writes checkpoints. Each process computes on the device ``distributed.device`` names: its own GPU
(``cuda:<local rank>``, the processes talking over nccl) or the CPU (over gloo).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from seqlab.config import ConfigError

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (rank 0 of 1 when not distributed) and the device it
    computes on."""

    rank: int = 0
    world: int = 1
    device: torch.device = CPU

    @property
    def main(self) -> bool:
        """The process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def backend(self) -> str:
        """The collective-communication library between the processes: nccl between GPUs, gloo on the CPU."""
        return "nccl" if self.device.type == "cuda" else "gloo"

    def shard(self, batch: Sequence[Any]) -> tuple[Any, ...]:
        """This process's share of a batch, on its device: every tensor split along its first (batch) axis,
        other items kept. A batch smaller than the number of processes goes whole to each (their averaged
        gradient is its own)."""
        parts = tuple(batch)
        if self.distributed:
            items = next(len(part) for part in parts if isinstance(part, torch.Tensor))
            if items >= self.world:
                parts = tuple(torch.tensor_split(part, self.world)[self.rank] if isinstance(part, torch.Tensor)
                              else part for part in parts)
        return tuple(part.to(self.device, non_blocking=True) if isinstance(part, torch.Tensor) else part
                     for part in parts)

    def any(self, flag: bool) -> bool:
        """True on every process when ``flag`` is true on any (so all stop together)."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=self.device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a scalar over the processes (a NaN on one is a NaN on all)."""
        if not self.distributed:
            return value.detach()
        total = value.detach().clone()
        dist.all_reduce(total)
        return total / self.world

    def from_main(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process (a decision all must share)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


SINGLE = Processes()
"""Training in this one process."""


class LossModule(nn.Module):
    """A model and its loss as one module, the one DDP wraps: every parameter the loss reaches (a condition's
    learnt state, say, which is not in the model's forward) is used inside the wrapped forward."""

    def __init__(self, model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Any) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def training_step(model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                  processes: Processes) -> nn.Module:
    """What computes a batch's loss: the loss module itself, or under several processes its DDP wrapper."""
    step = LossModule(model, loss_fn)
    if processes.distributed:
        on_gpu = processes.device.type == "cuda"
        return nn.parallel.DistributedDataParallel(step, device_ids=[processes.device] if on_gpu else None)
    return step


def training_device(choice: str, local_rank: int = 0) -> torch.device:
    """The device a training process computes on: ``cpu``; ``cuda``, the GPU numbered ``local_rank`` (a
    ConfigError when torch sees no such GPU); or ``auto``, that GPU when torch sees one and the CPU otherwise."""
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return CPU
    if not torch.cuda.is_available():
        raise ConfigError("distributed.device is 'cuda', but torch sees no CUDA GPU (a CPU build of torch, or no "
                          "driver): set it to auto or cpu in params.yaml")
    if local_rank >= torch.cuda.device_count():
        raise ConfigError(f"training process {local_rank} needs GPU {local_rank}, but torch sees "
                          f"{torch.cuda.device_count()}: start at most that many processes (distributed.processes)")
    return torch.device("cuda", local_rank)


def describe(device: torch.device) -> str:
    """A device as a person reads it: ``cpu``, or ``cuda:0 (NVIDIA H200)``."""
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


def join(device: str = "cpu") -> Processes:
    """This process's place and device (``device`` as in :func:`training_device`). Started by torchrun
    (WORLD_SIZE > 1) it joins the process group, over nccl between GPUs (one per process) or gloo on the CPU,
    where this machine's cores are split among the processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    place = training_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if place.type == "cuda":
        torch.cuda.set_device(place)
        torch.backends.cuda.matmul.fp32_precision = "tf32"  # TF32 products on GPUs that have them (CUDA only)
    if world == 1:
        return Processes(device=place)
    processes = Processes(int(os.environ["RANK"]), world, place)
    dist.init_process_group(processes.backend)
    if place.type == "cpu":
        local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    if processes.rank != 0:  # one process tells the story
        logging.getLogger("seqlab").setLevel(logging.WARNING)
    return processes


def leave() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_initialized():
        dist.destroy_process_group()


def under_torchrun() -> bool:
    """Whether torchrun (or another launcher that sets them) started this process."""
    return "LOCAL_RANK" in os.environ


def relaunch(script: Path, arguments: list[str], processes: int) -> int:
    """Run ``script`` again under ``torchrun --standalone --nproc_per_node processes`` and wait: its exit code."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               str(script), *arguments]
    return subprocess.run(command, check=False).returncode
