"""Pure tensor ops on segments, boxes and tubes. CPU or GPU: outputs follow the inputs' device.

Conventions: segments are ``[start, end]`` pairs (seconds or frames, any unit, length =
end - start); boxes are x1, y1, x2, y2 with no "+1" on widths. The IoU of two boxes (or segments)
is intersection / union when the intersection is positive, and exactly 0 otherwise (disjoint,
touching, or zero-area inputs never divide by zero).
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou as _tv_box_iou

from .structures import Tube

__all__ = ["segment_iou", "segment_iou_aligned", "box_iou", "box_iou_aligned", "tube_viou", "nms_1d"]


def segment_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of segments.

    Args:
        a: ``Tensor[..., N, 2]`` (start, end); b: ``Tensor[..., M, 2]``; leading dims broadcast.
    Returns:
        ``Tensor[..., N, M]``.
    """
    return segment_iou_aligned(a.unsqueeze(-2), b.unsqueeze(-3))


def segment_iou_aligned(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Element-wise IoU of segments ``a[..., 2]`` and ``b[..., 2]`` (broadcasting) -> ``Tensor[...]``."""
    inter = (torch.minimum(a[..., 1], b[..., 1]) - torch.maximum(a[..., 0], b[..., 0])).clamp(min=0)
    union = torch.maximum(a[..., 1], b[..., 1]) - torch.minimum(a[..., 0], b[..., 0])
    return torch.where(inter > 0, inter / torch.where(inter > 0, union, torch.ones_like(union)),
                       torch.zeros_like(inter))


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU ``Tensor[N, 4] x Tensor[M, 4] -> Tensor[N, M]`` (x1, y1, x2, y2).

    ``torchvision.ops.box_iou`` does the work; pairs with no positive intersection (including
    zero-area boxes, where torchvision would give 0/0) are exactly 0.
    """
    iou = _tv_box_iou(a, b)
    return torch.nan_to_num(iou, nan=0.0)


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
    for i, (s, e) in enumerate(segs):
        if len(keep) >= limit:
            break
        if keep:
            inter = np.clip(np.minimum(kept[:, 1], e) - np.maximum(kept[:, 0], s), 0, None)
            union = np.maximum(kept[:, 1], e) - np.minimum(kept[:, 0], s)
            iou = np.where(inter > 0, inter / np.where(inter > 0, union, 1.0), 0.0)
            if (iou > iou_threshold).any():
                continue
        keep.append(i)
        kept = segs[keep]
    return order[torch.as_tensor(keep, dtype=torch.long, device=order.device)]
