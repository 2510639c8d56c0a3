"""Frame resizing/cropping as the chosen weights expect; runs on CPU inside the decode workers.

Frame models (RoI features need the whole frame): resize only, to the configured size or, by
default, shorter side = the weights' crop size (224). Clip models: the weights' own video transform,
resize to ``resize_size`` (one value: shorter side; two: exact [h, w]) then a centre crop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import torch

from ..config import Config, ConfigError

__all__ = ["FrameTransform", "build_transform"]


def _size_list(value, key: str) -> Optional[List[int]]:
    if value is None or value == 0:
        return None
    size = [value] if isinstance(value, int) else list(value)
    if len(size) not in (1, 2) or not all(isinstance(v, int) and v > 0 for v in size):
        raise ConfigError(f"{key} must be a positive int or [h, w], got {value!r}")
    return size


@dataclass(frozen=True)
class FrameTransform:
    """uint8[N, H, W, 3] -> uint8[N, h, w, 3]: resize (antialiased) then optional centre crop."""

    resize: List[int]
    crop: Optional[List[int]] = None

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as F

        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
        x = F.resize(x, self.resize, antialias=True)
        if self.crop is not None:
            x = F.center_crop(x, self.crop)
        return x.permute(0, 2, 3, 1).contiguous()


def build_transform(cfg: Config, kind: str, resize_size: List[int], crop_size: List[int]) -> FrameTransform:
    """The transform for a backbone of ``kind`` with the weights' ``resize_size``/``crop_size``."""
    resize = _size_list(cfg.INPUT.RESIZE, "INPUT.RESIZE")
    crop = _size_list(cfg.INPUT.CROP, "INPUT.CROP")
    if kind == "frame":
        if crop is not None:
            raise ConfigError("INPUT.CROP must be null or 0 for frame models: the whole frame is kept "
                              "so that boxes can be pooled anywhere in it")
        return FrameTransform(resize or [int(crop_size[0])])
    if cfg.INPUT.CROP is None:
        crop = [int(v) for v in crop_size]
    return FrameTransform(resize or [int(v) for v in resize_size], crop)
