"""Tube-conditioned MMN (MMN's HC-STVG entry): every candidate tube gets its own 2D moment map.

The network is :class:`temporal.model.MMN` unchanged, run with *tubes as videos*: each tube's feature
sequence ``Tensor[NUM_PRE_CLIPS, D]`` (its RoI features, ``f[vid]["roi_features"]``) makes one map,
and each sentence is scored against every tube of its own video. A candidate answer is a
(tube, cell) pair; cell ``(i, j)`` of a tube means its sub-tube of :func:`temporal.st_iou.cell_sub_tube`.

Loss (:class:`TubeMMNLoss`), from the pieces of :mod:`temporal.losses`:

* ``loss_iou``: :func:`scaled_iou_bce` over every (sentence, tube of its video) pair, toward the
  st-IoU targets of :func:`temporal.st_iou_map` scaled as MMN does (MIN_IOU, MAX_IOU).
* ``loss_vid``, ``loss_sent``: :func:`mutual_matching_loss` with tubes as videos. A sentence's
  positive tube is the one holding its highest-target cell (first tube on ties); its positives are
  that tube's ``NUM_POSITIVE`` best cells. Sentence->video negatives: that tube's cells with st-IoU
  < NEGATIVE_VIDEO_IOU (the others add exp(0) each by default, as in MMN) and every cell of every
  other tube in the batch, those of the sentence's own video included. Video->sentence: each
  positive against all sentences of the batch; same-tube sentences whose ground-truth spans overlap
  with IoU >= SENT_REMOVAL_IOU are removed. The released entry (atao99/MMN-STVG ``loss.py``) does the
  same with two differences, not reproduced: its sentence->video denominator also holds the positive
  tube's best cells again (``iou_max_mask``, with the margin), so the positive counts twice (MMN's own
  loss does not do this); and it leaves out the tube at the positive's index *within its video*
  counted from the start of the batch, so for every video but the first it leaves out some other
  tube and keeps all cells of the positive tube (the positive cell included) as negatives.
* total ``loss_iou + W * (loss_vid + loss_sent)``, W scaled by 0.01 after FULL_CONTRASTIVE_EPOCHS (``MMNLoss``).

Test score of a pair's cell: MMN's ``((con * 0.5 + 0.5) ** CONTRASTIVE_SCORE_POW) * iou``; cells whose
sub-tube is empty (tubes shorter than N boxes) are never chosen. (The released entry ranks by
``iou * con``.)

Cells and frames: a tube's feature sequence covers the tube's own span (its RoI features pooled over
its frames), and its map's cell grid covers that span: cell ``(i, j)`` of a tube with ``T`` boxes is
its sub-tube of boxes ``round(i / N * T)`` to ``round((j + 1) / N * T)`` (exclusive), the definition
of :func:`temporal.st_iou_map`. The answer to a sentence is the :class:`TubePrediction` ``(tube,
(i, j))`` turned into :func:`temporal.st_iou.cell_sub_tube` of that tube: first frame
``tube.frames[round(i / N * T)]``, last frame ``tube.frames[round((j + 1) / N * T) - 1]``, the tube's
boxes in between. Training and testing: ``MODEL.MODE tube`` in the temporal tools (docs/tube_mmn.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence

import torch
from torch import nn

from .losses import MMNLoss, mutual_matching_loss, scaled_iou_bce
from .model import MMN, MMNOutput, own_video_cosine
from .st_iou import cell_box_bounds

__all__ = ["TubeMMN", "TubeMMNOutput", "TubeMMNLoss", "TubePrediction", "nonempty_cells"]


@dataclass
class TubeMMNOutput:
    """Outputs of :meth:`TubeMMN.forward` (B tubes, S sentences, Q pairs, C = JOINT_DIM, N = NUM_CLIPS).

    pairs: :class:`MMNOutput` with pairs as its sentences and tubes as its videos: ``map_con``,
        ``map_iou`` ``Tensor[B, C, N, N]``; ``sent_con``, ``sent_iou`` ``Tensor[Q, C]`` (each pair's
        sentence); ``iou_scores``, ``con_scores`` ``Tensor[Q, N, N]``; ``sent_video`` = ``pair_tube``.
    sent_con: ``Tensor[S, C]`` L2-normalised contrastive sentence embeddings.
    pair_sent, pair_tube: ``LongTensor[Q]``: every tube of each sentence's video, grouped by sentence,
        tubes in increasing index.
    """

    pairs: MMNOutput
    sent_con: torch.Tensor
    pair_sent: torch.Tensor
    pair_tube: torch.Tensor


@dataclass
class TubePrediction:
    """Best (tube, cell) per sentence: ``tube LongTensor[S]`` (batch tube index), ``cell LongTensor[S, 2]``
    (i, j), ``score Tensor[S]``."""

    tube: torch.Tensor
    cell: torch.Tensor
    score: torch.Tensor


def nonempty_cells(tube_lengths: Sequence[int], num_clips: int, device=None) -> torch.Tensor:
    """``BoolTensor[B, N, N]``: cells ``i <= j`` whose sub-tube has at least one box."""
    out = []
    for t in [int(x) for x in tube_lengths]:
        b = cell_box_bounds(t, num_clips, device)
        out.append((b[None, 1:] > b[:-1, None]).triu())
    return torch.stack(out) if out else torch.zeros(0, num_clips, num_clips, dtype=torch.bool, device=device)


class TubeMMN(nn.Module):
    """MMN over per-tube feature sequences; ``mmn`` is the :class:`MMN` of ``model_cfg``."""

    def __init__(self, model_cfg, text_backbone: nn.Module = None):
        super().__init__()
        self.mmn = MMN(model_cfg, text_backbone)
        self.num_clips = self.mmn.num_clips

    def forward(self, tube_feats: torch.Tensor, tube_video: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor, sent_video: torch.Tensor) -> TubeMMNOutput:
        """Args:
            tube_feats: ``Tensor[B, NUM_PRE_CLIPS, FEAT_DIM]`` per-tube features of the whole batch.
            tube_video: ``LongTensor[B]`` video of each tube; sent_video: ``LongTensor[S]`` video of each
                sentence (any labels; a sentence is paired with the tubes of the same label).
            input_ids, attention_mask: ``LongTensor[S, L]``.
        Returns: :class:`TubeMMNOutput`.
        """
        if tube_video.shape != (tube_feats.shape[0],):
            raise ValueError(f"tube_video must be [B={tube_feats.shape[0]}], got {tuple(tube_video.shape)}")
        same = sent_video.to(tube_video.device)[:, None] == tube_video[None, :]        # [S, B]
        alone = ~same.any(dim=1)
        if alone.any():
            s = int(alone.nonzero()[0])
            raise ValueError(f"sentence {s} (video {int(sent_video[s])}) has no tube in the batch")
        pair_sent, pair_tube = same.nonzero(as_tuple=True)
        first_tube = same.int().argmax(dim=1)                 # any tube of the video: MMN scores it, unused
        out = self.mmn(tube_feats, input_ids, attention_mask, first_tube)
        mask = out.mask
        sent_iou, sent_con = out.sent_iou[pair_sent], out.sent_con[pair_sent]
        iou_scores = torch.sigmoid(self.mmn.iou_scale * own_video_cosine(sent_iou, out.map_iou, pair_tube)) * mask
        con_scores = own_video_cosine(sent_con, out.map_con, pair_tube) * mask
        pairs = MMNOutput(out.map_con, out.map_iou, sent_con, sent_iou, iou_scores, con_scores, mask, pair_tube)
        return TubeMMNOutput(pairs, out.sent_con, pair_sent, pair_tube)

    def test_scores(self, out: TubeMMNOutput, tube_lengths: Sequence[int]) -> torch.Tensor:
        """``Tensor[Q, N, N]``: MMN's fused score of each pair's cells; -inf where the cell is outside
        the mask or its sub-tube is empty (``tube_lengths``: boxes of each batch tube)."""
        scores = self.mmn.test_scores(out.pairs)
        ok = nonempty_cells(tube_lengths, self.num_clips, scores.device)[out.pair_tube] & out.pairs.mask
        return scores.masked_fill(~ok, float("-inf"))

    def predict(self, out: TubeMMNOutput, tube_lengths: Sequence[int]) -> TubePrediction:
        """The best (tube, cell) of every sentence over all tubes of its video."""
        scores = self.test_scores(out, tube_lengths)
        q, n = scores.shape[0], self.num_clips
        best, cell = scores.flatten(1).max(dim=1)                                       # [Q]
        num_sent = out.sent_con.shape[0]
        table = best.new_full((num_sent, q), float("-inf"))
        table[out.pair_sent, torch.arange(q, device=best.device)] = best
        pick = table.argmax(dim=1)                                                      # [S]
        c = cell[pick]
        return TubePrediction(out.pair_tube[pick], torch.stack([c // n, c % n], dim=1), best[pick])


class TubeMMNLoss:
    """``TubeMMNLoss(cfg.LOSS, mask)(out, targets, gt_segments, epoch) -> dict`` (see the module doc).

    Args of the call:
        out: :class:`TubeMMNOutput`.
        targets: ``Tensor[Q, N, N]`` st-IoU of each pair's cells with its sentence's ground-truth tube
            (:func:`temporal.st_iou_map`), aligned with ``out.pair_sent`` / ``out.pair_tube``.
        gt_segments: ``Tensor[S, 2]`` ground-truth (start, end) of each sentence, any unit (only their
            mutual IoU matters: same-tube sentence removal).
        epoch: 1-based epoch.
    Returns:
        ``{"loss", "loss_iou", "loss_vid", "loss_sent", "positive_tube"}``; the last is ``LongTensor[S]``.
    """

    def __init__(self, loss_cfg, mask: torch.Tensor):
        self.base = MMNLoss(loss_cfg, mask)  # validates the config; its contrastive_factor is used
        self.cfg = loss_cfg

    def positive_tube(self, out: TubeMMNOutput, targets: torch.Tensor) -> torch.Tensor:
        """``LongTensor[S]``: index into the pairs of each sentence's best pair (highest target cell;
        the first such pair, i.e. the lowest tube index, on ties)."""
        mask = out.pairs.mask
        per_pair = targets[:, mask].float().amax(dim=1)                                   # [Q]
        q = per_pair.shape[0]
        table = per_pair.new_full((out.sent_con.shape[0], q), float("-inf"))
        table[out.pair_sent, torch.arange(q, device=per_pair.device)] = per_pair
        return table.argmax(dim=1)

    def __call__(self, out: TubeMMNOutput, targets: torch.Tensor, gt_segments: torch.Tensor,
                 epoch: int) -> Dict[str, torch.Tensor]:
        c, p = self.cfg, out.pairs
        s, q = out.sent_con.shape[0], p.iou_scores.shape[0]
        for name, t, shape in (("targets", targets, (q,) + tuple(p.mask.shape)), ("gt_segments", gt_segments, (s, 2))):
            if tuple(t.shape) != shape:
                raise ValueError(f"{name} must have shape {shape}, got {tuple(t.shape)}")
        mask = p.mask
        targets = targets.to(p.iou_scores.device)
        best = self.positive_tube(out, targets)                                          # [S] pair index
        with torch.autocast(device_type=p.iou_scores.device.type, enabled=False):
            loss_iou = scaled_iou_bce(p.iou_scores, targets, mask, float(c.MIN_IOU), float(c.MAX_IOU))
            loss_vid, loss_sent = mutual_matching_loss(
                p.map_con, out.sent_con, targets[best], out.pair_tube[best], gt_segments, mask,
                num_positive=int(c.NUM_POSITIVE), margin=float(c.MARGIN), tau_video=float(c.TAU_VIDEO),
                tau_sent=float(c.TAU_SENT), negative_video_iou=float(c.NEGATIVE_VIDEO_IOU),
                sent_removal_iou=float(c.SENT_REMOVAL_IOU),
                excluded_cells_in_denominator=bool(c.EXCLUDED_CELLS_IN_DENOMINATOR))
            loss = loss_iou + self.base.contrastive_factor(epoch) * (loss_vid + loss_sent)
        return {"loss": loss, "loss_iou": loss_iou, "loss_vid": loss_vid, "loss_sent": loss_sent,
                "positive_tube": out.pair_tube[best]}
