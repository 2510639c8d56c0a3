"""The one device check of the project: every tool and stage resolves ``--device`` / ``DEVICE`` here."""
from __future__ import annotations

from typing import Union

import torch

__all__ = ["DeviceError", "resolve_device"]


class DeviceError(ValueError):
    """An unknown or unavailable device (tools exit 2 with this message)."""


def resolve_device(spec: Union[None, str, torch.device] = "auto", local_rank: int = 0) -> torch.device:
    """``None``, ``""`` or ``"auto"`` -> ``cuda:local_rank`` when CUDA is available, else ``cpu``;
    ``"cuda"`` -> ``cuda:local_rank``; ``"cpu"``, ``"cuda:1"``, a ``torch.device`` -> as given.

    Raises :class:`DeviceError` for a string torch does not know and for CUDA when no GPU is
    available (or the index is out of range), with one message naming the value."""
    if isinstance(spec, torch.device):
        dev = spec
    elif spec in (None, "", "auto"):
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    else:
        try:
            dev = torch.device(str(spec))
        except (RuntimeError, TypeError, ValueError):
            raise DeviceError(f"unknown device {spec!r}: use auto, cpu, cuda or cuda:N") from None
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {spec!r} is not supported here: use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {spec!r} asked for, but CUDA is not available on this machine "
                              f"(use --device cpu or auto)")
        if dev.index is None:
            dev = torch.device(f"cuda:{local_rank}")
        if dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return dev
