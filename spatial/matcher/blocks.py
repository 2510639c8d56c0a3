"""The residual temporal block of the matcher's tube side and of its span head."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ConvBlock"]


class ConvBlock(nn.Module):
    """``(x Tensor[N, S, H], mask Tensor[N, S, 1]) -> Tensor[N, S, H]``: ``LayerNorm(x + dropout(GELU(
    Conv1d(x * mask))))`` over the S segments (kernel ``kernel``, same padding), zeroed where ``mask`` is 0."""

    def __init__(self, h: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(h, h, kernel, padding=kernel // 2)
        self.drop = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(h)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.drop(F.gelu(self.conv((x * mask).transpose(1, 2)).transpose(1, 2)))
        return self.norm(x + y) * mask
