"""``last.pth`` / ``best.pth`` of a training run: atomic, exact resume, configs checked.

``last.pth`` (after every epoch) holds everything a resume needs: ``model``, ``config`` (resolved,
as a dict), ``version``, ``epoch`` (completed), ``optimizer``, ``scheduler``, ``scaler``, ``rng``
(:func:`stvg.engine.seed.capture_rng`), ``best``, ``history``. ``best.pth`` holds the model only:
``model``, ``config``, ``version``, ``epoch``, ``metrics`` (no optimizer state: it is what a later
tool loads to test or to assemble a model file). Both load with ``weights_only=True``.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Mapping

from ..checkpoint import CheckpointError, read_checkpoint
from ..config import config_diff
from ..io import atomic_torch_save

__all__ = ["CheckpointConfigError", "RunCheckpoints"]


class CheckpointConfigError(CheckpointError):
    """A checkpoint was written under a config that does not match the current one."""


class RunCheckpoints:
    """The checkpoints of one run in ``out_dir``. ``resume_free``: config keys that may change
    between an interrupted run and its resume (paths, worker counts, a longer schedule)."""

    def __init__(self, out_dir: str, resume_free: Iterable[str] = (), leaves: Iterable[str] = ()) -> None:
        self.out_dir = out_dir
        self.last = os.path.join(out_dir, "last.pth")
        self.best = os.path.join(out_dir, "best.pth")
        self.resume_free, self.leaves = tuple(resume_free), tuple(leaves)

    def check_fresh(self) -> None:
        if os.path.exists(self.last):
            raise FileExistsError(f"{self.out_dir} already holds a run (last.pth): pass --resume to continue "
                                  f"it, or choose another OUTPUT_DIR")

    def save(self, state: Dict[str, Any], improved: bool, metrics: Mapping[str, float]) -> None:
        """Write ``last.pth`` (the full ``state``) and, when ``improved``, ``best.pth`` (model only)."""
        atomic_torch_save(state, self.last)
        if improved:
            atomic_torch_save({"model": state["model"], "config": state["config"], "version": state["version"],
                               "epoch": state["epoch"], "metrics": dict(metrics)}, self.best)

    def load_last(self, config: Mapping) -> Dict[str, Any]:
        """``last.pth`` for ``--resume``; every config key outside ``resume_free`` must match."""
        ckpt = read_checkpoint(self.last, require=("model", "config", "epoch", "optimizer", "rng"),
                               what="training checkpoint")
        diffs = config_diff(ckpt["config"], config, ignore=self.resume_free, leaves=self.leaves)
        if diffs:
            raise CheckpointConfigError(f"cannot resume from {self.last}: its config differs:\n  " + "\n  ".join(diffs))
        return ckpt
