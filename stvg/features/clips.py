"""Index arithmetic for clips and segments (pure numpy, no decoding, no model).

Sampled frames are numbered 0..K-1 (positions in the list of decoded frames). Clip t covers the
positions ``[t * stride, t * stride + length)``; clips form a regular grid, so
``T = 1 + ceil(max(K - length, 0) / stride)`` (never a clip starting past the last frame) and the last
clip, like the one clip of a video shorter than a clip, is padded by repeating the last frame.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["num_clips", "clip_positions", "clip_real_ranges", "segment_bounds", "pool_segments"]


def num_clips(num_samples: int, length: int, stride: int) -> int:
    """``T`` for ``K = num_samples`` sampled frames (at least 1 when K >= 1)."""
    if num_samples < 1:
        raise ValueError("a video needs at least one sampled frame")
    if length < 1 or stride < 1:
        raise ValueError(f"clip length and stride must be >= 1, got {length}, {stride}")
    # a regular grid that reaches the last frame, without a clip starting past it (stride > length)
    return min(1 + math.ceil(max(num_samples - length, 0) / stride), math.ceil(num_samples / stride))


def clip_positions(num_samples: int, length: int, stride: int) -> np.ndarray:
    """``int64[T, length]``: sampled-frame positions of each clip, padded with the last one (K - 1)."""
    t = num_clips(num_samples, length, stride)
    pos = np.arange(t, dtype=np.int64)[:, None] * stride + np.arange(length, dtype=np.int64)[None, :]
    return np.minimum(pos, num_samples - 1)


def clip_real_ranges(num_samples: int, length: int, stride: int) -> np.ndarray:
    """``int64[T, 2]``: ``[first, end)`` positions of the real (unpadded) frames of each clip."""
    t = num_clips(num_samples, length, stride)
    first = np.arange(t, dtype=np.int64) * stride
    return np.stack([first, np.minimum(first + length, num_samples)], axis=1)


def segment_bounds(n: int, num_segments: int) -> np.ndarray:
    """``int64[S + 1]`` boundaries ``round(k / S * n)`` clamped to ``n - 1`` (MMN's resampling rule)."""
    if n < 1:
        raise ValueError("cannot split zero rows into segments")
    k = np.arange(num_segments + 1, dtype=np.float64)
    return np.minimum(np.round(k / num_segments * n).astype(np.int64), n - 1)


def pool_segments(rows: np.ndarray, num_segments: int) -> np.ndarray:
    """``float[n, C] -> float[S, C]``: row s = mean of rows ``[b_s, b_{s+1})``, or row ``b_s`` if empty."""
    rows = np.asarray(rows)
    b = segment_bounds(rows.shape[0], num_segments)
    out = np.empty((num_segments,) + rows.shape[1:], dtype=rows.dtype)
    for s in range(num_segments):
        lo, hi = b[s], b[s + 1]
        out[s] = rows[lo:hi].mean(axis=0) if hi > lo else rows[lo]
    return out
