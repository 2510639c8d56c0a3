"""R@n,IoU@m for moment retrieval, with greedy temporal NMS over the valid cells of the 2D map.

For each sentence: candidates are the valid cells with their final test scores, cell (i, j) being the
moment ``[i, j + 1] * duration / N``; greedy NMS (``stvg.ops.nms_1d``: suppress IoU > NMS_THRESH)
ranks them; R@n,IoU@m is the share of sentences with at least one of the top-n kept moments at
temporal IoU ``>= m`` with the ground truth. Thresholds and n come from the config
(``TEST.IOU_THRESHOLDS``, ``TEST.RECALL_AT``), never from the dataset's name.

Tube mode (:class:`TubeEvaluator`): each sentence's answer is a sub-tube of one candidate tube; the
official HC-STVG metrics of :mod:`stvg.evaluation` (m_vIoU, m_tIoU, vIoU@R with R in
``TEST.IOU_THRESHOLDS``, strict ``>``) score it against the ground-truth tube, plus the oracle: the
best st-IoU target over every predictable (tube, cell) of the sentence's video (official box
convention), i.e. the best m_vIoU these tubes and this grid allow.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch

from stvg.evaluation import pad_entries, summarize, video_metrics
from stvg.ops import nms_1d, segment_iou_aligned
from stvg.structures import Tube
from stvg.submission import tube_to_entry

from .maps import cell_moments

__all__ = ["rank_moments", "MomentEvaluator", "metric_key", "TubeEvaluator"]


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


class TubeEvaluator:
    """Accumulates tube-mode answers and reports ``{"m_vIoU", "m_tIoU", "vIoU@R"..., "oracle_m_vIoU",
    "oracle_vIoU@R"...}`` (fractions; R in ``thresholds``).

    ``process(answers, gt_tubes, oracle)`` per batch: the answered sub-tube of every sentence (0-based
    frames), its ground-truth tube and its oracle vIoU; ``process(None, gt_tubes)`` for sentences
    without any candidate tube (they score 0, as a video missing from a submission does).
    ``evaluate()`` scores them all at once with :func:`stvg.evaluation.video_metrics` on the
    challenge entries of :func:`stvg.submission.tube_to_entry` (boxes at 3 decimals, the precision of
    a submission file).
    """

    def __init__(self, thresholds: Sequence[float]) -> None:
        self.thresholds = [float(r) for r in thresholds]
        if not self.thresholds:
            raise ValueError("need vIoU thresholds (TEST.IOU_THRESHOLDS)")
        self.reset()

    def reset(self) -> None:
        self._pred: List[Optional[dict]] = []
        self._gt: List[dict] = []
        self._oracle: List[float] = []

    @property
    def num_sentences(self) -> int:
        return len(self._gt)

    def process(self, answers: Optional[Sequence[Tube]], gt_tubes: Sequence[Tube],
                oracle: Optional[Sequence[float]] = None) -> None:
        if answers is not None and len(answers) != len(gt_tubes):
            raise ValueError(f"{len(answers)} answers for {len(gt_tubes)} ground-truth tubes")
        for k, gt in enumerate(gt_tubes):
            a = None if answers is None else answers[k]
            self._pred.append(tube_to_entry(a) if a is not None and len(a) else None)
            self._gt.append(tube_to_entry(gt))
            self._oracle.append(0.0 if oracle is None else float(oracle[k]))

    def evaluate(self) -> Dict[str, float]:
        if not self._gt:
            raise ValueError("no sentence was evaluated")
        gt = pad_entries(self._gt, None)
        pred = pad_entries(self._pred, gt.base, gt.mask.shape[1])
        viou, tiou = video_metrics(pred, gt)
        out = summarize(viou, tiou, self.thresholds)
        out.pop("num_videos")
        oracle = torch.tensor(self._oracle, dtype=torch.float64)
        out["oracle_m_vIoU"] = float(oracle.mean())
        for r in self.thresholds:
            out[f"oracle_vIoU@{r:g}"] = float((oracle > r).double().mean())
        return out
