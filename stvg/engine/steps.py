"""The pieces of a training loop both stages share: resume, DDP wrapping, one optimiser step."""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Iterable, List, Mapping, Tuple

import torch

from .seed import restore_rng

__all__ = ["resume_state", "wrap_ddp", "optimizer_step", "loss_values", "finish_epoch"]


def resume_state(ckpt: Mapping[str, Any], load_model: Callable[[Mapping], Any], optimizer, scheduler,
                 scaler) -> Tuple[int, List[Dict[str, Any]], Dict[str, Any]]:
    """Restore a ``last.pth`` (:class:`stvg.engine.RunCheckpoints`): model (through ``load_model``),
    optimiser, scheduler, AMP scaler (when it was saved with AMP and AMP is on), RNG states.
    Returns ``(first epoch to run, history, best)``."""
    load_model(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("scaler") and scaler.is_enabled():  # empty when saved without AMP (e.g. on CPU)
        scaler.load_state_dict(ckpt["scaler"])
    restore_rng(ckpt["rng"])
    return int(ckpt["epoch"]) + 1, list(ckpt["history"]), dict(ckpt["best"])


def wrap_ddp(model: torch.nn.Module, ctx, find_unused_parameters: bool) -> torch.nn.Module:
    """``model`` itself in a single process, else DistributedDataParallel on the context's device."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    dev = ctx.device
    return DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None,
               find_unused_parameters=find_unused_parameters)


def optimizer_step(loss: torch.Tensor, optimizer, scaler, parameters: Iterable[torch.nn.Parameter],
                   clip_grad: float) -> None:
    """zero_grad, (scaled) backward, gradient-norm clipping at ``clip_grad`` (> 0), step, scaler update."""
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if clip_grad > 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(parameters, clip_grad)
    scaler.step(optimizer)
    scaler.update()


def loss_values(losses: Mapping[str, Any], epoch: int) -> Dict[str, float]:
    """The losses as floats; a non-finite total is a ``FloatingPointError`` naming the epoch."""
    vals = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in losses.items()}
    if not math.isfinite(vals["loss"]):
        raise FloatingPointError(f"epoch {epoch}: loss is {vals['loss']} ({vals}); check the features "
                                 f"and the learning rate")
    return vals


def finish_epoch(ckpts, history: List[Dict[str, Any]], record: Dict[str, Any], metrics: Mapping[str, float],
                 score: float, best: Dict[str, Any], model_state: Mapping, config: Mapping, optimizer, scheduler,
                 scaler) -> Tuple[Dict[str, Any], bool]:
    """After an epoch (rank 0): append ``record`` to ``history``, update ``best`` when ``score`` beats
    it, write ``history.json``, then ``best.pth`` when improved and ``last.pth`` through ``ckpts``
    (``last.pth`` last: a kill before it leaves the epoch to redo). Returns ``(best, improved)``."""
    import os

    from ..checkpoint import project_version
    from ..io import atomic_write_json
    from .seed import capture_rng

    history.append(record)
    improved = score > best["score"]
    if improved:
        best = {"epoch": record["epoch"], "score": score, "metrics": dict(metrics)}
    state = {"model": model_state, "config": dict(config), "version": project_version(), "epoch": record["epoch"],
             "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
             "rng": capture_rng(), "best": best, "history": history}
    atomic_write_json(os.path.join(ckpts.out_dir, "history.json"), history, indent=1)
    ckpts.save(state, improved, metrics)
    return best, improved
