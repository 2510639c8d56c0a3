"""MMN training: AdamW with a text-encoder LR group, MultiStepLR per epoch, gradient clipping, text
encoder frozen for epochs <= FREEZE_TEXT_EPOCHS, AMP on CUDA, evaluation and an atomic checkpoint after every
epoch, exact ``--resume``, DistributedDataParallel under torchrun. One run per ``OUTPUT_DIR``:
rank 0 holds ``OUTPUT_DIR.lock`` (:func:`stvg.engine.checkpoints.run_lock`) while :func:`train` runs.

Outputs in ``OUTPUT_DIR``: ``config.yaml`` (resolved config), ``last.pth`` (after every epoch),
``best.pth`` (model only, best :func:`selection_score`), ``history.json`` (losses, LRs and
metrics per epoch), ``train.log``; see :class:`stvg.engine.RunCheckpoints` for what each holds.

Resume: ``last.pth`` holds model, optimizer, scheduler, AMP scaler, the RNG states (python, numpy,
torch, CUDA) and the epoch; the shuffling order depends only on (SOLVER.SEED, epoch). Training
resumes at the next epoch, and on CPU with a fixed seed ends with the same weights as an
uninterrupted run; with no ``last.pth`` yet (killed before the first checkpoint) it starts from
epoch 1 (:meth:`stvg.engine.RunCheckpoints.start`). Device, torchrun, seeding, checkpoints and
logging come from :mod:`stvg.engine`.

``MODEL.MODE tube`` (tube-conditioned MMN) changes only what :mod:`.build` builds, the loss
(:class:`temporal.tube_mmn.TubeMMNLoss` on the st-IoU targets of every (sentence, tube) pair),
the metrics (:func:`temporal.engine.run_inference`) and the best-checkpoint rule (m_vIoU); the
loop, resume and DDP are the same.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, Dict, Tuple

import torch

from stvg.engine import (DistContext, RunCheckpoints, finish_epoch, init_distributed, loss_values,
                         optimizer_step, progress_bar, resume_state, run_folder, seed_everything,
                         wrap_ddp)
from stvg.engine.checkpoints import run_lock

from ..losses import MMNLoss
from ..tube_mmn import TubeMMNLoss
from .build import (Model, build_dataset, build_model, build_optimizer, build_scheduler, build_test_loader,
                    build_train_loader, is_tube_mode, mmn_of, text_backbone_params)
from .checkpoint import LEAVES, RESUME_FREE
from .inference import run_inference

__all__ = ["train", "selection_score"]

log = logging.getLogger(__name__)

def selection_score(metrics: Dict[str, float], mode: str = "moment") -> float:
    """The quantity ``best.pth`` maximises: the mean of all R@n,IoU@m values (``mode`` "moment"), or
    m_vIoU ("tube")."""
    if not metrics:
        return -math.inf
    if mode == "tube":
        return float(metrics["m_vIoU"])
    return float(sum(metrics.values()) / len(metrics))


def _forward(net, batch, tube: bool):
    """The model's outputs on one batch (run under autocast)."""
    if tube:
        out = net(batch.tube_feats, batch.tube_video, batch.input_ids, batch.attention_mask, batch.sent_video)
        if not (torch.equal(out.pair_sent, batch.pair_sent) and torch.equal(out.pair_tube, batch.pair_tube)):
            raise RuntimeError("the model's (sentence, tube) pairs are not in the order of the batch's targets")
        return out
    return net(batch.feats, batch.input_ids, batch.attention_mask, batch.sent_video)


def _losses(out, batch, loss_fn, epoch: int, tube: bool) -> Dict[str, torch.Tensor]:
    """The 0-dim loss terms (``loss``, ``loss_iou``, ...) of one batch (outside autocast)."""
    if tube:
        losses = loss_fn(out, batch.iou_targets, batch.gt_segments, epoch)
        return {k: v for k, v in losses.items() if k.startswith("loss")}
    return loss_fn(out, batch.iou_targets, batch.sent_video, epoch, batch.gt_segments)


def train(cfg, resume: bool = False, progress: bool = True, return_model: bool = False):
    """Train MMN as configured by ``cfg`` (a frozen temporal config). Returns a summary dict
    ``{"output_dir", "epochs", "last_metrics", "best_metrics", "best_epoch"}``, and with
    ``return_model`` the pair ``(summary, trained model)`` (in every process under torchrun)."""
    out_dir = cfg.OUTPUT_DIR
    ckpts = RunCheckpoints(out_dir, RESUME_FREE, LEAVES)
    ctx = init_distributed(cfg.DEVICE)  # the device first: a bad one is refused before anything else
    try:
        # one run per folder: a second one raises RunLockedError (rank 0 holds OUTPUT_DIR.lock)
        with run_lock(out_dir) if ctx.is_main else contextlib.nullcontext():
            resume = ckpts.start(resume, cfg.to_dict())  # last.pth read (or refused) before any write
            # local inputs first (annotations, features): when they fail, nothing is written and no
            # text encoder is loaded
            train_set = build_dataset(cfg, "train")
            val_set = build_dataset(cfg, "val") if ctx.is_main and (cfg.DATASET.VAL_ANN or cfg.DATASET.TEST_ANN) \
                else None
            with run_folder(cfg, out_dir, ctx.is_main):
                summary, model = _train(cfg, ctx, ckpts, resume, progress and ctx.is_main, train_set, val_set)
        return (summary, model) if return_model else summary
    finally:
        ctx.close()


def _train(cfg, ctx: DistContext, ckpts: RunCheckpoints, resume: bool, progress: bool, train_set,
           val_set) -> Tuple[Dict[str, Any], Model]:
    s = cfg.SOLVER
    device = ctx.device
    seed_everything(int(s.SEED))
    model, tokenizer = build_model(cfg)
    model.to(device)
    pin = device.type == "cuda"
    loader, sampler = build_train_loader(cfg, train_set, tokenizer, ctx.world_size, ctx.rank, pin)
    eval_loader = None
    if val_set is not None:
        eval_loader = build_test_loader(cfg, val_set, tokenizer, pin)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    amp = bool(s.AMP) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    tube = is_tube_mode(cfg)
    mask = mmn_of(model).mask
    loss_fn = TubeMMNLoss(cfg.LOSS, mask) if tube else MMNLoss(cfg.LOSS, mask)
    text_params = text_backbone_params(model)
    epochs = int(s.EPOCHS)

    start, history, best = 1, [], {"epoch": 0, "score": -math.inf, "metrics": {}}
    if resume:
        start, history, best = resume_state(ckpts.take_resumed(), model.load_state_dict, optimizer, scheduler,
                                            scaler)
        log.info("resuming %s after epoch %d", ckpts.last, start - 1)

    # built while every parameter requires grad, so the text encoder stays in DDP's reducer; frozen
    # epochs then leave it out of the graph (find_unused_parameters)
    net = wrap_ddp(model, ctx, find_unused_parameters=True)

    bar = progress_bar(max(0, epochs - start + 1) * len(loader), enabled=progress)
    for epoch in range(start, epochs + 1):
        sampler.set_epoch(epoch)
        frozen = epoch <= int(s.FREEZE_TEXT_EPOCHS)
        for p in text_params:
            p.requires_grad_(not frozen)
        net.train()
        bar.set_description(f"epoch {epoch}/{epochs}")
        sums: Dict[str, float] = {}
        steps, t0 = 0, time.time()
        lrs = [g["lr"] for g in optimizer.param_groups]
        for batch in loader:
            batch = batch.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, enabled=amp):
                out = _forward(net, batch, tube)
            losses = _losses(out, batch, loss_fn, epoch, tube)
            optimizer_step(losses["loss"], optimizer, scaler, model.parameters(), float(s.CLIP_GRAD))
            vals = loss_values(losses, epoch)
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{vals['loss']:.4f}", iou=f"{vals['loss_iou']:.4f}")
        scheduler.step()
        record: Dict[str, Any] = {"epoch": epoch, "lr": lrs, "text_frozen": frozen,
                                  "seconds": round(time.time() - t0, 3),
                                  **{k: v / max(steps, 1) for k, v in sums.items()}}
        if ctx.is_main:
            if eval_loader is not None:
                metrics, _ = run_inference(model, eval_loader, cfg, device, progress=progress, amp=amp)
                record["metrics"] = metrics
            else:
                metrics = {}
            score = selection_score(metrics, cfg.MODEL.MODE) if metrics else float(epoch)
            best, improved = finish_epoch(ckpts, history, record, metrics, score, best, model.state_dict(),
                                          cfg.to_dict(), optimizer, scheduler, scaler)
            msg = " ".join(f"{k}={v:.4f}" for k, v in record.items() if k.startswith("loss"))
            if metrics:
                msg += " | " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            log.info("epoch %d/%d %s (%.1f s)%s", epoch, epochs, msg, record["seconds"],
                     " [best]" if improved else "")
        ctx.barrier()
    bar.close()
    summary = {"output_dir": cfg.OUTPUT_DIR, "epochs": epochs,
               "last_metrics": history[-1].get("metrics", {}) if history else {},
               "best_metrics": best["metrics"], "best_epoch": best["epoch"]}
    return summary, model
