"""Spatio-temporal IoU targets of a tube's 2D moment map (the HC-STVG entry of MMN, tube-conditioned).

A tube with ``T`` boxes gets its own ``N x N`` map. Cell ``(i, j)``, ``i <= j``, is the sub-tube made
of the tube's boxes (rows) ``round(i / N * T)`` to ``round((j + 1) / N * T)``, end exclusive; its
target is the spatio-temporal IoU of that sub-tube with the ground-truth tube::

    st_iou = sum over frames with a box in both of box_iou / (max(last frames) - min(first frames) + 1)

which is exactly :func:`stvg.ops.tube_viou` of the sub-tube (the official vIoU, for any tubes). Empty
sub-tubes and cells with ``i > j`` are 0.

Rounding: ``round`` is round half to even on the exact rational ``i * T / N`` (Python's ``round`` on a
``Fraction``, and ``torch.round``'s rule). The released entry (atao99/MMN-STVG, ``utils.py:
moment_to_stiou2d``) computes ``torch.round(float32(i / N) * T)``: the same for every power-of-two N
(its setting is N = 16); for other N a float32 product can fall on the other side of an exact half
(N = 12, T = 54, i = 7: 31.5 gives 32 here, 31 there).

Box conventions (``plus_one``):
* False (default): the official one of this project and of the HC-STVG evaluator,
  :func:`stvg.ops.box_iou_aligned`, widths ``x2 - x1``.
* True: the released entry's ``iou3dt.py``, widths ``x2 - x1 + 1`` and intersections
  ``min(x2 + 1) - max(x1)`` (same for y). That is the official IoU of the boxes with 1 added to x2
  and y2, which is how it is computed here. The released ``iou3dt`` (mean box IoU over the common
  frames times temporal IoU) needs dense tubes; on dense tubes it equals the formula above.
"""
from __future__ import annotations

import torch

from stvg.ops import box_iou_aligned
from stvg.structures import Tube

__all__ = ["st_iou_map", "cell_box_bounds", "cell_sub_tube"]


def cell_box_bounds(num_boxes: int, num_clips: int, device=None) -> torch.Tensor:
    """``LongTensor[N + 1]``: ``bounds[k] = round(k / N * num_boxes)``, half to even, exact.

    Cell ``(i, j)`` covers the rows ``bounds[i] : bounds[j + 1]`` of its tube.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    k = torch.arange(num_clips + 1, dtype=torch.int64, device=device) * int(num_boxes)
    q, r = k.div(num_clips, rounding_mode="floor"), k.remainder(num_clips)
    up = (2 * r > num_clips) | ((2 * r == num_clips) & (q % 2 == 1))
    return q + up.long()


def cell_sub_tube(tube: Tube, i: int, j: int, num_clips: int) -> Tube:
    """The sub-tube of cell ``(i, j)`` of ``tube``'s ``num_clips x num_clips`` map (possibly empty)."""
    b = cell_box_bounds(len(tube), num_clips).tolist()
    lo, hi = b[i], b[j + 1]
    return Tube(tube.frames[lo:hi], tube.boxes[lo:hi],
                None if tube.scores is None else tube.scores[lo:hi], tube.score)


def _per_box_iou(tube: Tube, gt: Tube, plus_one: bool) -> torch.Tensor:
    """``Tensor[T]`` float64: IoU of each box of ``tube`` with the gt box on the same frame (0 if none)."""
    gf = gt.frames.to(tube.frames.device)
    pos = torch.searchsorted(gf, tube.frames).clamp(max=len(gt) - 1)
    hit = gf[pos] == tube.frames
    a = tube.boxes.double()
    g = gt.boxes.to(a.device, torch.float64)[pos]
    if plus_one:
        one = a.new_tensor([0.0, 0.0, 1.0, 1.0])
        a, g = a + one, g + one
    return torch.where(hit, box_iou_aligned(a, g), torch.zeros_like(a[:, 0]))


def st_iou_map(tube: Tube, gt_tube: Tube, num_clips: int, plus_one: bool = False) -> torch.Tensor:
    """Spatio-temporal IoU of every cell's sub-tube with the ground-truth tube (see the module doc).

    Args:
        tube: the candidate tube (``T`` boxes, 0-based frames). gt_tube: the ground-truth tube.
        num_clips: N. plus_one: the released entry's +1 box convention instead of the official one.
    Returns:
        ``Tensor[N, N]`` float32 on ``tube``'s device (computed in float64); 0 where ``i > j``, where
        the sub-tube is empty, and everywhere when either tube is empty.

    Vectorised: per-box IoUs with the gt box on the same frame, prefix sums over the tube's rows, and
    the union of spans from the sub-tube's first and last frames.
    """
    dev, n, t = tube.frames.device, int(num_clips), len(tube)
    if t == 0 or len(gt_tube) == 0:
        return torch.zeros(n, n, device=dev)
    csum = torch.cat([torch.zeros(1, dtype=torch.float64, device=dev),
                      _per_box_iou(tube, gt_tube, plus_one).cumsum(0)])
    bounds = cell_box_bounds(t, n, dev)
    lo, hi = bounds[:-1, None], bounds[None, 1:]                       # [N, 1], [1, N]
    inter = csum[hi] - csum[lo]                                         # [N, N]
    first = tube.frames[lo.clamp(max=t - 1)]
    last = tube.frames[(hi - 1).clamp(min=0)]
    union = torch.maximum(last, torch.tensor(gt_tube.end_frame, device=dev)) \
        - torch.minimum(first, torch.tensor(gt_tube.start_frame, device=dev)) + 1
    keep = (hi > lo) & torch.ones(n, n, dtype=torch.bool, device=dev).triu()
    return torch.where(keep, inter / union.double(), torch.zeros_like(inter)).float()
