"""Clip feature pool: per-clip 1x1 conv + ReLU, then temporal average pooling."""
from __future__ import annotations

import torch
from torch import nn


class FeaturePool(nn.Module):
    """``Tensor[B, T_pre, D] -> Tensor[B, H, N]``.

    Conv1d(D -> H, kernel 1) + ReLU over the ``T_pre = NUM_PRE_CLIPS`` rows, then
    AvgPool1d(kernel ``pool_kernel``, stride ``T_pre // N``).
    """

    def __init__(self, feat_dim: int, hidden: int, num_pre_clips: int, num_clips: int, pool_kernel: int):
        super().__init__()
        if num_pre_clips % num_clips:
            raise ValueError(f"NUM_PRE_CLIPS ({num_pre_clips}) must be a multiple of NUM_CLIPS ({num_clips})")
        stride = num_pre_clips // num_clips
        out_len = (num_pre_clips - pool_kernel) // stride + 1
        if out_len != num_clips:
            raise ValueError(f"POOL_KERNEL {pool_kernel} with stride {stride} turns {num_pre_clips} pre-clips "
                             f"into {out_len} clips, not NUM_CLIPS {num_clips}")
        self.feat_dim = feat_dim
        self.num_pre_clips = num_pre_clips
        self.conv = nn.Conv1d(feat_dim, hidden, kernel_size=1)
        self.pool = nn.AvgPool1d(pool_kernel, stride)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if feats.dim() != 3 or feats.shape[1] != self.num_pre_clips or feats.shape[2] != self.feat_dim:
            raise ValueError(f"features must be [B, NUM_PRE_CLIPS={self.num_pre_clips}, FEAT_DIM={self.feat_dim}], "
                             f"got {tuple(feats.shape)}")
        return self.pool(torch.relu(self.conv(feats.transpose(1, 2))))
