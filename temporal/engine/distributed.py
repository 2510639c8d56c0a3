"""Process-group context for torchrun (DistributedDataParallel); single-process runs never touch
``torch.distributed``.

A run is distributed when torchrun set ``WORLD_SIZE`` > 1. Backend: nccl when the run's device is
CUDA, gloo on CPU. Device: ``DEVICE`` "auto" = ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["DistContext", "resolve_device", "init_distributed"]


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:local_rank`` if available else ``cpu``; anything else is taken as is."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    dev = torch.device(spec)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"DEVICE {spec!r} asked for, but CUDA is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


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


def setup_cli_logging() -> bool:
    """Logging for the temporal tools: INFO on rank 0 (the only process under torchrun that
    reports progress), WARNING elsewhere; tokenizers stay single-threaded in forked loader
    workers. Returns whether this process is rank 0."""
    import logging

    rank0 = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if rank0 else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return rank0
