"""Sparse 2D moment maps (2D-TAN "pool" variant) used by MMN.

Cell ``(i, j)`` with ``i <= j`` is the moment covering clips ``i..j``, i.e. the time span
``[i, j + 1] * duration / N`` seconds. The diagonal holds the clip features; each group ``c`` of
``pooling_counts`` fills ``c`` further diagonals, the offset growing by the group's stride
(1, 2, 4, ... doubling after each group); on the diagonal at offset ``o`` the kept cells are
``i in range(0, N - o, stride)``, ``j = i + o``.

Valid-cell counts of the paper settings: ``valid_mask(16, [15]).sum() == 136``,
``valid_mask(64, [15, 8, 8]).sum() == 1104``, ``valid_mask(128, [15, 8, 8, 8]).sum() == 2548``.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F

from stvg.ops import segment_iou_aligned

__all__ = ["diagonal_cells", "valid_mask", "moment_map", "iou_map", "cell_moments"]


def _check(num_clips: int, pooling_counts: Sequence[int]) -> None:
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    if len(pooling_counts) == 0 or any(int(c) < 1 for c in pooling_counts):
        raise ValueError(f"pooling_counts must be a non-empty list of positive ints, got {list(pooling_counts)}")


def diagonal_cells(num_clips: int, pooling_counts: Sequence[int]) -> List[Tuple[torch.Tensor, torch.Tensor]]:
    """The kept off-diagonal cells, one ``(i: LongTensor[K], j: LongTensor[K])`` per filled diagonal,
    in the order the max-pool chain fills them (diagonal 0, the clips themselves, not included).

    Raises ValueError when a diagonal would fall outside the ``N x N`` map (too many pooling steps
    for ``num_clips``)."""
    _check(num_clips, pooling_counts)
    cells = []
    stride, offset = 1, 0
    for c in pooling_counts:
        for _ in range(int(c)):
            offset += stride
            if offset >= num_clips:
                raise ValueError(f"pooling_counts {list(pooling_counts)} reach diagonal offset {offset} "
                                 f">= num_clips {num_clips}")
            i = torch.arange(0, num_clips - offset, stride)
            cells.append((i, i + offset))
        stride *= 2
    return cells


def valid_mask(num_clips: int, pooling_counts: Sequence[int]) -> torch.Tensor:
    """``BoolTensor[N, N]``: True at the cells the sparse moment map fills (N = num_clips)."""
    mask = torch.zeros(num_clips, num_clips, dtype=torch.bool)
    idx = torch.arange(num_clips)
    mask[idx, idx] = True
    for i, j in diagonal_cells(num_clips, pooling_counts):
        mask[i, j] = True
    return mask


def _pool_chain(pooling_counts: Sequence[int]) -> List[Tuple[int, int]]:
    """(kernel, stride) of each max-pool in the chain, one per filled diagonal."""
    chain = [(2, 1)] * int(pooling_counts[0])
    for c in pooling_counts[1:]:
        chain += [(3, 2)] + [(2, 1)] * (int(c) - 1)
    return chain


def moment_map(clip_feats: torch.Tensor, pooling_counts: Sequence[int]) -> torch.Tensor:
    """Sparse 2D moment map by the max-pool chain.

    Args:
        clip_feats: ``Tensor[B, C, N]`` clip features.
        pooling_counts: diagonals filled per stride group, e.g. ``[15]`` or ``[15, 8, 8]``.
    Returns:
        ``Tensor[B, C, N, N]``: the diagonal holds ``clip_feats``; the k-th kept diagonal holds the
        output of the k-th max-pool of the chain (MaxPool1d(2, 1) for the first group; MaxPool1d(3, 2)
        then (c - 1) MaxPool1d(2, 1) for each later group); zero outside ``valid_mask``.
    """
    if clip_feats.dim() != 3:
        raise ValueError(f"clip_feats must be [B, C, N], got shape {tuple(clip_feats.shape)}")
    b, c, n = clip_feats.shape
    cells = diagonal_cells(n, pooling_counts)
    out = clip_feats.new_zeros(b, c, n, n)
    idx = torch.arange(n, device=clip_feats.device)
    out[:, :, idx, idx] = clip_feats
    x = clip_feats
    for (kernel, stride), (i, j) in zip(_pool_chain(pooling_counts), cells):
        x = F.max_pool1d(x, kernel, stride)
        if x.shape[-1] != i.numel():  # cannot happen for a valid chain; guards the invariant
            raise RuntimeError(f"pool output length {x.shape[-1]} != diagonal length {i.numel()}")
        out[:, :, i.to(x.device), j.to(x.device)] = x
    return out


def cell_moments(num_clips: int, duration, device=None) -> torch.Tensor:
    """``Tensor[N, N, 2]``: the moment ``[i, j + 1] * duration / N`` (seconds) of every cell."""
    idx = torch.arange(num_clips, device=device, dtype=torch.float64)
    start = idx[:, None].expand(num_clips, num_clips)
    end = (idx + 1)[None, :].expand(num_clips, num_clips)
    return (torch.stack([start, end], dim=-1) * float(duration) / num_clips).float()


def iou_map(segment, duration: float, num_clips: int) -> torch.Tensor:
    """Temporal IoU of every cell's moment with ``segment``.

    Args:
        segment: ``(start, end)`` in seconds (a ``stvg.structures.Segment``, a pair, or a Tensor[2]).
        duration: video duration in seconds (> 0).
        num_clips: N.
    Returns:
        ``FloatTensor[N, N]``; cell (i, j) covers ``[i, j + 1] * duration / N``. Cells with
        ``i > j`` are not moments (their end is not after their start) and get 0.
    """
    if hasattr(segment, "start") and hasattr(segment, "end"):
        s, e = float(segment.start), float(segment.end)
    else:
        s, e = (float(v) for v in segment)
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    if not e > s:
        raise ValueError(f"segment must have start < end, got ({s}, {e})")
    m = cell_moments(num_clips, duration).double()
    return segment_iou_aligned(m, torch.tensor([s, e], dtype=torch.float64)).float()
