"""Masked proposal conv stack over the sparse 2D moment map (MMN step 3)."""
from __future__ import annotations

from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .masked_conv import banded_conv_bn_relu, plan_stack


def propagate_mask(mask: torch.Tensor, kernel: int, num_layers: int) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """Weight maps and propagated masks of a ``num_layers`` stack of ``kernel x kernel`` convs whose
    first layer is padded by ``(kernel - 1) * num_layers // 2`` and the others not.

    Args:
        mask: ``BoolTensor[N, N]`` valid cells of the input map.
    Returns:
        ``(weights, masks)``, ``num_layers`` each: ``weights[l]`` is ``FloatTensor[N_l, N_l]`` =
        1 / (number of valid cells under the kernel) where > 0, else 0; ``masks[l] = weights[l] > 0``
        (the valid cells after layer l). With the first-layer padding, ``N_last == N``.
    """
    pad = (kernel - 1) * num_layers // 2
    ones = torch.ones(1, 1, kernel, kernel, dtype=torch.float32, device=mask.device)
    cur = mask.float()[None, None]
    weights, masks = [], []
    for layer in range(num_layers):
        count = torch.round(F.conv2d(cur, ones, padding=pad if layer == 0 else 0))[0, 0]
        w = torch.where(count > 0, 1.0 / count.clamp(min=1), torch.zeros_like(count))
        weights.append(w)
        masks.append(w > 0)
        cur = (w > 0).float()[None, None]
    return weights, masks


class ConvBNReLU(nn.Module):
    """Conv2d(k x k) + BatchNorm2d + ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernel: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels_out, kernel, padding=padding)
        self.bn = nn.BatchNorm2d(channels_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class ProposalConv(nn.Module):
    """``Tensor[B, H, N, N] -> (con: Tensor[B, J, N, N], iou: Tensor[B, J, N, N])``.

    ``num_layers`` ConvBNReLU(k x k, H -> H); only the first is padded, by ``(k - 1) * L // 2``, so the
    map keeps its N x N size. After each layer the map is multiplied by that layer's weight map (see
    :func:`propagate_mask`; fixed buffers computed once from the valid mask). Two 1x1 convs then
    project to the joint space ``J``: ``proj_con`` (contrastive branch) and ``proj_iou`` (IoU branch).

    ``dense=False`` (default) convolves only row bands covering each layer's mask (``num_bands`` per
    layer, see :mod:`.masked_conv`): the same values and gradients, BatchNorm batch statistics included,
    for about 59% (Charades) / 79% (ActivityNet) / 75% (TACoS) of the dense stack's conv work. ``dense=True`` runs the
    literal full-map stack (kept for testing and as the reference).
    """

    def __init__(self, hidden: int, joint_dim: int, kernel: int, num_layers: int, mask: torch.Tensor,
                 dense: bool = False, num_bands: int = 2):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"CONV_LAYERS must be >= 1, got {num_layers}")
        if ((kernel - 1) * num_layers) % 2:
            raise ValueError(f"(CONV_KERNEL - 1) * CONV_LAYERS must be even to keep the map size, "
                             f"got kernel {kernel}, layers {num_layers}")
        n = mask.shape[-1]
        pad = (kernel - 1) * num_layers // 2
        self.layers = nn.ModuleList(
            ConvBNReLU(hidden, hidden, kernel, padding=pad if i == 0 else 0) for i in range(num_layers))
        weights, _ = propagate_mask(mask, kernel, num_layers)
        if weights[-1].shape != (n, n):  # guards the padding arithmetic
            raise RuntimeError(f"proposal conv output {tuple(weights[-1].shape)} != ({n}, {n})")
        for i, w in enumerate(weights):
            self.register_buffer(f"weight_map_{i}", w, persistent=False)
        self.pad = pad
        self.dense = dense
        self.bands, self.work_fraction = plan_stack(weights, num_bands)
        self.proj_con = nn.Conv2d(hidden, joint_dim, 1)
        self.proj_iou = nn.Conv2d(hidden, joint_dim, 1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if self.layers[0].conv.weight.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)  # model converted to channels_last
        for i, layer in enumerate(self.layers):
            w = getattr(self, f"weight_map_{i}")
            if self.dense:
                x = layer(x) * w.to(x.dtype)
            else:
                x = banded_conv_bn_relu(x, layer.conv, layer.bn, w, self.bands[i], self.pad if i == 0 else 0)
        return self.proj_con(x), self.proj_iou(x)
