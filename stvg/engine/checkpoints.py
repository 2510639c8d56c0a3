"""``last.pth`` / ``best.pth`` of a training run: atomic, exact resume, configs checked.

``last.pth`` (after every epoch) holds everything a resume needs: ``model``, ``config`` (resolved,
as a dict), ``version``, ``epoch`` (completed), ``optimizer``, ``scheduler``, ``scaler``, ``rng``
(:func:`stvg.engine.seed.capture_rng`), ``best``, ``history``. ``best.pth`` holds the model only:
``model``, ``config``, ``version``, ``epoch``, ``metrics`` (no optimizer state: it is what a later
tool loads to test or to assemble a model file). Both load with ``weights_only=True``.

Kills: every file is written atomically, and ``last.pth`` last of all after an epoch (``best.pth``
and ``history.json`` first), so a run killed at any moment leaves the ``last.pth`` of an epoch
whose other files are on disk too, and ``--resume`` redoes whatever came after it (or, killed
before the first ``last.pth``, starts from epoch 1: :meth:`RunCheckpoints.start`). One run at a
time: :func:`run_lock`, held by both trainers' ``train()`` on rank 0 (a second run on the same
folder raises :class:`RunLockedError`; the tools exit 2).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional

from ..checkpoint import CheckpointError, read_checkpoint
from ..config import config_diff
from ..io import atomic_torch_save, temporary_target

__all__ = ["CheckpointConfigError", "RunCheckpoints", "RunLockedError", "run_lock"]


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
        self._resumed: Optional[Dict[str, Any]] = None  # last.pth read by start()

    def check_fresh(self) -> None:
        if os.path.exists(self.last):
            raise FileExistsError(f"{self.out_dir} already holds a run (last.pth): pass --resume to continue "
                                  f"it, or choose another OUTPUT_DIR")

    def start(self, resume: bool, config: Mapping) -> bool:
        """Whether the run resumes; checked before anything is written. Without ``resume``:
        :meth:`check_fresh`, False. With it, ``last.pth`` is read now (:meth:`load_last`; one that
        does not load, or whose config differs, is an error naming it) and kept for
        :meth:`take_resumed`. With no ``last.pth`` yet (a run killed before its first checkpoint):
        False, logging ``no checkpoint in D yet: starting from epoch 1``, but only when the folder
        holds no other checkpoint state: an epoch-1 ``history.json`` / ``best.pth`` (written before
        ``last.pth``) may be there, a later epoch's may not (``last.pth`` was removed:
        ``CheckpointError``)."""
        self._resumed = None
        if not resume:
            self.check_fresh()
            return False
        if os.path.lexists(self.last):
            self._resumed = self.load_last(config)
            return True
        self._check_no_later_state()
        logging.getLogger(__name__).info("no checkpoint in %s yet: starting from epoch 1", self.out_dir)
        return False

    def take_resumed(self) -> Optional[Dict[str, Any]]:
        """The ``last.pth`` that :meth:`start` read (None when not resuming), handed over once (this
        object keeps no reference to it)."""
        state, self._resumed = self._resumed, None
        return state

    def _check_no_later_state(self) -> None:
        from ..io import read_json

        history = os.path.join(self.out_dir, "history.json")
        epochs = []
        if os.path.lexists(history):
            records = read_json(history, "training history")
            if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
                raise CheckpointError(f"{history}: not a training history (a list of epoch records)")
            epochs = [r.get("epoch") for r in records]
        later = [e for e in epochs if e != 1]
        if later or len(epochs) > 1 or (os.path.lexists(self.best) and not epochs):
            what = f"{history} records epochs {epochs}" if epochs else f"{self.best} is there"
            raise CheckpointError(f"cannot resume: {self.last} is missing, but {what}: the run got past its "
                                  f"first checkpoint and last.pth was removed; restore it, or start afresh "
                                  f"in another OUTPUT_DIR")

    def save(self, state: Dict[str, Any], improved: bool, metrics: Mapping[str, float]) -> None:
        """Write, when ``improved``, ``best.pth`` (model only), then ``last.pth`` (the full ``state``):
        killed in between, the run resumes from the epoch before and writes both again."""
        if improved:
            atomic_torch_save({"model": state["model"], "config": state["config"], "version": state["version"],
                               "epoch": state["epoch"], "metrics": dict(metrics)}, self.best)
        atomic_torch_save(state, self.last)

    def load_last(self, config: Mapping) -> Dict[str, Any]:
        """``last.pth`` for ``--resume``; every config key outside ``resume_free`` must match."""
        ckpt = read_checkpoint(self.last, require=("model", "config", "epoch", "optimizer", "rng"),
                               what="training checkpoint")
        diffs = config_diff(ckpt["config"], config, ignore=self.resume_free, leaves=self.leaves)
        if diffs:
            raise CheckpointConfigError(f"cannot resume from {self.last}: its config differs:\n  " + "\n  ".join(diffs))
        return ckpt


class RunLockedError(OSError):
    """Another process is training in the same output folder."""


_RUN_FILES = ("last.pth", "best.pth", "history.json", "config.yaml")  # whose cut temporaries run_lock removes


@contextlib.contextmanager
def run_lock(out_dir: str) -> Iterator[None]:
    """Hold ``<out_dir>.lock`` while one training run uses ``out_dir``; raise :class:`RunLockedError`
    (an ``OSError``: the tools exit 2) when another process holds it. The lock
    (:func:`stvg.store.exclusive_lock`) is this process's own, not its data-loader workers', and the
    kernel releases it when the process dies; the file is removed on exit. Once it is held, the
    temporaries of writes cut by a killed run (``.last.pth.<random>.tmp``, ...) are removed. A parent
    folder made for the lock is removed again when the run left nothing in it."""
    from ..store import exclusive_lock

    out_dir = os.path.abspath(out_dir)
    parent, made = os.path.dirname(out_dir), []
    while not os.path.isdir(parent) and parent not in made:
        made.insert(0, parent)
        parent = os.path.dirname(parent)
    for folder in made:
        os.makedirs(folder, exist_ok=True)
    try:
        with exclusive_lock(out_dir + ".lock", wait=False, inherited=False):
            if os.path.isdir(out_dir):
                for e in os.scandir(out_dir):
                    if temporary_target(e.name) in _RUN_FILES:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(e.path)
            yield
    except BlockingIOError:
        raise RunLockedError(f"{out_dir} is in use by another training run (it holds {out_dir}.lock); wait "
                             f"for it to end, or choose another OUTPUT_DIR") from None
    finally:
        for folder in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty
