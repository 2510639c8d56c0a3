"""Process-group context for torchrun (DistributedDataParallel); single-process runs never touch
``torch.distributed``.

A run is distributed when torchrun set ``WORLD_SIZE`` > 1. Backend: nccl when the run's device is
CUDA, gloo on CPU. Device: :func:`stvg.engine.device.resolve_device` with ``LOCAL_RANK``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .device import resolve_device

__all__ = ["DistContext", "init_distributed"]


@dataclass
class DistContext:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def close(self) -> None:
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def init_distributed(device_spec: str = "auto") -> DistContext:
    """Read torchrun's environment; initialise the process group only when WORLD_SIZE > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_spec, local_rank)
    ctx = DistContext(world, rank, local_rank, device)
    if ctx.distributed:
        import torch.distributed as dist

        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ctx
