"""Training checkpoints: atomic save, config compatibility checks, RNG state capture/restore.

A checkpoint is a torch file ``{"model": state_dict, "config": resolved config dict, "epoch": k
(completed), "optimizer", "scheduler", "scaler", "rng", "best", "history"}``; files converted from
the reference implementation hold only ``model`` and ``config``, and load the same way for testing.
"""
from __future__ import annotations

import random
from typing import Any, Dict, Iterable, List, Mapping

import numpy as np
import torch

from stvg.io import atomic_torch_save

__all__ = ["CheckpointConfigError", "ARCH_KEYS", "check_model_config", "check_resume_config",
           "capture_rng", "restore_rng", "save_checkpoint", "read_checkpoint"]

# MODEL keys that change the parameters' shapes or meaning.
ARCH_KEYS = ("FEAT_DIM", "NUM_PRE_CLIPS", "NUM_CLIPS", "HIDDEN", "JOINT_DIM", "POOL_KERNEL",
             "POOLING_COUNTS", "CONV_KERNEL", "CONV_LAYERS", "TEXT_CONFIG_OVERRIDES")
# Keys that may change between an interrupted run and its --resume (they do not change the epochs
# already run; a larger SOLVER.EPOCHS extends a finished run).
RESUME_FREE = ("OUTPUT_DIR", "SOLVER.NUM_WORKERS", "SOLVER.EPOCHS", "DEVICE", "DATASET.SKIP_MISSING", "TEST.BATCH_SIZE",
               "DATASET.TRAIN_ANN", "DATASET.VAL_ANN", "DATASET.TEST_ANN", "DATASET.FEATURES",
               "MODEL.TEXT_ENCODER", "MODEL.TOKENIZER")


class CheckpointConfigError(ValueError):
    """A checkpoint was written under a config that does not match the current one."""


def _flatten(d: Mapping, prefix: str = "") -> Dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and k != "TEXT_CONFIG_OVERRIDES":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _norm(x) for k, x in v.items()}
    return v


def _diff(saved: Mapping, current: Mapping, keys: Iterable[str]) -> List[str]:
    a, b = _flatten(saved), _flatten(current)
    return [f"{k}: checkpoint {a.get(k, '<absent>')!r}, config {b.get(k, '<absent>')!r}"
            for k in keys if _norm(a.get(k)) != _norm(b.get(k))]


def check_model_config(ckpt: Mapping, cfg, source: str) -> None:
    """Raise :class:`CheckpointConfigError` naming every architecture key (``MODEL.*``) that differs."""
    saved = ckpt.get("config")
    if not isinstance(saved, Mapping) or "MODEL" not in saved:
        return  # no config stored: the strict state_dict load is the only check
    diffs = _diff(saved, cfg.to_dict(), [f"MODEL.{k}" for k in ARCH_KEYS])
    if diffs:
        raise CheckpointConfigError(f"{source} was trained with another model config:\n  "
                                    + "\n  ".join(diffs))


def check_resume_config(ckpt: Mapping, cfg, source: str) -> None:
    """--resume must continue the same run: every key but paths and worker counts must match."""
    saved = ckpt.get("config")
    if not isinstance(saved, Mapping):
        raise CheckpointConfigError(f"{source} holds no config: not a training checkpoint")
    keys = sorted(set(_flatten(saved)) | set(_flatten(cfg.to_dict())))
    diffs = _diff(saved, cfg.to_dict(), [k for k in keys if k not in RESUME_FREE])
    if diffs:
        raise CheckpointConfigError(f"cannot resume from {source}: its config differs:\n  "
                                    + "\n  ".join(diffs))


def capture_rng() -> Dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    atomic_torch_save(state, path)


def read_checkpoint(path: str) -> Dict[str, Any]:
    """Load a checkpoint on CPU; raises ``FileNotFoundError``/``ValueError`` naming the file."""
    import os

    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path}: cannot read checkpoint ({e})") from None
    if not isinstance(data, Mapping) or "model" not in data:
        raise ValueError(f"{path}: not a temporal checkpoint (expected a dict with a 'model' state_dict)")
    return dict(data)
