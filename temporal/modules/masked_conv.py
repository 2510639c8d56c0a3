"""Exact, cheaper evaluation of one masked proposal-conv layer: compute only the cells that survive.

After layer l the map is multiplied by a weight map that is zero outside the propagated mask, so only
the cells inside the mask need a convolution; every other output cell is exactly 0. We cover the
mask with a few row bands, each with the column range its mask cells need, and convolve only those
windows (each computed cell is computed once; the input outside the previous mask is exactly zero, so
slicing and zero-padding it is equivalent to the full padded convolution).

BatchNorm in training mode must still see the full map: a cell outside every band has a window of
zeros only, so its conv output is exactly the conv bias. The batch statistics add those cells back
analytically (count x bias), which is the same mathematics (values and gradients) as the dense stack.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Band:
    """Output rows ``[r0, r1)`` and columns ``[c0, c1)`` to compute (full-map output coordinates)."""
    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def area(self) -> int:
        return (self.r1 - self.r0) * (self.c1 - self.c0)


def plan_bands(mask: torch.Tensor, num_bands: int) -> List[Band]:
    """Cover the True cells of ``mask`` (``BoolTensor[S, S]``) with up to ``num_bands`` row bands of
    equal height, each spanning the columns its True cells need (empty bands dropped)."""
    rows = torch.nonzero(mask.any(dim=1)).flatten()
    if rows.numel() == 0:
        return []
    lo, hi = int(rows.min()), int(rows.max()) + 1
    height = -(-(hi - lo) // max(1, num_bands))
    bands = []
    for r0 in range(lo, hi, height):
        r1 = min(hi, r0 + height)
        cols = torch.nonzero(mask[r0:r1].any(dim=0)).flatten()
        if cols.numel():
            bands.append(Band(r0, r1, int(cols.min()), int(cols.max()) + 1))
    return bands


def _window(x: torch.Tensor, band: Band, kernel: int, pad: int) -> torch.Tensor:
    """``x`` zero-padded by ``pad`` on each side, restricted to the input window of ``band``."""
    h, w = x.shape[-2:]
    r0, r1 = band.r0 - pad, band.r1 + kernel - 1 - pad
    c0, c1 = band.c0 - pad, band.c1 + kernel - 1 - pad
    sl = x[..., max(r0, 0):min(r1, h), max(c0, 0):min(c1, w)]
    extra = (max(0, -c0), max(0, c1 - w), max(0, -r0), max(0, r1 - h))
    return F.pad(sl, extra) if any(extra) else sl


def banded_conv_bn_relu(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d, weight_map: torch.Tensor,
                        bands: List[Band], pad: int) -> torch.Tensor:
    """``relu(bn(conv(x))) * weight_map`` computed on ``bands`` only; zero elsewhere.

    Args:
        x: ``Tensor[B, C, H, W]``, zero outside the previous layer's mask.
        weight_map: ``Tensor[S, S]`` of this layer (zero outside the bands' mask cells).
        pad: the conv's (symmetric) padding.
    Returns:
        ``Tensor[B, C_out, S, S]``.
    """
    k = conv.kernel_size[0]
    s = weight_map.shape[-1]
    ys = [F.conv2d(_window(x, b, k, pad), conv.weight, conv.bias) for b in bands]
    b_count = x.shape[0]
    acc = torch.promote_types(ys[0].dtype if ys else x.dtype, torch.float32)  # statistics in >= float32
    if bn.training:
        if bn.momentum is None:
            raise NotImplementedError("BatchNorm momentum=None (cumulative average) is not supported")
        n_total = b_count * s * s
        n_rest = b_count * (s * s - sum(b.area for b in bands))
        bias = conv.bias.to(acc) if conv.bias is not None else torch.zeros(conv.out_channels, device=x.device, dtype=acc)
        total = sum(y.to(acc).sum(dim=(0, 2, 3)) for y in ys) + n_rest * bias
        mean = total / n_total
        sq = sum(((y.to(acc) - mean[:, None, None]) ** 2).sum(dim=(0, 2, 3)) for y in ys) + n_rest * (bias - mean) ** 2
        var = sq / n_total
        if bn.track_running_stats:
            with torch.no_grad():
                bn.num_batches_tracked += 1
                m = bn.momentum
                bn.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                bn.running_var.mul_(1 - m).add_(var.detach() * n_total / max(1, n_total - 1), alpha=m)
    else:
        mean, var = bn.running_mean.to(acc), bn.running_var.to(acc)
    scale = torch.rsqrt(var + bn.eps)
    if bn.affine:
        shift = bn.bias.to(acc) - mean * scale * bn.weight.to(acc)
        scale = scale * bn.weight.to(acc)
    else:
        shift = -mean * scale
    out = x.new_zeros(b_count, conv.out_channels, s, s, dtype=ys[0].dtype if ys else x.dtype)
    if conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    for band, y in zip(bands, ys):
        z = torch.relu(y * scale[:, None, None].to(y.dtype) + shift[:, None, None].to(y.dtype))
        out[..., band.r0:band.r1, band.c0:band.c1] = z * weight_map[band.r0:band.r1, band.c0:band.c1].to(z.dtype)
    return out


def plan_stack(weights: List[torch.Tensor], num_bands: int) -> Tuple[List[List[Band]], float]:
    """Bands of every layer and the fraction of the dense stack's conv cells they compute."""
    plans = [plan_bands(w > 0, num_bands) for w in weights]
    dense = sum(w.numel() for w in weights)
    return plans, sum(b.area for p in plans for b in p) / dense
