"""Per-segment tube geometry on the same segment partition as the RoI features.

A tube's RoI features come from the sampled frames it covers (:func:`stvg.features.extractor.tube_samples`),
pooled into ``S`` segments by :func:`stvg.features.clips.pool_segments` (boundaries
``round(k / S * n)``; an empty segment takes its boundary row). The geometry here is pooled over
exactly those rows, so segment ``s`` of the geometry and of the RoI features describe the same frames.

Per sampled row (box x1, y1, x2, y2 on frame f, video ``width`` x ``height``, ``num_frames``):
``cx, cy`` (box centre / frame size), ``w, h`` (box size / frame size), ``vx, vy`` (centre velocity:
central difference over the neighbouring rows, in frame sizes per video length, i.e. per-frame
displacement x ``num_frames``; 0 for a one-row tube), ``t`` (f / num_frames). Per segment: the mean
of those rows, then ``dt`` (the segment's frame extent, first to last row + 1, / num_frames) and
``presence`` (1 when the segment holds rows of its own, 0 when it repeats its boundary row because
the tube covers fewer than ``S`` sampled frames). ``G = 9`` in the order of :data:`GEOMETRY_NAMES`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from stvg.features.extractor import tube_samples
from stvg.structures import Tube

__all__ = ["GEOMETRY_NAMES", "GEOMETRY_DIM", "TubeLayout", "tube_layout", "tube_geometry", "window_mask"]

GEOMETRY_NAMES = ("cx", "cy", "w", "h", "vx", "vy", "t", "dt", "presence")
GEOMETRY_DIM = len(GEOMETRY_NAMES)


@dataclass
class TubeLayout:
    """``geometry`` float32[N, S, G]; ``seg_frames`` int64[N, S, 2] first and last sampled frame of each
    segment's rows; ``tube_frames`` int64[N, 2] first and last frame of each tube."""

    geometry: torch.Tensor
    seg_frames: torch.Tensor
    tube_frames: torch.Tensor


def _samples(tube: Tube, fi: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`tube_samples` (the extractor's rule), with a fast path for dense tubes."""
    frames = tube.frames.cpu().numpy()
    if frames.size and frames[-1] - frames[0] + 1 == frames.size:   # dense: a box on every frame
        lo = int(np.searchsorted(fi, frames[0], side="left"))
        hi = int(np.searchsorted(fi, frames[-1], side="right"))
        if hi > lo:
            pos = np.arange(lo, hi, dtype=np.int64)
            return pos, tube.boxes.cpu().numpy()[fi[pos] - frames[0]]
    return tube_samples(tube, fi)


def _segments(rows: np.ndarray, frames: np.ndarray, counts: np.ndarray, s: int,
              num_frames: float) -> Tuple[np.ndarray, np.ndarray]:
    """Per-segment means of the rows of all tubes at once (``counts[i]`` rows of tube i, in order):
    ``(geometry float32[N, S, G], seg_frames int64[N, S, 2])``."""
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    k = np.arange(s + 1, dtype=np.float64)
    # segment_bounds(n, s) of every tube: round(k / S * n) clamped to n - 1
    bounds = np.minimum(np.round(k[None, :] / s * counts[:, None]).astype(np.int64), counts[:, None] - 1)
    lo, hi = bounds[:, :-1], bounds[:, 1:]
    present = hi > lo
    glo, ghi = lo + offsets[:, None], hi + offsets[:, None]
    prefix = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, 0)], 0)
    count = np.maximum(hi - lo, 1)[..., None]
    mean = np.where(present[..., None], (prefix[ghi] - prefix[glo]) / count, rows[glo])     # [N, S, 7]
    first_f, last_f = frames[glo], frames[np.where(present, ghi - 1, glo)]
    dt = (last_f - first_f + 1) / num_frames
    geo = np.concatenate([mean, dt[..., None], present[..., None].astype(np.float64)], -1)
    return geo.astype(np.float32), np.stack([first_f, last_f], -1).astype(np.int64)


def tube_layout(tubes: Sequence[Tube], frame_indices, num_segments: int, width: float, height: float,
                num_frames: Optional[int] = None) -> TubeLayout:
    """Geometry and segment frame spans of ``tubes`` (see the module docstring), all tubes in one pass.

    ``frame_indices`` int64[K]: the sampled frames the RoI features came from; ``num_frames``: the
    video's frame count (None: ``frame_indices[-1] + 1``)."""
    fi = np.asarray(frame_indices.cpu().numpy() if isinstance(frame_indices, torch.Tensor) else frame_indices,
                    dtype=np.int64).reshape(-1)
    if fi.size == 0:
        raise ValueError("tube geometry: frame_indices is empty (no sampled frame)")
    if not (width > 0 and height > 0):
        raise ValueError(f"tube geometry: width and height must be positive, got {width} x {height}")
    nf = float(num_frames if num_frames else fi[-1] + 1)
    s, n_t = int(num_segments), len(tubes)
    if n_t == 0:
        return TubeLayout(torch.zeros(0, s, GEOMETRY_DIM), torch.zeros(0, s, 2, dtype=torch.int64),
                          torch.zeros(0, 2, dtype=torch.int64))
    pos, boxes = [], []
    span = np.zeros((n_t, 2), np.int64)
    for i, tube in enumerate(tubes):
        try:
            p, b = _samples(tube, fi)
        except ValueError as e:
            raise ValueError(f"tube {i}: {e}") from None
        pos.append(p)
        boxes.append(b)
        span[i] = (tube.start_frame, tube.end_frame)
    counts = np.array([p.size for p in pos], np.int64)
    frames = fi[np.concatenate(pos)].astype(np.float64)
    b = np.concatenate(boxes).astype(np.float64)
    w, h = float(width), float(height)
    centre = np.stack([(b[:, 0] + b[:, 2]) / (2 * w), (b[:, 1] + b[:, 3]) / (2 * h)], 1)
    size = np.stack([(b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h], 1)
    # central differences inside each tube (one-sided at its ends, 0 for a one-row tube)
    idx = np.arange(frames.size)
    first = np.repeat(np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    last = first + np.repeat(counts, counts) - 1
    nxt, prv = np.minimum(idx + 1, last), np.maximum(idx - 1, first)
    gap = frames[nxt] - frames[prv]
    vel = (centre[nxt] - centre[prv]) / np.where(gap > 0, gap, 1.0)[:, None] * nf   # 0 where gap is 0
    rows = np.concatenate([centre, size, vel, (frames / nf)[:, None]], 1)           # [rows, 7]
    geo, seg = _segments(rows, frames, counts, s, nf)
    return TubeLayout(torch.from_numpy(geo), torch.from_numpy(seg), torch.from_numpy(span))


def tube_geometry(tubes: Sequence[Tube], frame_indices, num_segments: int, width: float, height: float,
                  num_frames: Optional[int] = None) -> torch.Tensor:
    """``Tensor[N, S, G]`` geometry of each tube's segments (G = :data:`GEOMETRY_DIM`)."""
    return tube_layout(tubes, frame_indices, num_segments, width, height, num_frames).geometry


def window_mask(layout: TubeLayout, window: Optional[Tuple[int, int]]) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(mask BoolTensor[N, S], inside BoolTensor[N])`` for a 0-based inclusive frame ``window``.

    A segment is kept when the span of its rows (first to last sampled frame) overlaps the window.
    A tube that overlaps the window but has no such segment (the window falls between two of its
    segments) keeps the one segment whose centre is nearest the window's centre. A tube that does not
    overlap the window keeps all its segments and has ``inside`` False (the model ranks it below
    every tube inside the window). ``window`` None keeps everything."""
    n, s = layout.seg_frames.shape[:2]
    if window is None:
        return torch.ones(n, s, dtype=torch.bool), torch.ones(n, dtype=torch.bool)
    w0, w1 = int(window[0]), int(window[1])
    if w1 < w0:
        raise ValueError(f"window {window}: last frame before first frame")
    seg = layout.seg_frames
    mask = (seg[..., 0] <= w1) & (seg[..., 1] >= w0)
    inside = (layout.tube_frames[:, 0] <= w1) & (layout.tube_frames[:, 1] >= w0)
    empty = inside & ~mask.any(1)
    if bool(empty.any()):
        centre = seg.double().mean(-1)
        nearest = (centre - (w0 + w1) / 2.0).abs().argmin(1)
        mask[empty, nearest[empty]] = True
    mask[~inside] = True
    return mask, inside
