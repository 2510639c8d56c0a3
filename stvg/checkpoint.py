"""The one strict checkpoint loader, and the checkpoint file layout every stage writes.

    data = read_checkpoint("best.pth")                 # dict, loaded with torch.load(weights_only=True)
    report = load_state_dict(model, data["model"], source="best.pth")   # raises on any mismatch

A checkpoint file is a dict ``{"model": state_dict, "config": resolved config dict, "version":
project version, ...}``: the config lets a later tool rebuild the model from the file alone.
Files are always read with ``torch.load(weights_only=True)``: a file carrying a pickled object that
would run code is refused (:class:`CheckpointError`), never executed.

Loading is strict: missing keys, unexpected keys and shape mismatches are collected in one
:class:`LoadReport`; any of them raises :class:`CheckpointMismatchError` with the whole report,
unless the caller lists the key prefixes it expects to be absent (``ignore_missing``, e.g. a
classifier head that is dropped) or extra (``ignore_unexpected``). Keys saved from
DistributedDataParallel (``module.`` prefix) are accepted; checkpoint keys that land on a
non-persistent buffer are ignored and reported.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["CheckpointError", "CheckpointMismatchError", "LoadReport", "load_state_dict", "read_checkpoint",
           "state_dict_of", "checkpoint_record", "project_version"]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or is not of the expected layout (names the file)."""


class CheckpointMismatchError(CheckpointError):
    """A state dict that does not fit the model (the message holds the full :class:`LoadReport`)."""


def project_version() -> str:
    from . import __version__

    return __version__


@dataclass
class LoadReport:
    """What a strict load found: ``missing``/``unexpected`` keys, ``mismatched`` (key, checkpoint
    shape, model shape), ``ignored`` (non-persistent buffers and allowed prefixes)."""

    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]] = field(default_factory=list)
    ignored: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self, limit: int = 10, hint: Optional[Callable[[Sequence[str]], str]] = None) -> str:
        """Readable report; ``hint(keys)`` may add which config keys to check."""
        hint = hint or (lambda keys: "")
        lines = []
        for title, items in (("missing", self.missing), ("unexpected", self.unexpected)):
            if items:
                shown = ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
                lines.append(f"{len(items)} {title} key(s): {shown}{hint(items)}")
        for key, got, want in self.mismatched[:limit]:
            lines.append(f"shape mismatch {key}: checkpoint {list(got)} vs model {list(want)}{hint([key])}")
        if len(self.mismatched) > limit:
            lines.append(f"... {len(self.mismatched) - limit} more shape mismatches")
        if self.ignored:
            lines.append(f"{len(self.ignored)} ignored key(s): {', '.join(self.ignored[:limit])}")
        return "\n".join(lines) if lines else "all keys matched"


def _strip_module(state_dict: Mapping[str, Any]) -> Dict[str, Any]:
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def load_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint",
                    ignore_missing: Sequence[str] = (), ignore_unexpected: Sequence[str] = (),
                    strict: bool = True, hint: Optional[Callable[[Sequence[str]], str]] = None) -> LoadReport:
    """Load ``state_dict`` into ``model`` and return the :class:`LoadReport`.

    ``ignore_missing`` / ``ignore_unexpected``: key prefixes allowed to be absent / extra (reported
    as ignored). ``strict`` False loads what fits and only reports (never the default: callers that
    accept a partial load say so). ``hint(keys) -> str`` adds which config keys to check."""
    if not isinstance(state_dict, Mapping) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{source}: expected a state dict (a mapping of names to tensors)")
    state_dict = _strip_module(state_dict)
    own = model.state_dict()
    buffers = {n for n, _ in model.named_buffers()} - set(own)
    report = LoadReport()
    clean: Dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if key in own:
            if tuple(value.shape) != tuple(own[key].shape):
                report.mismatched.append((key, tuple(value.shape), tuple(own[key].shape)))
            else:
                clean[key] = value
        elif key in buffers or any(key.startswith(p) for p in ignore_unexpected):
            report.ignored.append(key)
        else:
            report.unexpected.append(key)
    for key in own:
        if key not in state_dict:
            (report.ignored if any(key.startswith(p) for p in ignore_missing) else report.missing).append(key)
    if strict and not report.ok:
        raise CheckpointMismatchError(f"{source} does not fit the model:\n{report.summary(hint=hint)}")
    model.load_state_dict(clean, strict=False)
    return report


def read_checkpoint(path: str, require: Sequence[str] = ("model",), what: str = "checkpoint") -> Dict[str, Any]:
    """Load a checkpoint dict on CPU with ``weights_only=True``; the keys in ``require`` must be there.

    A bare state dict (a mapping of tensors) is returned as ``{"model": it}``. Raises
    ``FileNotFoundError`` or :class:`CheckpointError`, naming the file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f"{what} {path} is a directory, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - truncated, foreign or code-carrying files: one clear message
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, pickle.UnpicklingError):  # what weights_only=True raises on a foreign object
            first = ("it holds pickled Python objects other than tensors and plain containers, which are "
                     "refused (torch.load weights_only=True): " + first)
        foreign = _not_a_torch_file(path)
        if foreign:  # a text file, an HDF5 file, ...: torch's own error says nothing ("101")
            first = f"not a PyTorch checkpoint file ({foreign})"
        raise CheckpointError(f"{path}: cannot read {what}: {first}") from None
    if isinstance(data, Mapping) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
        data = {"model": dict(data)}
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: not a {what} (expected a dict, got {type(data).__name__})")
    missing = [k for k in require if k not in data]
    if missing:
        raise CheckpointError(f"{path}: not a {what}: missing {', '.join(map(repr, missing))} "
                              f"(has {', '.join(map(repr, list(data)[:8]))})")
    return dict(data)


_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # torch.save's zip format (an empty archive too)


def _not_a_torch_file(path: str) -> Optional[str]:
    """Why ``path`` cannot be a ``torch.save`` file, judged by its first bytes (a zip archive, or a
    pickle for the legacy format), or None when it may be one (cut short, say)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if not head:
        return "the file is empty"
    if any(head.startswith(m[:len(head)]) for m in _ZIP_MAGIC) or (head[0] == 0x80 and (len(head) < 2 or 2 <= head[1] <= 5)):
        return None
    kind = ("an HDF5 file" if head.startswith(b"\x89HDF") else
            "text" if all(32 <= b < 127 or b in b"\t\r\n" for b in head) else "binary data")
    return (f"it holds {kind} starting {head[:12]!r}; a torch.save file is a zip archive or a pickle")


def state_dict_of(data: Mapping[str, Any], path: str, keys: Sequence[str] = ("model", "state_dict")
                  ) -> Dict[str, torch.Tensor]:
    """The state dict inside a loaded file: ``data[k]`` for the first ``k`` of ``keys`` present
    (a bare state dict is itself)."""
    for key in keys:
        if isinstance(data.get(key), Mapping):
            return dict(data[key])
    if data and all(isinstance(v, torch.Tensor) for v in data.values()):
        return dict(data)
    raise CheckpointError(f"{path}: holds no state dict (looked for {', '.join(keys)})")


def checkpoint_record(model: nn.Module, config: Mapping[str, Any], **extra: Any) -> Dict[str, Any]:
    """``{"model": state_dict, "config": config, "version": project version, **extra}``: what every
    stage saves, so a file rebuilds its model alone."""
    return {"model": model.state_dict(), "config": dict(config), "version": project_version(), **extra}
