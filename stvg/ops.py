"""The one IoU family (segments, boxes, tubes) and greedy 1D NMS. CPU or GPU: torch outputs follow
the inputs' device.

Conventions: segments are ``[start, end]`` pairs (seconds or frames, any unit, length =
end - start); boxes are x1, y1, x2, y2 with no "+1" on widths. The IoU of two boxes (or segments)
is intersection / union when the intersection is positive, and exactly 0 otherwise (disjoint,
touching, or zero-area inputs never divide by zero).

Torch ops: :func:`segment_iou`, :func:`segment_iou_aligned`, :func:`box_iou`,
:func:`box_iou_aligned`, :func:`tube_viou`, :func:`nms_1d`. The numpy fast paths
(:func:`segment_iou_aligned_np`, :func:`box_iou_np`, :func:`box_iou_aligned_np`) give the same
numbers as their torch twins on float64 inputs, for the sequential loops (NMS, linking) where tens of
small torch calls per step would cost more than the arithmetic.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torchvision.ops import box_iou as _tv_box_iou

from .structures import Tube

__all__ = ["segment_iou", "segment_iou_aligned", "segment_iou_aligned_np", "box_iou", "box_iou_aligned",
           "box_iou_np", "box_iou_aligned_np", "tube_viou", "best_cut_tube", "nms_1d"]

_TINY = np.finfo(np.float64).tiny


def segment_iou(a: torch.Tensor, b: torch.Tensor, union: str = "span") -> torch.Tensor:
    """Pairwise IoU of segments.

    Args:
        a: ``Tensor[..., N, 2]`` (start, end); b: ``Tensor[..., M, 2]``; leading dims broadcast.
        union: see :func:`segment_iou_aligned`.
    Returns:
        ``Tensor[..., N, M]``.
    """
    return segment_iou_aligned(a.unsqueeze(-2), b.unsqueeze(-3), union)


def segment_iou_aligned(a: torch.Tensor, b: torch.Tensor, union: str = "span") -> torch.Tensor:
    """Element-wise IoU of segments ``a[..., 2]`` and ``b[..., 2]`` (broadcasting) -> ``Tensor[...]``.

    ``union`` says how the union of two overlapping segments is rounded: ``"span"`` computes
    ``max(ends) - min(starts)``, ``"sum"`` computes ``len_a + len_b - intersection``. They are equal
    in exact arithmetic but round differently, so at exact ties (IoU = a threshold, common on a 0.1 s
    grid) a comparison can go either way. Reference MMN uses "span" for its moment maps and
    evaluation and "sum" for the sentence removal of its contrastive loss; each caller keeps the
    rounding of the code it reproduces.
    """
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    if union == "span":
        uni = torch.maximum(a[..., 1], b[..., 1]) - torch.minimum(a[..., 0], b[..., 0])
    elif union == "sum":
        uni = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    else:
        raise ValueError(f"segment IoU: union must be 'span' or 'sum', got {union!r}")
    return torch.where(inter > 0, inter / torch.where(inter > 0, uni, torch.ones_like(uni)),
                       torch.zeros_like(inter))


def segment_iou_aligned_np(a, b) -> np.ndarray:
    """:func:`segment_iou_aligned` (``union="span"``) in numpy: ``float[..., 2]`` x ``float[..., 2]``
    (broadcasting; Python pairs work too) -> ``float64[...]``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    inter = np.maximum(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0.0)
    uni = np.maximum(a[..., 1], b[..., 1]) - np.minimum(a[..., 0], b[..., 0])
    pos = inter > 0
    return np.where(pos, inter / np.where(pos, uni, 1.0), 0.0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU ``Tensor[N, 4] x Tensor[M, 4] -> Tensor[N, M]`` (x1, y1, x2, y2).

    ``torchvision.ops.box_iou`` does the work; pairs with no positive intersection (including
    zero-area boxes, where torchvision would give 0/0) are exactly 0.
    """
    iou = _tv_box_iou(a, b)
    return torch.nan_to_num(iou, nan=0.0)


def box_iou_np(a: np.ndarray, b: np.ndarray, area_a: Optional[np.ndarray] = None,
               area_b: Optional[np.ndarray] = None) -> np.ndarray:
    """:func:`box_iou` in numpy: ``float64[N, 4] x float64[M, 4] -> float64[N, M]``.

    ``area_a float64[N]`` / ``area_b float64[M]``, when given, are used as the boxes' areas instead
    of ``(x2 - x1) * (y2 - y1)`` (a caller that keeps areas up to date saves recomputing them and
    keeps their rounding). Boxes must be finite with x2 >= x1, y2 >= y1; a zero union (two
    zero-area boxes) gives 0. This is the per-frame cost of linking (in-place, few temporaries).
    """
    if area_a is None:
        area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    if area_b is None:
        area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    at, bt = a.T[:, :, None], b.T
    w = np.minimum(at[2], bt[2]) - np.maximum(at[0], bt[0])  # [N, M] overlap width
    h = np.minimum(at[3], bt[3]) - np.maximum(at[1], bt[1])  # and height
    np.maximum(w, 0.0, out=w)
    np.maximum(h, 0.0, out=h)
    w *= h  # intersection
    union = area_a[:, None] + area_b
    union -= w
    np.maximum(union, _TINY, out=union)  # the intersection is 0 wherever the union is 0
    w /= union
    return w


def box_iou_aligned(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise IoU of ``a[..., 4]`` and ``b[..., 4]`` (broadcasting) -> ``Tensor[...]``.

    Exactly the official HC-STVG box IoU: areas ``(x2 - x1) * (y2 - y1)``, no "+1", and 0 where the
    boxes do not overlap (intersection width or height <= 0, or NaN coordinates).
    """
    ax1, ay1, ax2, ay2 = a.unbind(-1)  # contiguous when ``a`` is a transposed [4, ...] tensor
    bx1, by1, bx2, by2 = b.unbind(-1)
    w = torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)
    h = torch.minimum(ay2, by2) - torch.maximum(ay1, by1)
    overlap = (w > 0) & (h > 0)
    inter = w * h
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return torch.where(overlap, inter / torch.where(overlap, union, torch.ones_like(union)),
                       torch.zeros_like(inter))


def box_iou_aligned_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`box_iou_aligned` in numpy: ``float64[..., 4]`` x ``float64[..., 4]`` (broadcasting)
    -> ``float64[...]``; NaN boxes (no box on that frame) give 0."""
    w = np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])
    h = np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])
    overlap = (w > 0) & (h > 0)
    inter = w * h
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
             + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def tube_viou(pred: Tube, gt: Tube) -> torch.Tensor:
    """vIoU of two tubes (official HC-STVG definition, on the tubes' own spans).

    ``S_u`` = frames from min(first frames) to max(last frames); ``S_i`` = frames with a box in
    both tubes; vIoU = sum over S_i of box IoU / |S_u|. Returns a 0-dim float64 tensor; 0 when
    either tube is empty. Computed in float64.
    """
    dev = gt.frames.device
    if len(pred) == 0 or len(gt) == 0:
        return torch.zeros((), dtype=torch.float64, device=dev)
    pf, gf = pred.frames.to(dev), gt.frames
    union = max(pred.end_frame, gt.end_frame) - min(pred.start_frame, gt.start_frame) + 1
    # Both frame lists are strictly increasing: match them with searchsorted.
    pos = torch.searchsorted(gf, pf).clamp(max=len(gt) - 1)
    hit = gf[pos] == pf
    ious = box_iou_aligned(pred.boxes.to(dev, torch.float64)[hit], gt.boxes.double()[pos[hit]])
    return ious.sum() / union


def best_cut_tube(tubes, gt: Tube) -> Optional[Tube]:
    """The tube oracle: of ``tubes``, each cut to ``gt``'s span (:meth:`Tube.crop`), the one with the
    highest :func:`tube_viou` against ``gt`` (the first of equals); None when none reaches the span."""
    best, best_v = None, -1.0
    for tube in tubes:
        c = tube.crop(gt.start_frame, gt.end_frame)
        if len(c):
            v = float(tube_viou(c, gt))
            if v > best_v:
                best, best_v = c, v
    return best


def nms_1d(segments: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
           top_k: int | None = None) -> torch.Tensor:
    """Greedy NMS on segments ``Tensor[N, 2]`` with ``scores Tensor[N]``: visit by decreasing score,
    suppress any later segment whose IoU with a kept one is ``> iou_threshold``. Returns kept indices
    (``int64[K]``, best first), at most ``top_k`` of them; stops as soon as ``top_k`` are kept.
    Ties in score keep the lower index first. Computed in float64 on the CPU (the greedy loop is
    sequential); the result is on the input's device.
    """
    order = torch.sort(scores, descending=True, stable=True).indices
    segs = segments[order].detach().to("cpu", torch.float64).numpy()
    limit = segs.shape[0] if top_k is None else min(int(top_k), segs.shape[0])
    keep: list = []
    kept = np.empty((0, 2))
    for i, seg in enumerate(segs):
        if len(keep) >= limit:
            break
        if keep and (segment_iou_aligned_np(kept, seg) > iou_threshold).any():
            continue
        keep.append(i)
        kept = segs[keep]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]
