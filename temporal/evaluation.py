"""R@n,IoU@m for moment retrieval, with greedy temporal NMS over the valid cells of the 2D map.

For each sentence: candidates are the valid cells with their final test scores, cell (i, j) being the
moment ``[i, j + 1] * duration / N``; greedy NMS (``stvg.ops.nms_1d``: suppress IoU > NMS_THRESH)
ranks them; R@n,IoU@m is the share of sentences with at least one of the top-n kept moments at
temporal IoU ``>= m`` with the ground truth. Thresholds and n come from the config
(``TEST.IOU_THRESHOLDS``, ``TEST.RECALL_AT``), never from the dataset's name.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import torch

from stvg.ops import nms_1d, segment_iou_aligned

from .maps import cell_moments

__all__ = ["rank_moments", "MomentEvaluator", "metric_key"]


def metric_key(n: int, m: float) -> str:
    """``"R@1,IoU@0.5"``."""
    return f"R@{n},IoU@{m:g}"


def rank_moments(scores: torch.Tensor, mask: torch.Tensor, duration: float, nms_thresh: float,
                 top_k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top moments of one sentence after greedy NMS.

    Args:
        scores: ``Tensor[N, N]`` final scores; mask: ``BoolTensor[N, N]`` valid cells.
    Returns:
        ``(moments DoubleTensor[K, 2] seconds, scores FloatTensor[K])``, best first, K <= top_k.

    NMS runs on the cells in clip units (``[i, j + 1]``, exact small integers; IoU does not depend
    on the time scale), so ties such as IoU = 0.5 exactly are decided exactly, not by float32
    rounding of ``i * duration / N``. Equal to ``nms_1d`` over all valid cells with ``top_k``: greedy NMS decides the first kept
    moments from a prefix of the score order, so it runs on a growing prefix (64, 128, ... cells) and
    stops as soon as ``top_k`` survive.
    """
    n = scores.shape[-1]
    cand = cell_moments(n, n, device=scores.device)[mask].double()  # clip units
    cand_scores = scores[mask].float()
    order = torch.sort(cand_scores, descending=True, stable=True).indices
    total = order.numel()
    size = min(total, max(64, 8 * top_k))
    while True:
        idx = order[:size]
        keep = nms_1d(cand[idx], cand_scores[idx], nms_thresh, top_k=top_k)
        if keep.numel() >= top_k or size >= total:
            sel = idx[keep]
            return cand[sel] * (float(duration) / n), cand_scores[sel]
        size = min(total, size * 4)


class MomentEvaluator:
    """Accumulates sentences and reports ``{"R@n,IoU@m": fraction}``.

    ``process(scores[S, N, N], durations[S], gt_segments[S, 2])`` per batch, ``evaluate()`` at the end.
    """

    def __init__(self, mask: torch.Tensor, iou_thresholds: Sequence[float], recall_at: Sequence[int],
                 nms_thresh: float) -> None:
        self.mask = mask.bool()
        self.thresholds = [float(m) for m in iou_thresholds]
        self.recall_at = sorted(int(n) for n in recall_at)
        if not self.thresholds or not self.recall_at or self.recall_at[0] < 1:
            raise ValueError(f"need IoU thresholds and recall ranks >= 1, got {iou_thresholds}, {recall_at}")
        self.nms_thresh = float(nms_thresh)
        self.reset()

    def reset(self) -> None:
        self._best_iou_at: List[torch.Tensor] = []  # per sentence: max IoU within the top-n, per n

    def process(self, scores: torch.Tensor, durations: torch.Tensor, gt_segments: torch.Tensor) -> None:
        mask = self.mask.to(scores.device)
        top = self.recall_at[-1]
        for s in range(scores.shape[0]):
            moments, _ = rank_moments(scores[s], mask, float(durations[s]), self.nms_thresh, top)
            gt = gt_segments[s].to(moments).expand_as(moments)
            iou = segment_iou_aligned(moments, gt).cpu()
            best = torch.zeros(len(self.recall_at))
            for r, n in enumerate(self.recall_at):
                if iou.numel():
                    best[r] = iou[:n].max()
            self._best_iou_at.append(best)

    @property
    def num_sentences(self) -> int:
        return len(self._best_iou_at)

    def evaluate(self) -> Dict[str, float]:
        if not self._best_iou_at:
            raise ValueError("no sentence was evaluated")
        best = torch.stack(self._best_iou_at)  # [S, len(recall_at)]
        return {metric_key(n, m): float((best[:, r] >= m).double().mean())
                for r, n in enumerate(self.recall_at) for m in self.thresholds}
