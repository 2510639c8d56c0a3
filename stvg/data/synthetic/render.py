"""Pixels of a sampled video: background, people far to near, sensor noise.

``render_video(spec) -> uint8[T, H, W, 3]`` RGB. The noise comes from its own generator
(seeded by the video's seed and index), so rendering never changes the annotations.
"""
from __future__ import annotations

import cv2
import numpy as np

from .figure import draw_primitives
from .scene import NoiseBank, make_background
from .spec import VideoSpec

__all__ = ["render_video"]


def render_video(spec: VideoSpec, noise: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, spec.index, 2])
    background = make_background(rng, spec.width, spec.height, spec.horizon)
    bank = NoiseBank(rng, spec.width, spec.height, noise)
    order = spec.draw_order()
    frames = np.empty((spec.num_frames, spec.height, spec.width, 3), np.uint8)
    gain = 1.0 + np.cumsum(rng.normal(0.0, 0.004, spec.num_frames))  # slow exposure drift
    for f in range(spec.num_frames):
        img = background.copy()
        for p in order:
            if p.prims[f] is not None:
                draw_primitives(img, p.prims[f])
        if abs(gain[f] - 1.0) > 1e-3:
            img = cv2.convertScaleAbs(img, alpha=float(np.clip(gain[f], 0.85, 1.15)))
        frames[f] = bank.apply(rng, img)
    return frames
