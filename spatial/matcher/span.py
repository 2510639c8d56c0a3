"""The matcher's span head: on which of a tube's segments the sentence's person is that tube.

The matcher ranks tubes *given* a window; the span head answers the other half for each tube: for
every (sentence q, tube n, segment s) a logit whose sigmoid estimates the share of the segment's
frames on which tube n's box is the referred person's during the described moment (its target,
:func:`segment_targets`). The answer for one tube is then the run of segments that maximises the
expected vIoU (:func:`best_runs`), and the expected values are comparable across tubes, so the
same numbers pick the tube: a spatio-temporal answer from the tube side alone, which the join
(:mod:`stvg.join`) may combine with MMN's moment scores.

Segments: the tube's own partition of :mod:`stvg.tube_geometry` (16 runs of its sampled rows),
made contiguous in frames by :func:`segment_frames`: segment s runs from its first sampled frame
(segment 0: the tube's first frame) to the frame before the next segment's first (the last one:
to the tube's last frame); a segment that repeats its boundary row (a tube with fewer sampled rows
than segments) is empty.

Network (:class:`SpanHead`): the segment inputs as the tube encoder takes them (LayerNorm'd RoI
features and geometry, each projected to H, summed, GELU), one residual conv block over the
segments; then, on each (sentence, tube) pair, every segment attends to the sentence's token
states (LayerNorm, Linear D -> H; ``SPAN_HEADS``-head attention, residual, LayerNorm: a segment can
look up the words that name what it shows), ``SPAN_LAYERS`` more conv blocks, Linear(H -> 1).
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .blocks import ConvBlock
from stvg.ops import box_iou_aligned_np
from stvg.structures import Tube
from stvg.tube_geometry import GEOMETRY_DIM, TubeLayout

__all__ = ["SpanHead", "segment_frames", "segment_lengths", "segment_targets", "best_runs", "span_loss", "pad_tokens"]


def segment_frames(layout: TubeLayout) -> torch.Tensor:
    """``int64[N, S, 2]`` first and last frame (inclusive) of each segment, contiguous over each
    tube's span (see the module docstring); an empty segment has last = first - 1."""
    seg, span = layout.seg_frames, layout.tube_frames
    if seg.shape[0] == 0:
        return seg.clone()
    first = seg[..., 0].clone()
    first[:, 0] = span[:, 0]
    # a repeated boundary row starts where the previous segment starts: make starts non-decreasing
    first = torch.cummax(first, dim=1).values
    nxt = torch.cat([first[:, 1:], span[:, 1:2] + 1], 1)
    last = torch.maximum(nxt - 1, first - 1)
    # equal starts: only the last segment of such a group holds the frames
    dup = torch.cat([first[:, 1:] == first[:, :-1], torch.zeros_like(first[:, :1], dtype=torch.bool)], 1)
    last = torch.where(dup, first - 1, last)
    return torch.stack([first, last], -1)


def segment_lengths(frames: torch.Tensor) -> torch.Tensor:
    """``float32[N, S]`` frames per segment of :func:`segment_frames`' output (empty segments 0)."""
    return (frames[..., 1] - frames[..., 0] + 1).clamp(min=0).float()


def segment_targets(tubes, layout: TubeLayout, gt: Optional[Tube], iou: float = 0.5) -> np.ndarray:
    """``float32[N, S]``: for each segment of each tube, the share of its frames (:func:`segment_frames`)
    on which the tube's box overlaps ``gt``'s box on that frame with IoU >= ``iou`` (0 on frames
    either tube lacks; all zeros without ``gt``; empty segments 0)."""
    frames = segment_frames(layout).numpy()
    n, s = frames.shape[:2]
    out = np.zeros((n, s), np.float32)
    if gt is None or len(gt) == 0 or n == 0:
        return out
    g_frames, g_boxes = gt.frames.cpu().numpy(), gt.boxes.cpu().numpy().astype(np.float64)
    for i, tube in enumerate(tubes):
        t_frames = tube.frames.cpu().numpy()
        common, ti, gi = np.intersect1d(t_frames, g_frames, assume_unique=True, return_indices=True)
        if common.size == 0:
            continue
        hit = box_iou_aligned_np(tube.boxes.cpu().numpy().astype(np.float64)[ti], g_boxes[gi]) >= iou
        # hits per segment: count hit frames inside [first, last]
        cum = np.concatenate([[0], np.cumsum(hit)])
        lo = np.searchsorted(common, frames[i, :, 0], side="left")
        hi = np.searchsorted(common, frames[i, :, 1], side="right")
        length = frames[i, :, 1] - frames[i, :, 0] + 1
        hits = cum[hi] - cum[lo]
        out[i] = np.where(length > 0, hits / np.maximum(length, 1), 0.0)
    return out


def best_runs(prob: torch.Tensor, length: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per row, the run of segments ``a..b`` (inclusive) maximising the expected vIoU
    ``sum_{a..b} p L / (sum_{a..b} L + sum_{outside} p L)`` of ``prob Tensor[P, S]`` (p) and
    ``length Tensor[P, S]`` (L, frames per segment; empty segments 0). Returns ``(a LongTensor[P],
    b LongTensor[P], value Tensor[P])``; every run with at least one frame is tried; ties go to
    the earliest start, then the shortest run. A row without frames gives (0, 0, 0)."""
    p, n = prob.shape
    if p == 0:
        z = torch.zeros(0, dtype=torch.long, device=prob.device)
        return z, z, prob.new_zeros(0)
    pl = (prob * length).double()
    cl = torch.cat([pl.new_zeros(p, 1), pl.cumsum(1)], 1)                 # [P, S + 1]
    cL = torch.cat([pl.new_zeros(p, 1), length.double().cumsum(1)], 1)
    a, b = torch.triu_indices(n, n, device=prob.device)                   # a <= b, row-major
    inter = cl[:, b + 1] - cl[:, a]                                        # [P, R]
    frames = cL[:, b + 1] - cL[:, a]
    union = frames + cl[:, -1:] - inter
    value = torch.where((frames > 0) & (union > 0), inter / union.clamp(min=1e-12), torch.full_like(inter, -1.0))
    best = value.argmax(1)   # first maximum: runs are ordered by start, then end
    v = value.gather(1, best[:, None])[:, 0].clamp(min=0.0)
    return a[best], b[best], v.to(prob.dtype)


class SpanHead(nn.Module):
    """``(roi Tensor[T, S, C], geometry Tensor[T, S, G], tokens Tensor[Q, L, D], token_mask BoolTensor[Q, L],
    pair_sent LongTensor[P], pair_tube LongTensor[P]) -> logits Tensor[P, S]`` for the (sentence, tube)
    pairs listed (``tokens``: the text encoder's token states, ``token_mask`` the real tokens)."""

    def __init__(self, model_cfg, text_hidden: int):
        super().__init__()
        c, h, k = int(model_cfg.ROI_DIM), int(model_cfg.HIDDEN), int(model_cfg.KERNEL)
        drop = float(model_cfg.DROPOUT)
        self.use_appearance, self.use_geometry = bool(model_cfg.USE_APPEARANCE), bool(model_cfg.USE_GEOMETRY)
        self.roi_norm = nn.LayerNorm(c) if self.use_appearance else None
        self.roi_proj = nn.Linear(c, h) if self.use_appearance else None
        self.geo_proj = nn.Linear(GEOMETRY_DIM, h) if self.use_geometry else None
        self.pre = ConvBlock(h, k, drop)
        self.text_norm = nn.LayerNorm(int(text_hidden))
        self.text_proj = nn.Linear(int(text_hidden), h)
        self.attn = nn.MultiheadAttention(h, int(model_cfg.SPAN_HEADS), dropout=drop, batch_first=True)
        self.attn_norm = nn.LayerNorm(h)
        self.blocks = nn.ModuleList(ConvBlock(h, k, drop) for _ in range(int(model_cfg.SPAN_LAYERS)))
        self.out = nn.Linear(h, 1)

    def forward(self, roi: torch.Tensor, geometry: torch.Tensor, tokens: torch.Tensor, token_mask: torch.Tensor,
                pair_sent: torch.Tensor, pair_tube: torch.Tensor) -> torch.Tensor:
        x = 0
        if self.use_appearance:
            x = x + self.roi_proj(self.roi_norm(roi.float()))
        if self.use_geometry:
            x = x + self.geo_proj(geometry.float())
        ones = x.new_ones(x.shape[0], x.shape[1], 1)
        x = self.pre(F.gelu(x), ones)                                             # [T, S, H]
        t = self.text_proj(self.text_norm(tokens.float()))                        # [Q, L, H]
        y = x[pair_tube]                                                          # [P, S, H]
        ctx, _ = self.attn(y, t[pair_sent], t[pair_sent], key_padding_mask=~token_mask.bool()[pair_sent],
                           need_weights=False)
        y = self.attn_norm(y + ctx)
        for block in self.blocks:
            y = block(y, ones[:1])
        return self.out(y)[..., 0]


def span_loss(logits: torch.Tensor, target: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``logits Tensor[P, S]`` toward ``target Tensor[P, S]``, each segment
    weighted by its frame count ``length Tensor[P, S]`` (empty segments count 0), in float32."""
    w = length.float()
    bce = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return (bce * w).sum() / w.sum().clamp(min=1.0)


def pad_tokens(states) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(Tensor[Q, L, D], BoolTensor[Q, L])`` from Q token-state tensors ``[L_i, D]`` (zero-padded to the
    longest; the mask marks the real tokens)."""
    states = list(states)
    if not states:
        return torch.zeros(0, 0, 0), torch.zeros(0, 0, dtype=torch.bool)
    length = max(int(x.shape[0]) for x in states)
    out = states[0].new_zeros(len(states), length, states[0].shape[1])
    mask = torch.zeros(len(states), length, dtype=torch.bool)
    for i, x in enumerate(states):
        out[i, :x.shape[0]] = x
        mask[i, :x.shape[0]] = True
    return out, mask
