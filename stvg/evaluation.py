"""HC-STVG metrics (m_tIoU, m_vIoU, vIoU@R), exactly the official definition, vectorised in torch.

For one video, with S_u the union of the predicted and ground-truth frame spans
(``|S_u| = max(ed) - min(st) + 1``) and S_i the frames that have a box in both:

* ``vIoU = sum_{t in S_i} IoU(pred_t, gt_t) / |S_u|``, box IoU on x1, y1, x2, y2 with no "+1",
  0 where the boxes do not overlap (so zero-area boxes score 0);
* ``tIoU = |S_i| / |S_u|``;
* a ground-truth video missing from the predictions scores vIoU = tIoU = 0;
* m_vIoU, m_tIoU: means over all ground-truth videos; vIoU@R: share of videos with vIoU > R (strict).

Two entry points:
* :func:`evaluate` on loaded JSON dicts (challenge format; the ground truth may also be a loaded
  HC-STVG v1/v2 annotation file);
* :func:`video_metrics` on padded tensors already in memory (for training loops on the GPU).
All arithmetic is float64. :func:`evaluate` gives bitwise the same numbers on CPU and CUDA (the
per-frame IoUs run on the device, the sums in a fixed order on the CPU); the tensor entry points
sum on the device and agree with the CPU to ~1e-16.
"""
from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .data.hcstvg import load_hcstvg
from .ops import box_iou_aligned
from .submission import tube_to_entry

__all__ = ["evaluate", "HCSTVGEvaluator", "video_metrics", "summarize", "PaddedTubes", "pad_entries",
           "FramePairs", "match_frames", "ground_truth_entries", "THRESHOLDS"]

THRESHOLDS = (0.3, 0.5)


@dataclass
class PaddedTubes:
    """Per-frame boxes of V videos on a common frame grid.

    ``boxes float64[V, F, 4]`` (x1, y1, x2, y2), ``mask bool[V, F]`` (a box exists at that frame),
    ``span float64[V, 2]`` (st_frame, ed_frame inclusive, in the same frame numbering as the grid),
    ``valid bool[V]`` (the video has an entry at all). Grid position f of video v is frame
    ``base[v] + f`` (``base int64[V]``), the same for predictions and ground truth.
    """

    boxes: torch.Tensor
    mask: torch.Tensor
    span: torch.Tensor
    valid: torch.Tensor
    base: torch.Tensor

    def to(self, device) -> "PaddedTubes":
        return PaddedTubes(*(t.to(device) for t in (self.boxes, self.mask, self.span, self.valid, self.base)))


def video_metrics(pred: PaddedTubes, gt: PaddedTubes) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-video ``(vIoU float64[V], tIoU float64[V])`` from padded tensors on one grid.

    Videos with ``pred.valid`` False score 0. No Python loop over videos or frames: the cells with a
    box in both are gathered once, their IoUs summed per video.
    """
    v, f = gt.mask.shape
    both = (pred.mask & gt.mask).reshape(-1)
    cells = both.nonzero().squeeze(1)
    iou = box_iou_aligned(pred.boxes.reshape(-1, 4).index_select(0, cells).double(),
                          gt.boxes.reshape(-1, 4).index_select(0, cells).double())
    sums = torch.zeros(v, dtype=torch.float64, device=iou.device).index_add_(0, cells // f, iou)
    hits = both.view(v, f).sum(dim=1)
    return _ratios(sums, hits, pred.span, gt.span, pred.valid & gt.valid)


def _ratios(sums, hits, pred_span, gt_span, ok) -> Tuple[torch.Tensor, torch.Tensor]:
    union = (torch.maximum(pred_span[:, 1], gt_span[:, 1])
             - torch.minimum(pred_span[:, 0], gt_span[:, 0]) + 1).to(torch.float64)
    union = torch.where(ok, union, torch.ones_like(union))
    zero = torch.zeros_like(union)
    return (torch.where(ok, sums / union, zero),
            torch.where(ok, hits.to(torch.float64) / union, zero))


def summarize(viou: torch.Tensor, tiou: torch.Tensor,
              thresholds: Sequence[float] = THRESHOLDS) -> Dict[str, float]:
    """Means and strict-threshold shares -> ``{"m_tIoU", "m_vIoU", "vIoU@R"..., "num_videos"}``."""
    n = int(viou.numel())
    out = {"m_tIoU": float(tiou.sum() / n) if n else 0.0,
           "m_vIoU": float(viou.sum() / n) if n else 0.0}
    for r in thresholds:
        out[f"vIoU@{r:g}"] = float((viou > r).sum()) / n if n else 0.0
    out["num_videos"] = n
    return out


def ground_truth_entries(ground_truth: Mapping[str, Any]) -> Dict[str, dict]:
    """A loaded challenge-format GT dict (returned as is) or HC-STVG v1/v2 annotation dict
    (converted to challenge format: 1-based frames, x1, y1, x2, y2), told apart automatically."""
    if not isinstance(ground_truth, Mapping):
        raise ValueError(f"ground truth must be an object, got {type(ground_truth).__name__}")
    first = next(iter(ground_truth.values()), None)
    if isinstance(first, Mapping) and isinstance(first.get("bbox"), Mapping):
        return dict(ground_truth)
    videos, _ = load_hcstvg(ground_truth)
    out = {}
    for vid, ann in videos.items():
        if ann.tube is None:
            raise ValueError(f"ground truth video {vid} has no tube (a query-only file cannot be scored)")
        out[vid] = tube_to_entry(ann.tube)
    return out


def evaluate(predictions: Mapping[str, Any], ground_truth: Mapping[str, Any],
             device: Optional[str] = None, thresholds: Sequence[float] = THRESHOLDS,
             per_video: bool = False) -> Dict[str, Any]:
    """Score a loaded submission against a loaded ground truth (see module docstring).

    One-shot form of :class:`HCSTVGEvaluator`; to score many predictions against the same ground
    truth, build the evaluator once.
    """
    return HCSTVGEvaluator(ground_truth, thresholds, index_boxes=False).evaluate(predictions, device, per_video)


class HCSTVGEvaluator:
    """The ground truth indexed once (frame keys, boxes as float64 arrays); :meth:`evaluate` then
    scores any number of predictions (checkpoint sweeps, per-epoch validation).

    Frames are matched by their keys, as the official script does. Entries the official script
    could not read score as if absent: a prediction without numeric st_frame/ed_frame or without a
    bbox object scores 0; a predicted box that is not at least four numbers counts in |S_i| but
    contributes IoU 0 (a longer one is read by its first four).
    """

    def __init__(self, ground_truth: Mapping[str, Any], thresholds: Sequence[float] = THRESHOLDS,
                 index_boxes: bool = True) -> None:
        """``index_boxes``: convert every ground-truth box to float64 now (pays off from the second
        evaluation on); False converts, per evaluation, only the boxes of frames the prediction has
        (the faster choice for a single evaluation)."""
        self.ground_truth = ground_truth_entries(ground_truth)
        self.thresholds = tuple(thresholds)
        keys, values, spans = [], [], []
        for vid, g in self.ground_truth.items():
            gb = g.get("bbox") if _is_mapping(g) else None
            if not (_is_mapping(gb) and _is_number(g.get("st_frame")) and _is_number(g.get("ed_frame"))):
                raise ValueError(f"ground truth video {vid}: expected st_frame, ed_frame (numbers) and "
                                 "a bbox object")
            keys.append(list(gb))
            values.append(gb.values())
            spans.append((g["st_frame"], g["ed_frame"]))
        self._keys, self._values = keys, values
        self._boxes = (_boxes_array(list(itertools.chain.from_iterable(values)), strict=True)
                       if index_boxes else None)
        self._counts = np.fromiter(map(len, keys), dtype=np.int64, count=len(keys))
        self._owner = np.repeat(np.arange(len(keys)), self._counts)
        self._span = np.asarray(spans, dtype=np.float64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self._keys)

    def pairs(self, predictions: Mapping[str, Any]) -> FramePairs:
        """Pair every ground-truth frame with the prediction's box under the same key.

        One Python loop over videos; the per-frame work runs in C (``map`` over ``dict.get``,
        ``itertools.compress``, ``numpy.fromiter``), which is what makes this faster than a
        per-frame Python loop.
        """
        v = len(self._keys)
        pred_span = np.zeros((v, 2), dtype=np.float64)
        valid = np.zeros(v, dtype=bool)
        found = []
        for i, (vid, keys) in enumerate(zip(self.ground_truth, self._keys)):
            p = predictions.get(vid)
            pb = p.get("bbox") if _is_mapping(p) else None
            if _is_mapping(pb) and _is_number(p.get("st_frame")) and _is_number(p.get("ed_frame")):
                pred_span[i] = (p["st_frame"], p["ed_frame"])
                valid[i] = True
                found.append(map(pb.get, keys))  # the predicted box at each GT frame, or None
            else:
                found.append(itertools.repeat(None, len(keys)))
        at = list(itertools.chain.from_iterable(found))
        hit_list = list(map(operator.is_not, at, itertools.repeat(None)))
        hit = np.array(hit_list, dtype=bool)
        pred = _boxes_array(list(itertools.compress(at, hit_list)), strict=False)
        owner = self._owner[hit]
        gt = (self._boxes[hit] if self._boxes is not None else _boxes_array(
            list(itertools.compress(itertools.chain.from_iterable(self._values), hit_list)), strict=True))
        # boxes stored coordinate-major ([4, n] memory seen as [n, 4]): the fast layout for the IoU
        gt = np.ascontiguousarray(gt.T).T
        pred = np.ascontiguousarray(pred.T).T
        hits = np.bincount(owner, minlength=v).astype(np.int64)
        return FramePairs(*(torch.from_numpy(x) for x in (gt, pred, owner, hits, pred_span,
                                                          self._span, valid)))

    def evaluate(self, predictions: Mapping[str, Any], device: Optional[str] = None,
                 per_video: bool = False) -> Dict[str, Any]:
        """Metrics dict (module docstring); with ``per_video=True`` also
        ``"per_video": {vid: (vIoU, tIoU)}``. Bitwise the same numbers on CPU and CUDA."""
        dev = torch.device(device) if device is not None else torch.device("cpu")
        viou, tiou = self.pairs(predictions).to(dev).metrics(fixed_order=True)
        out: Dict[str, Any] = summarize(viou, tiou, self.thresholds)
        if per_video:
            out["per_video"] = dict(zip(self.ground_truth, zip(viou.tolist(), tiou.tolist())))
        return out


@dataclass
class FramePairs:
    """The frames of V videos that have a box in both prediction and ground truth, flattened.

    ``gt float64[n, 4]`` and ``pred float64[n, 4]`` (the two boxes of each matched frame),
    ``owner int64[n]`` (video of each row), ``hits int64[V]`` (|S_i| per video),
    ``pred_span``/``gt_span float64[V, 2]`` (st_frame, ed_frame), ``valid bool[V]`` (the prediction
    has a usable entry).
    """

    gt: torch.Tensor
    pred: torch.Tensor
    owner: torch.Tensor
    hits: torch.Tensor
    pred_span: torch.Tensor
    gt_span: torch.Tensor
    valid: torch.Tensor

    def to(self, device) -> "FramePairs":
        return FramePairs(*(getattr(self, k).to(device) for k in self.__dataclass_fields__))

    def metrics(self, fixed_order: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(vIoU float64[V], tIoU float64[V])`` on the tensors' device.

        The per-frame IoUs are bitwise the same on every device (element-wise IEEE operations);
        the per-video sums on CUDA use atomic adds, whose order varies, so they may differ from the
        CPU's in the last bit. ``fixed_order=True`` sums on the CPU in frame order instead, for
        results that are bitwise identical whatever the device (returned on the CPU).
        """
        v = self.valid.shape[0]
        iou = box_iou_aligned(self.pred, self.gt)
        owner, rest = self.owner, (self.hits, self.pred_span, self.gt_span, self.valid)
        if fixed_order:
            iou, owner, rest = iou.cpu(), owner.cpu(), tuple(t.cpu() for t in rest)
        sums = torch.zeros(v, dtype=torch.float64, device=iou.device).index_add_(0, owner, iou)
        return _ratios(sums, *rest)


def match_frames(predictions: Mapping[str, Any], ground_truth: Mapping[str, Any]) -> FramePairs:
    """:class:`FramePairs` of a submission against a ground truth (see :meth:`HCSTVGEvaluator.pairs`)."""
    return HCSTVGEvaluator(ground_truth).pairs(predictions)


def _boxes_array(boxes: List[Any], strict: bool) -> np.ndarray:
    """``float64[n, 4]`` from a list of boxes; fast path when every box is four numbers."""
    n = len(boxes)
    try:
        if n and set(map(len, boxes)) != {4}:
            raise TypeError
        return np.fromiter(itertools.chain.from_iterable(boxes), dtype=np.float64,
                           count=4 * n).reshape(n, 4)
    except (TypeError, ValueError):
        pass
    out = np.full((n, 4), np.nan)
    for j, b in enumerate(boxes):
        try:
            if isinstance(b, (str, bytes)) or len(b) < 4:
                raise TypeError
            out[j] = [float(c) for c in b[:4]]
        except (TypeError, ValueError):
            if strict:
                raise ValueError(f"ground truth box {b!r} is not four numbers") from None
    return out


# ---------------------------------------------------------------------------------------------
def pad_entries(entries: Sequence[Optional[Mapping[str, Any]]], base: Optional[torch.Tensor],
                width: Optional[int] = None) -> PaddedTubes:
    """Challenge-format entries -> :class:`PaddedTubes`.

    With ``base=None`` (ground truth) each video's grid starts at its first boxed frame and the grid
    width is the longest tube. With a given ``base`` and ``width`` (predictions), boxes outside the
    grid are dropped: they cannot meet a ground-truth box, and only ``span`` enters ``|S_u|``.
    Frame keys are read as integers (a key that is not one is dropped); a box that is not at least
    four numbers is kept as NaN, so it counts in |S_i| but scores IoU 0, as in :func:`evaluate`.
    """
    v = len(entries)
    spans = np.zeros((v, 2), dtype=np.float64)
    valid = np.zeros(v, dtype=bool)
    counts = np.zeros(v, dtype=np.int64)
    keys: List[Any] = []
    vals: List[Any] = []
    for i, e in enumerate(entries):
        if not _is_mapping(e):
            continue
        st, ed, bb = e.get("st_frame"), e.get("ed_frame"), e.get("bbox")
        if not (_is_number(st) and _is_number(ed)):
            continue
        spans[i] = (st, ed)
        valid[i] = True
        if _is_mapping(bb) and bb:
            keys.append(bb.keys())
            vals.append(bb.values())
            counts[i] = len(bb)
    frames, ok = _frame_numbers(list(itertools.chain.from_iterable(keys)))
    boxes = _boxes_array(list(itertools.chain.from_iterable(vals)), strict=False)[ok]
    owner = np.repeat(np.arange(v), counts)[ok]
    frames = frames[ok]
    if base is None:
        base_np = np.full(v, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(base_np, owner, frames)
        base_np[base_np == np.iinfo(np.int64).max] = 0
        pos = frames - base_np[owner]
        width = int(pos.max()) + 1 if pos.size else 1
    else:
        base_np = base.cpu().numpy()
        pos = frames - base_np[owner]
        keep = (pos >= 0) & (pos < width)
        owner, pos, boxes = owner[keep], pos[keep], boxes[keep]
    grid = np.zeros((v, max(int(width), 1), 4), dtype=np.float64)
    mask = np.zeros((v, max(int(width), 1)), dtype=bool)
    grid[owner, pos] = boxes
    mask[owner, pos] = True
    return PaddedTubes(torch.from_numpy(grid), torch.from_numpy(mask), torch.from_numpy(spans),
                       torch.from_numpy(valid), torch.from_numpy(base_np))


def _frame_numbers(keys: List[Any]) -> Tuple[np.ndarray, np.ndarray]:
    """``(int64[n] frame numbers, bool[n] readable)`` of frame keys; fast path when all are integers."""
    n = len(keys)
    try:
        return np.fromiter(map(int, keys), dtype=np.int64, count=n), np.ones(n, dtype=bool)
    except (TypeError, ValueError):
        pass
    frames, ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for j, k in enumerate(keys):
        try:
            frames[j], ok[j] = int(k), True
        except (TypeError, ValueError):
            pass
    return frames, ok


def _is_number(x: Any) -> bool:
    t = type(x)
    return t is int or t is float or (t is not bool and isinstance(x, (int, float, np.integer, np.floating)))


def _is_mapping(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)
