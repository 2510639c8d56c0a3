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

from stvg.features.clips import segment_bounds
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


def _one_tube(tube: Tube, frame_indices: np.ndarray, s: int, width: float, height: float,
              num_frames: float) -> Tuple[np.ndarray, np.ndarray]:
    pos, boxes = tube_samples(tube, frame_indices)
    frames = frame_indices[pos].astype(np.float64)
    b = boxes.astype(np.float64)
    n = b.shape[0]
    cx, cy = (b[:, 0] + b[:, 2]) / (2 * width), (b[:, 1] + b[:, 3]) / (2 * height)
    w, h = (b[:, 2] - b[:, 0]) / width, (b[:, 3] - b[:, 1]) / height
    centre = np.stack([cx, cy], 1)
    if n > 1:
        nxt, prv = np.minimum(np.arange(n) + 1, n - 1), np.maximum(np.arange(n) - 1, 0)
        vel = (centre[nxt] - centre[prv]) / (frames[nxt] - frames[prv])[:, None] * num_frames
    else:
        vel = np.zeros((1, 2))
    rows = np.concatenate([centre, np.stack([w, h], 1), vel, (frames / num_frames)[:, None]], 1)  # [n, 7]
    bounds = segment_bounds(n, s)
    lo, hi = bounds[:-1], bounds[1:]
    present = hi > lo
    prefix = np.concatenate([np.zeros((1, rows.shape[1])), np.cumsum(rows, 0)], 0)
    count = np.maximum(hi - lo, 1)[:, None]
    mean = np.where(present[:, None], (prefix[hi] - prefix[lo]) / count, rows[lo])
    last = np.where(present, hi - 1, lo)
    first_f, last_f = frames[lo], frames[last]
    dt = (last_f - first_f + 1) / num_frames
    geo = np.concatenate([mean, dt[:, None], present[:, None].astype(np.float64)], 1)
    return geo.astype(np.float32), np.stack([first_f, last_f], 1).astype(np.int64)


def tube_layout(tubes: Sequence[Tube], frame_indices, num_segments: int, width: float, height: float,
                num_frames: Optional[int] = None) -> TubeLayout:
    """Geometry and segment frame spans of ``tubes`` (see the module docstring).

    ``frame_indices`` int64[K]: the sampled frames the RoI features came from; ``num_frames``: the
    video's frame count (None: ``frame_indices[-1] + 1``)."""
    fi = np.asarray(frame_indices.cpu().numpy() if isinstance(frame_indices, torch.Tensor) else frame_indices,
                    dtype=np.int64).reshape(-1)
    if fi.size == 0:
        raise ValueError("tube geometry: frame_indices is empty (no sampled frame)")
    if not (width > 0 and height > 0):
        raise ValueError(f"tube geometry: width and height must be positive, got {width} x {height}")
    nf = float(num_frames if num_frames else fi[-1] + 1)
    s = int(num_segments)
    geo = np.zeros((len(tubes), s, GEOMETRY_DIM), np.float32)
    seg = np.zeros((len(tubes), s, 2), np.int64)
    span = np.zeros((len(tubes), 2), np.int64)
    for i, tube in enumerate(tubes):
        try:
            geo[i], seg[i] = _one_tube(tube, fi, s, float(width), float(height), nf)
        except ValueError as e:
            raise ValueError(f"tube {i}: {e}") from None
        span[i] = (tube.start_frame, tube.end_frame)
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
