"""The matcher's loss: mutual matching of sentences and tubes (MMN's two directions) plus the IoU head.

For a batch of ``Q`` sentences and ``T`` tubes (all tubes of the batch's videos, flattened), with
``v = vIoU[q, t]`` the vIoU of tube t with sentence q's ground-truth tube restricted to the
ground-truth span (own-video pairs only; :func:`spatial.matcher.data.span_viou`):

* **positive** pairs: own video and ``v > POS_VIOU``; **own-video negatives**: ``v < NEG_VIOU``
  (pairs in between are neither);
* **sentence -> tubes** (``TAU_SENT``): for each positive (q, p),
  ``-log softmax`` of ``(cos(q, p) - MARGIN)`` against the own-video negative tubes of q and, with
  ``CROSS_VIDEO``, every tube of the other videos (q's other positives are left out);
* **tube -> sentences** (``TAU_TUBE``): for each positive (q, p), ``-log softmax`` of
  ``(cos(q, p) - MARGIN)`` against the sentences q' of the same video with ``vIoU[q', p] < NEG_VIOU``
  and, with ``CROSS_VIDEO``, every sentence of the other videos;
* two batch items of one video (a training file with several queries per video) are neither
  positives nor negatives of each other (``same_source``): their tubes are the same people;
* each direction is averaged over a sentence's positives, then over the sentences that have one;
* **IoU head**: binary cross-entropy of ``sigmoid(IOU_SCALE * cos_iou)`` against
  ``clamp((v - MIN_IOU) / (MAX_IOU - MIN_IOU), 0, 1)`` over all own-video pairs.

``loss = W_SENT * loss_sent + W_TUBE * loss_tube + W_IOU * loss_iou``. A sentence whose video has no
positive tube has no term of its own in either direction, yet still trains the model: its video's
tubes are negatives of the other sentences, it is a negative sentence of the other videos'
positive tubes, and its own tubes get IoU-head targets. ``num_with_positive / num_sentences`` is
the share of sentences the candidate tubes can answer at all (the stage's ceiling).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch
import torch.nn.functional as F

__all__ = ["MatcherLoss", "mutual_matching_terms"]


def _per_sentence_mean(pair_loss: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Mean over each sentence's positives, then over the sentences with one (0 when none has)."""
    count = pos.sum(1)
    has = count > 0
    if not bool(has.any()):
        return pair_loss.sum() * 0.0
    per = torch.where(pos, pair_loss, torch.zeros_like(pair_loss)).sum(1)[has] / count[has]
    return per.mean()


def mutual_matching_terms(cos: torch.Tensor, viou: torch.Tensor, sent_video: torch.Tensor,
                          tube_video: torch.Tensor, *, pos_viou: float, neg_viou: float, margin: float,
                          tau_sent: float, tau_tube: float, cross_video: bool = True,
                          same_source: Optional[torch.Tensor] = None):
    """``(loss_sent, loss_tube, pos BoolTensor[Q, T])`` from ``cos Tensor[Q, T]`` (con cosines),
    ``viou Tensor[Q, T]`` (read on own-video pairs only), ``sent_video LongTensor[Q]``,
    ``tube_video LongTensor[T]``; ``same_source BoolTensor[Q, T]`` marks pairs of two batch items of
    one video (two queries of it), left out of the cross-video negatives (see the module docstring)."""
    own = sent_video[:, None] == tube_video[None, :]
    pos = own & (viou > pos_viou)
    neg_own = own & (viou < neg_viou)
    other = ~own if cross_video else torch.zeros_like(own)
    if same_source is not None:
        other = other & ~same_source
    anchor = cos - margin                                                       # [Q, T]
    big_neg = torch.finfo(cos.dtype).min

    # sentence -> tubes: the same denominator for all positives of q, plus the positive itself
    s_neg = (cos / tau_sent).masked_fill(~(neg_own | other), big_neg)           # [Q, T]
    s_rest = torch.logsumexp(s_neg, dim=1, keepdim=True)                        # [Q, 1]
    s_rest = torch.where((neg_own | other).any(1, keepdim=True), s_rest, torch.full_like(s_rest, big_neg))
    loss_s = torch.logaddexp(anchor / tau_sent, s_rest) - anchor / tau_sent     # [Q, T]

    # tube -> sentences: for tube t, the negative sentences q' (own video with low vIoU, or other videos)
    t_neg_mask = neg_own | other                                                # [Q', T]
    t_neg = (cos / tau_tube).masked_fill(~t_neg_mask, big_neg)
    t_rest = torch.logsumexp(t_neg, dim=0, keepdim=True)                        # [1, T]
    t_rest = torch.where(t_neg_mask.any(0, keepdim=True), t_rest, torch.full_like(t_rest, big_neg))
    loss_t = torch.logaddexp(anchor / tau_tube, t_rest) - anchor / tau_tube     # [Q, T]
    return _per_sentence_mean(loss_s, pos), _per_sentence_mean(loss_t, pos), pos


class MatcherLoss:
    """``MatcherLoss(cfg.LOSS, iou_scale)(sent, tubes, viou, sent_video, tube_video) -> dict``.

    Args of the call:
        sent: ``Tensor[Q, J]`` normalised sentence embeddings (con | iou: :meth:`TubeMatcher.embed_text`).
        tubes: ``Tensor[T, J]`` normalised tube embeddings, same layout.
        viou: ``Tensor[Q, T]`` span-restricted vIoU of each own-video tube with each sentence's ground truth.
        sent_video, tube_video: ``LongTensor[Q]``, ``LongTensor[T]`` video index in the batch.
    Returns:
        ``{"loss", "loss_sent", "loss_tube", "loss_iou"}`` scalar tensors (the terms unweighted, 0 when
        absent) and ``num_sentences`` / ``num_with_positive`` (ints). Computed in float32 under autocast.
    """

    def __init__(self, loss_cfg, joint_dim: int, iou_scale: Optional[float] = None):
        self.cfg = loss_cfg
        self.joint_dim = int(joint_dim)
        self.iou_scale = iou_scale  # None: the model has no IoU head

    def __call__(self, sent: torch.Tensor, tubes: torch.Tensor, viou: torch.Tensor, sent_video: torch.Tensor,
                 tube_video: torch.Tensor, same_source: Optional[torch.Tensor] = None) -> Dict[str, object]:
        c, j = self.cfg, self.joint_dim
        q, t = sent.shape[0], tubes.shape[0]
        for name, x, shape in (("viou", viou, (q, t)), ("sent_video", sent_video, (q,)),
                               ("tube_video", tube_video, (t,))):
            if tuple(x.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(x.shape)}")
        with torch.autocast(device_type=sent.device.type, enabled=False):
            sent, tubes, viou = sent.float(), tubes.float(), viou.float()
            cos = sent[:, :j] @ tubes[:, :j].t()
            loss_s, loss_t, pos = mutual_matching_terms(
                cos, viou, sent_video, tube_video, pos_viou=float(c.POS_VIOU), neg_viou=float(c.NEG_VIOU),
                margin=float(c.MARGIN), tau_sent=float(c.TAU_SENT), tau_tube=float(c.TAU_TUBE),
                cross_video=bool(c.CROSS_VIDEO), same_source=same_source)
            if self.iou_scale is not None:
                own = sent_video[:, None] == tube_video[None, :]
                logits = self.iou_scale * (sent[:, j:] @ tubes[:, j:].t())
                target = ((viou - float(c.MIN_IOU)) / (float(c.MAX_IOU) - float(c.MIN_IOU))).clamp(0, 1)
                loss_iou = F.binary_cross_entropy_with_logits(logits[own], target[own]) if bool(own.any()) \
                    else logits.sum() * 0.0
            else:
                loss_iou = cos.sum() * 0.0
            loss = float(c.W_SENT) * loss_s + float(c.W_TUBE) * loss_t + float(c.W_IOU) * loss_iou
        return {"loss": loss, "loss_sent": loss_s, "loss_tube": loss_t, "loss_iou": loss_iou,
                "num_sentences": q, "num_with_positive": int(pos.any(1).sum())}
