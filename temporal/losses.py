"""MMN losses: scaled-IoU binary cross-entropy and the mutual matching (contrastive) loss.

Total, for training epoch ``epoch`` (1-based, as in the reference trainer)::

    loss = loss_iou + W * (loss_vid + loss_sent)           if epoch <= FULL_CONTRASTIVE_EPOCHS
    loss = loss_iou + 0.01 * W * (loss_vid + loss_sent)    otherwise

with ``W = LOSS.CONTRASTIVE_WEIGHT``. The returned ``loss_vid`` / ``loss_sent`` are the unweighted terms.

The IoU targets come from the caller (``iou_targets: Tensor[S, N, N]``, raw IoU of each cell with the
sentence's ground truth), so the same model can be trained on other targets (e.g. the
spatio-temporal IoU of tube segments).

Choice kept switchable: ``LOSS.EXCLUDED_CELLS_IN_DENOMINATOR`` (default True) reproduces the reference
code, where the same-video cells excluded from the sentence->video softmax (IoU >= NEGATIVE_VIDEO_IOU)
are multiplied by 0 instead of removed, so each still adds exp(0) = 1 to the denominator; False removes
them, as the paper describes.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

from stvg.ops import segment_iou

from .model import MMNOutput

__all__ = ["MMNLoss", "scaled_iou_bce", "mutual_matching_loss"]

_EPS_SENT = 1e-6  # added to the sentence->video denominator, as in the reference


def scaled_iou_bce(iou_scores: torch.Tensor, iou_targets: torch.Tensor, mask: torch.Tensor,
                   min_iou: float, max_iou: float) -> torch.Tensor:
    """Mean BCE over valid cells between ``iou_scores`` (``[S, N, N]``, in [0, 1]) and
    ``clamp((iou_targets - min_iou) / (max_iou - min_iou), 0, 1)``."""
    scores = iou_scores[:, mask].float()
    target = ((iou_targets[:, mask].float() - min_iou) / (max_iou - min_iou)).clamp(0, 1)
    return F.binary_cross_entropy(scores, target)


def mutual_matching_loss(map_con: torch.Tensor, sent_con: torch.Tensor, iou_targets: torch.Tensor,
                         sent_video: torch.Tensor, gt_segments: torch.Tensor, mask: torch.Tensor, *,
                         num_positive: int, margin: float, tau_video: float, tau_sent: float,
                         negative_video_iou: float, sent_removal_iou: float,
                         excluded_cells_in_denominator: bool = True):
    """Video->sentence and sentence->video InfoNCE losses over the whole batch.

    Args:
        map_con: ``Tensor[B, C, N, N]`` L2-normalised contrastive video maps.
        sent_con: ``Tensor[S, C]`` L2-normalised contrastive sentence embeddings.
        iou_targets: ``Tensor[S, N, N]`` IoU of each cell with the sentence's ground truth.
        sent_video: ``LongTensor[S]`` video index of each sentence.
        gt_segments: ``Tensor[S, 2]`` ground-truth (start, end) of each sentence (any time unit);
            used to remove same-video sentences overlapping the anchor (IoU >= sent_removal_iou).
        mask: ``BoolTensor[N, N]`` valid cells.
    Returns:
        ``(loss_vid, loss_sent)`` scalars.

    Positives: the ``num_positive`` cells of highest target IoU for each sentence; their cosine has
    ``margin`` subtracted. Video->sentence (temperature tau_video): for each positive cell, a softmax
    over all sentences of the batch, the anchor's own entry also having the margin subtracted, with the
    anchor's same-video sentences of GT IoU >= sent_removal_iou removed. Sentence->video (tau_sent):
    denominator = the positive + same-video cells with IoU < negative_video_iou (the others add
    exp(0) = 1 each when ``excluded_cells_in_denominator``, else nothing) + every valid cell of every
    other video; 1e-6 is added to it as in the reference.
    """
    b = map_con.shape[0]
    s = sent_con.shape[0]
    feat1d = map_con[:, :, mask].float()                        # [B, C, M]
    sent = sent_con.float()                                     # [S, C]
    iou1d = iou_targets[:, mask].float()                        # [S, M]
    k = int(num_positive)
    if k > iou1d.shape[1]:
        raise ValueError(f"NUM_POSITIVE {k} exceeds the {iou1d.shape[1]} valid cells")
    topk = iou1d.topk(k, dim=1).indices                         # [S, K]
    cells = feat1d.transpose(1, 2)                              # [B, M, C]
    pos_feat = cells[sent_video[:, None], topk]                 # [S, K, C]
    pos = (pos_feat * sent[:, None, :]).sum(-1) - margin        # [S, K]

    # video -> sentence
    same_video = sent_video[:, None] == sent_video[None, :]     # [S, S]
    gt = gt_segments.to(sent.device).double()
    # union rounded as len_a + len_b - inter, as the reference MMN's sentence removal does
    overlap = segment_iou(gt, gt, union="sum") >= sent_removal_iou
    keep = ~(same_video & overlap) | torch.eye(s, dtype=torch.bool, device=sent.device)
    vid_logits = pos_feat @ sent.t()                            # [S, K, S]
    vid_logits = vid_logits - margin * torch.eye(s, device=sent.device)[:, None, :]
    vid_logits = (vid_logits / tau_video).masked_fill(~keep[:, None, :], float("-inf"))
    loss_vid = -(pos / tau_video - torch.logsumexp(vid_logits, dim=2)).mean()

    # sentence -> video
    sims = torch.einsum("sc,bcm->sbm", sent, feat1d)            # [S, B, M]
    own = sims[torch.arange(s, device=sent.device), sent_video]  # [S, M]
    negative_cell = iou1d < negative_video_iou
    if excluded_cells_in_denominator:
        own_logits = torch.where(negative_cell, own, torch.zeros_like(own)) / tau_sent
    else:
        own_logits = (own / tau_sent).masked_fill(~negative_cell, float("-inf"))
    other = ~(sent_video[:, None] == torch.arange(b, device=sent.device)[None, :])   # [S, B]
    other_logits = (sims / tau_sent).masked_fill(~other[:, :, None], float("-inf")).flatten(1)  # [S, B*M]
    rest = torch.logsumexp(torch.cat([own_logits, other_logits], dim=1), dim=1)      # [S]
    denom = torch.logaddexp(pos / tau_sent, rest[:, None])                           # [S, K]
    denom = torch.logaddexp(denom, torch.full_like(denom, math.log(_EPS_SENT)))
    loss_sent = -(pos / tau_sent - denom).mean()
    return loss_vid, loss_sent


class MMNLoss:
    """``MMNLoss(cfg.LOSS, mask)(out, iou_targets, sent_video, epoch, gt_segments) -> dict``.

    Args of the call:
        out: :class:`MMNOutput` of the model.
        iou_targets: ``Tensor[S, N, N]`` raw IoU of each cell with each sentence's ground truth.
        sent_video: ``LongTensor[S]`` video index of each sentence.
        epoch: current epoch, 1-based (epochs > FULL_CONTRASTIVE_EPOCHS scale the contrastive term by 0.01).
        gt_segments: ``Tensor[S, 2]`` ground-truth (start, end) of each sentence, in seconds
            (only their mutual IoU matters: same-video sentence removal).
    Returns:
        ``{"loss": total, "loss_iou": ..., "loss_vid": ..., "loss_sent": ...}`` (scalar tensors;
        loss_vid / loss_sent unweighted). Computed in float32 even under autocast.
    """

    def __init__(self, loss_cfg, mask: torch.Tensor):
        self.cfg = loss_cfg
        self.mask = mask.bool()
        if not loss_cfg.MAX_IOU > loss_cfg.MIN_IOU:
            raise ValueError(f"LOSS.MAX_IOU ({loss_cfg.MAX_IOU}) must be > LOSS.MIN_IOU ({loss_cfg.MIN_IOU})")

    def contrastive_factor(self, epoch: int) -> float:
        """Weight of ``loss_vid + loss_sent`` in the total at ``epoch``."""
        w = float(self.cfg.CONTRASTIVE_WEIGHT)
        return w if epoch <= int(self.cfg.FULL_CONTRASTIVE_EPOCHS) else 0.01 * w

    def __call__(self, out: MMNOutput, iou_targets: torch.Tensor, sent_video: torch.Tensor, epoch: int,
                 gt_segments: torch.Tensor) -> Dict[str, torch.Tensor]:
        c = self.cfg
        s = out.sent_con.shape[0]
        for name, t, shape in (("iou_targets", iou_targets, (s,) + tuple(self.mask.shape)),
                               ("sent_video", sent_video, (s,)), ("gt_segments", gt_segments, (s, 2))):
            if tuple(t.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        mask = self.mask.to(out.iou_scores.device)
        device_type = out.iou_scores.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            loss_iou = scaled_iou_bce(out.iou_scores, iou_targets, mask, float(c.MIN_IOU), float(c.MAX_IOU))
            loss_vid, loss_sent = mutual_matching_loss(
                out.map_con, out.sent_con, iou_targets, sent_video, gt_segments, mask,
                num_positive=int(c.NUM_POSITIVE), margin=float(c.MARGIN), tau_video=float(c.TAU_VIDEO),
                tau_sent=float(c.TAU_SENT), negative_video_iou=float(c.NEGATIVE_VIDEO_IOU),
                sent_removal_iou=float(c.SENT_REMOVAL_IOU),
                excluded_cells_in_denominator=bool(c.EXCLUDED_CELLS_IN_DENOMINATOR))
            loss = loss_iou + self.contrastive_factor(epoch) * (loss_vid + loss_sent)
        return {"loss": loss, "loss_iou": loss_iou, "loss_vid": loss_vid, "loss_sent": loss_sent}
