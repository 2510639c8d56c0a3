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
All arithmetic is float64; the numbers are the same on CPU and CUDA.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .data.hcstvg import load_hcstvg
from .ops import box_iou_aligned
from .submission import tube_to_entry

__all__ = ["evaluate", "video_metrics", "summarize", "PaddedTubes", "pad_entries",
           "ground_truth_entries", "THRESHOLDS"]

THRESHOLDS = (0.3, 0.5)


@dataclass
class PaddedTubes:
    """Per-frame boxes of V videos on a common frame grid.

    ``boxes float64[V, F, 4]`` (x1, y1, x2, y2), ``mask bool[V, F]`` (a box exists at that frame),
    ``span int64[V, 2]`` (st_frame, ed_frame inclusive, in the same frame numbering as the grid),
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

    Videos with ``pred.valid`` False score 0. No Python loop over videos or frames.
    """
    both = pred.mask & gt.mask
    iou = box_iou_aligned(pred.boxes, gt.boxes) * both
    union = (torch.maximum(pred.span[:, 1], gt.span[:, 1])
             - torch.minimum(pred.span[:, 0], gt.span[:, 0]) + 1).to(torch.float64)
    ok = pred.valid & gt.valid
    union = torch.where(ok, union, torch.ones_like(union))
    viou = torch.where(ok, iou.sum(dim=1) / union, torch.zeros_like(union))
    tiou = torch.where(ok, both.sum(dim=1).to(torch.float64) / union, torch.zeros_like(union))
    return viou, tiou


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

    Entries the official script could not read (missing keys, non-integer frame keys, boxes that are
    not four numbers) contribute no boxes; a video whose entry lacks st_frame/ed_frame scores 0.
    Returns the metrics dict; with ``per_video=True`` also ``"per_video": {vid: (vIoU, tIoU)}``.
    """
    gt_entries = ground_truth_entries(ground_truth)
    ids = list(gt_entries)
    gt = pad_entries([gt_entries[v] for v in ids], None)
    pred = pad_entries([predictions.get(v) for v in ids], gt.base, width=gt.boxes.shape[1])
    dev = torch.device(device) if device is not None else torch.device("cpu")
    viou, tiou = video_metrics(pred.to(dev), gt.to(dev))
    out: Dict[str, Any] = summarize(viou, tiou, thresholds)
    if per_video:
        out["per_video"] = dict(zip(ids, zip(viou.cpu().tolist(), tiou.cpu().tolist())))
    return out


# ---------------------------------------------------------------------------------------------
def pad_entries(entries: Sequence[Optional[Mapping[str, Any]]], base: Optional[torch.Tensor],
                width: Optional[int] = None) -> PaddedTubes:
    """Challenge-format entries -> :class:`PaddedTubes`.

    With ``base=None`` (ground truth) each video's grid starts at its first boxed frame and the grid
    width is the longest tube. With a given ``base`` and ``width`` (predictions), boxes outside the
    grid are dropped: they cannot meet a ground-truth box, and only ``span`` enters ``|S_u|``.
    """
    v = len(entries)
    spans = np.zeros((v, 2), dtype=np.int64)
    valid = np.zeros(v, dtype=bool)
    counts = np.zeros(v, dtype=np.int64)
    keys: List[Any] = []
    vals: List[Any] = []
    for i, e in enumerate(entries):
        if not isinstance(e, Mapping):
            continue
        st, ed, bb = e.get("st_frame"), e.get("ed_frame"), e.get("bbox")
        if not (_is_number(st) and _is_number(ed)):
            continue
        spans[i] = (st, ed)
        valid[i] = True
        if isinstance(bb, Mapping) and bb:
            keys.append(bb.keys())
            vals.append(bb.values())
            counts[i] = len(bb)
    frames, boxes, counts = _flatten(keys, vals, counts, valid)
    owner = np.repeat(np.arange(v), counts)
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


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _flatten(keys, vals, counts, valid) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame numbers ``int64[n]`` and boxes ``float64[n, 4]`` of all entries, fast path first."""
    n = int(counts.sum())
    try:
        frames = np.fromiter(map(int, itertools.chain.from_iterable(keys)), dtype=np.int64, count=n)
        box_list = list(itertools.chain.from_iterable(vals))
        lens = np.fromiter(map(len, box_list), dtype=np.int64, count=n)
        if (lens != 4).any():
            raise ValueError
        boxes = np.fromiter(itertools.chain.from_iterable(box_list), dtype=np.float64,
                            count=4 * n).reshape(n, 4)
        return frames, boxes, counts
    except (TypeError, ValueError):
        return _flatten_lenient(keys, vals, counts)


def _flatten_lenient(keys, vals, counts) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Slow path for malformed predictions: drop keys that are not integers and boxes that are
    not four numbers, entry by entry."""
    frames, boxes = [], []
    new_counts = counts.copy()
    nz = np.flatnonzero(counts)
    for i, ks, vs in zip(nz, keys, vals):
        kept = 0
        for k, b in zip(ks, vs):
            try:
                f = int(k)
                box = [float(c) for c in b]
            except (TypeError, ValueError):
                continue
            if len(box) != 4:
                continue
            frames.append(f)
            boxes.append(box)
            kept += 1
        new_counts[i] = kept
    return (np.asarray(frames, dtype=np.int64), np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            new_counts)
