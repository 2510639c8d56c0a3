"""Matcher training: AdamW (text-encoder group at LR x TEXT_LR_FACTOR when fine-tuned), MultiStepLR per
epoch, gradient clipping, AMP on CUDA, evaluation and atomic last/best checkpoints after every epoch,
exact ``--resume`` (from epoch 1 when no ``last.pth`` was written yet), DistributedDataParallel under
torchrun (each rank takes its share of every epoch's videos; negatives come from the rank's own
batch). One run per ``OUTPUT_DIR``: rank 0 holds ``OUTPUT_DIR.lock`` while training.

Outputs in ``OUTPUT_DIR``: ``config.yaml`` (resolved), ``last.pth``, ``best.pth`` (best
``(top1_acc + mean_viou) / 2`` on DATASET.VAL_ANN, or the last epoch without one), ``history.json``,
``train.log``. Checkpoints hold :meth:`TubeMatcher.saved_state_dict` (no text-encoder weights when it
is frozen and pretrained). The share of training sentences with a positive tube (the ceiling) is
logged and stored in the history.

Frozen encoder: every sentence's encoder mean is computed once before the first epoch and cached;
only the heads train. Shuffling and the "mixed" and "proposals" window draws (one generator per
epoch, seeded from SOLVER.SEED and the epoch) depend only on (SOLVER.SEED, epoch);
dropout uses the global torch generator, saved in ``last.pth``: on CPU a resumed run ends with the
same weights as an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from stvg.checkpoint import load_state_dict
from stvg.engine import (DistContext, RunCheckpoints, finish_epoch, init_distributed, loss_values,
                         optimizer_step, progress_bar, resume_state, run_folder, seed_everything,
                         wrap_ddp)
from stvg.engine.checkpoints import run_lock

from .data import MatcherVideo, collate, load_matcher_split
from .evaluate import evaluate_spans, evaluate_videos
from .loss import MatcherLoss
from .model import TubeMatcher, build_matcher
from .span import pad_tokens, segment_frames, segment_lengths, segment_targets, span_loss

__all__ = ["train", "train_videos", "RESUME_FREE", "selection_score", "pooled_text_cache", "epoch_batches"]

log = logging.getLogger(__name__)

RESUME_FREE = ("OUTPUT_DIR", "SOLVER.EPOCHS", "DEVICE", "DATASET.TRAIN_ANN", "DATASET.VAL_ANN", "DATASET.TEST_ANN",
               "DATASET.TUBES", "DATASET.FEATURES", "DATASET.SKIP_MISSING", "TEST.BATCH_SIZE",
               "MODEL.TEXT_ENCODER", "MODEL.TOKENIZER", "CLIP.MODEL", "CLIP.BATCH_SIZE")
LEAVES = ("TEXT_CONFIG_OVERRIDES",)


def selection_score(metrics: Dict[str, float]) -> float:
    """``(top1_acc + mean_viou) / 2``: what ``best.pth`` maximises; with a span head
    (``span_m_viou`` in the metrics) the mean of that and ``span_m_viou``."""
    if not metrics:
        return -math.inf
    score = (float(metrics["top1_acc"]) + float(metrics["mean_viou"])) / 2
    return (score + float(metrics["span_m_viou"])) / 2 if "span_m_viou" in metrics else score


def span_inputs(videos: Sequence[MatcherVideo], iou: float) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """Per video ``(target Tensor[N, S], length Tensor[N, S])`` of the span head
    (:func:`spatial.matcher.span.segment_targets` with ``LOSS.SPAN_IOU``, frames per segment)."""
    out = []
    for v in videos:
        length = segment_lengths(segment_frames(v.layout))
        out.append((torch.from_numpy(segment_targets(v.tubes, v.layout, v.gt, iou)), length))
    return out


@torch.no_grad()
def pooled_text_cache(model: TubeMatcher, sentences: Sequence[str], batch_size: int = 64) -> Dict[str, torch.Tensor]:
    """``{sentence: Tensor[hidden]}`` encoder means (CPU) of a frozen encoder, in eval mode."""
    uniq = list(dict.fromkeys(sentences))
    out: Dict[str, torch.Tensor] = {}
    with model.eval_mode():
        for lo in range(0, len(uniq), batch_size):
            chunk = uniq[lo:lo + batch_size]
            ids, mask = model.tokenize(chunk)
            pooled = model.text_encoder.pooled(ids.to(model.device), mask.to(model.device)).float().cpu()
            out.update(zip(chunk, pooled))
    return out


@torch.no_grad()
def token_text_cache(model: TubeMatcher, sentences: Sequence[str], batch_size: int = 64) -> Dict[str, torch.Tensor]:
    """``{sentence: Tensor[L, hidden]}`` token states (CPU, real tokens only) of a frozen encoder, in
    eval mode: the span head's cached input (:func:`spatial.matcher.span.pad_tokens` batches them)."""
    uniq = list(dict.fromkeys(sentences))
    out: Dict[str, torch.Tensor] = {}
    for lo in range(0, len(uniq), batch_size):
        chunk = uniq[lo:lo + batch_size]
        states, mask = model.encode_tokens(chunk)
        for k, sentence in enumerate(chunk):
            out[sentence] = states[k, mask[k]].cpu()
    return out


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, world: int = 1, rank: int = 0) -> List[List[int]]:
    """This rank's batches of dataset indices for ``epoch``: a permutation drawn from (seed, epoch),
    padded by wrapping to a multiple of ``world``, every ``world``-th index from ``rank``."""
    g = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))
    perm = torch.randperm(n, generator=g).tolist()
    if world > 1:
        perm += perm[: (-len(perm)) % world]
        perm = perm[rank::world]
    return [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]


def train(cfg, resume: bool = False, progress: bool = True, return_model: bool = False):
    """Train on ``DATASET.TRAIN_ANN`` (evaluating on ``DATASET.VAL_ANN`` when set). Returns a summary
    ``{"output_dir", "epochs", "ceiling", "last_metrics", "best_metrics", "best_epoch"}`` (and the model).
    The device is checked first, then the folder (:func:`_run`), then the data files are read."""
    def load():
        train_set, report = load_matcher_split(cfg, "train")
        val_set = load_matcher_split(cfg, "val")[0] if cfg.DATASET.VAL_ANN else None
        return train_set, val_set, report.summary()

    return _run(cfg, load, resume, progress, return_model)


def train_videos(cfg, train_set: Sequence[MatcherVideo], val_set: Optional[Sequence[MatcherVideo]] = None,
                 resume: bool = False, progress: bool = True, return_model: bool = False, data_summary: str = ""):
    """:func:`train` on videos already loaded (tests, benchmarks)."""
    return _run(cfg, lambda: (train_set, val_set, data_summary), resume, progress, return_model)


def _run(cfg, load: Callable[[], Tuple[Sequence[MatcherVideo], Optional[Sequence[MatcherVideo]], str]],
         resume: bool, progress: bool, return_model: bool):
    """The device (a bad one refused before anything else), then ``OUTPUT_DIR``: rank 0 holds
    ``OUTPUT_DIR.lock`` (one run per folder, :func:`stvg.engine.checkpoints.run_lock`), a fresh run
    needs a folder without ``last.pth``, ``resume`` without one starts from epoch 1
    (:meth:`stvg.engine.RunCheckpoints.start`); then ``load()`` the data and train."""
    out_dir = cfg.OUTPUT_DIR
    ckpts = RunCheckpoints(out_dir, RESUME_FREE, LEAVES)
    ctx = init_distributed(cfg.DEVICE)
    try:
        with run_lock(out_dir) if ctx.is_main else contextlib.nullcontext():
            resume = ckpts.start(resume, cfg.to_dict())  # last.pth read (or refused) before any write
            train_set, val_set, data_summary = load()
            with run_folder(cfg, out_dir, ctx.is_main):
                if data_summary:
                    log.info("%s", data_summary)
                summary, model = _train(cfg, ctx, ckpts, list(train_set), val_set, resume, progress and ctx.is_main)
        return (summary, model) if return_model else summary
    finally:
        ctx.close()


def _optimizer(cfg, model: TubeMatcher) -> torch.optim.Optimizer:
    s = cfg.SOLVER
    enc = [p for p in model.text_encoder.encoder.parameters() if p.requires_grad]
    enc_ids = {id(p) for p in model.text_encoder.encoder.parameters()}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in enc_ids]
    groups = [{"params": rest, "lr": float(s.LR)}]
    if enc:
        groups.append({"params": enc, "lr": float(s.LR) * float(s.TEXT_LR_FACTOR)})
    return torch.optim.AdamW(groups, lr=float(s.LR), weight_decay=float(s.WEIGHT_DECAY))


def _train(cfg, ctx: DistContext, ckpts: RunCheckpoints, train_set: List[MatcherVideo],
           val_set: Optional[Sequence[MatcherVideo]], resume: bool,
           progress: bool) -> Tuple[Dict[str, Any], TubeMatcher]:
    s = cfg.SOLVER
    device = ctx.device
    seed_everything(int(s.SEED))
    pos_viou = float(cfg.LOSS.POS_VIOU)
    ceiling = sum(v.has_positive(pos_viou) for v in train_set) / max(len(train_set), 1)
    samples = [v for v in train_set if v.num_tubes]
    if not samples:
        raise ValueError("no training video has a tube: build tubes first (tools/build_tubes.py)")
    log.info("training on %d videos (%d without tubes left out); %.1f%% of the %d training sentences have a "
             "positive tube (vIoU > %.2f within the ground-truth span): the ceiling of this stage",
             len(samples), len(train_set) - len(samples), 100 * ceiling, len(train_set), pos_viou)

    model = build_matcher(cfg).to(device)
    ignore = (model.encoder_prefix,) if model.encoder_reloadable else ()
    frozen = bool(cfg.MODEL.FREEZE_TEXT)
    cache = tokens = None
    if frozen:
        sentences = [v.sentence for v in samples] + [v.sentence for v in (val_set or [])]
        cache = pooled_text_cache(model, sentences, int(cfg.TEST.BATCH_SIZE))
        if model.span_head is not None:
            tokens = token_text_cache(model, sentences, int(cfg.TEST.BATCH_SIZE))
    optimizer = _optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(m) for m in s.MILESTONES], float(s.GAMMA))
    amp = bool(s.AMP) and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    loss_fn = MatcherLoss(cfg.LOSS, model.joint_dim, model.iou_scale if model.iou_head else None)
    spans = span_inputs(samples, float(cfg.LOSS.SPAN_IOU)) if model.span_head is not None else None
    epochs = int(s.EPOCHS)

    start, history, best = 1, [], {"epoch": 0, "score": -math.inf, "metrics": {}}
    if resume:
        start, history, best = resume_state(
            ckpts.take_resumed(),
            lambda sd: load_state_dict(model, sd, source=ckpts.last, ignore_missing=ignore), optimizer, scheduler,
            scaler)
        log.info("resuming %s after epoch %d", ckpts.last, start - 1)

    net = wrap_ddp(model, ctx, find_unused_parameters=False)

    bs = int(s.BATCH_SIZE)
    steps_per_epoch = len(epoch_batches(len(samples), bs, int(s.SEED), 1, ctx.world_size, ctx.rank))
    bar = progress_bar(max(0, epochs - start + 1) * steps_per_epoch, enabled=progress)
    for epoch in range(start, epochs + 1):
        net.train()
        bar.set_description(f"epoch {epoch}/{epochs}")
        sums: Dict[str, float] = {}
        steps, t0 = 0, time.time()
        lrs = [g["lr"] for g in optimizer.param_groups]
        wgen = torch.Generator().manual_seed(int(s.SEED) * 7919 + epoch * 31 + ctx.rank)
        for idx in epoch_batches(len(samples), bs, int(s.SEED), epoch, ctx.world_size, ctx.rank):
            batch = collate([samples[i] for i in idx], str(s.TRAIN_WINDOW), wgen, idx, float(s.PROPOSAL_GT_PROB),
                            int(s.PROPOSAL_GRID)).to(device)
            if cache is not None:
                text_kw = {"pooled": torch.stack([cache[x] for x in batch.sentences]).to(device)}
            else:
                ids, mask = model.tokenize(batch.sentences)
                text_kw = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
            if spans is not None:   # every tube of the batch with its own item's sentence
                if tokens is not None:
                    text_kw["tokens"] = tuple(x.to(device) for x in pad_tokens([tokens[x] for x in batch.sentences]))
                text_kw["span_pairs"] = (batch.tube_video, torch.arange(batch.tube_video.shape[0], device=device))
            with torch.autocast(device_type=device.type, enabled=amp):
                out = net(batch.roi, batch.geometry, batch.mask, **text_kw)
            sent, tubes = out[0], out[1]
            losses = loss_fn(sent, tubes, batch.viou, batch.sent_video, batch.tube_video, batch.same_source)
            if spans is not None:
                target = torch.cat([spans[i][0] for i in idx]).to(device)
                length = torch.cat([spans[i][1] for i in idx]).to(device)
                losses["loss_span"] = span_loss(out[2], target, length)
                losses["loss"] = losses["loss"] + float(cfg.LOSS.W_SPAN) * losses["loss_span"]
            optimizer_step(losses["loss"], optimizer, scaler, model.parameters(), float(s.CLIP_GRAD))
            vals = loss_values(losses, epoch)
            for k, v in vals.items():
                sums[k] = sums.get(k, 0.0) + v
            steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{vals['loss']:.4f}")
        scheduler.step()
        n_sent = max(sums.get("num_sentences", 0.0), 1.0)
        record: Dict[str, Any] = {"epoch": epoch, "lr": lrs, "seconds": round(time.time() - t0, 3),
                                  **{k: v / max(steps, 1) for k, v in sums.items() if k.startswith("loss")},
                                  "with_positive": sums.get("num_with_positive", 0.0) / n_sent,
                                  "ceiling": ceiling}
        if ctx.is_main:
            metrics: Dict[str, float] = {}
            if val_set:
                ev = evaluate_videos(model, val_set, str(cfg.TEST.WINDOW), [int(k) for k in cfg.TEST.RECALL_K],
                                     int(cfg.TEST.BATCH_SIZE), cache)
                metrics = ev.evaluate()
                if model.span_head is not None:
                    metrics.update(evaluate_spans(model, val_set, tokens))
                record["metrics"] = metrics
            score = selection_score(metrics) if metrics else float(epoch)
            best, improved = finish_epoch(ckpts, history, record, metrics, score, best, model.saved_state_dict(),
                                          cfg.to_dict(), optimizer, scheduler, scaler)
            msg = " ".join(f"{k}={v:.4f}" for k, v in record.items() if k.startswith("loss"))
            msg += f" with_positive={record['with_positive']:.3f}"
            if metrics:
                msg += " | " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
            log.info("epoch %d/%d %s (%.1f s)%s", epoch, epochs, msg, record["seconds"], " [best]" if improved else "")
        ctx.barrier()
    bar.close()
    summary = {"output_dir": cfg.OUTPUT_DIR, "epochs": epochs, "ceiling": ceiling,
               "last_metrics": history[-1].get("metrics", {}) if history else {},
               "best_metrics": best["metrics"], "best_epoch": best["epoch"]}
    return summary, model
