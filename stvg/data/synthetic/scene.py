"""Backgrounds (wall, floor, panels, texture) and per-frame sensor noise."""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["make_background", "NoiseBank"]


def make_background(rng: np.random.Generator, width: int, height: int, horizon: float) -> np.ndarray:
    """``uint8[H, W, 3]`` RGB: a shaded wall above ``horizon`` (fraction of the height), a floor
    below, a few muted panels (doors, windows, shelves) on the wall, and blurred texture noise."""
    img = np.empty((height, width, 3), np.float32)
    hy = int(horizon * height)
    wall = rng.uniform(70, 200, 3)
    floor = rng.uniform(50, 170, 3)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img[:hy] = wall * (0.85 + 0.3 * ys[:hy])
    img[hy:] = floor * (0.8 + 0.4 * ys[hy:])
    for _ in range(int(rng.integers(2, 6))):  # panels on the wall, low contrast
        w = int(rng.uniform(0.06, 0.25) * width)
        h = int(rng.uniform(0.15, 0.6) * hy)
        x = int(rng.uniform(0, width - w))
        y = int(rng.uniform(0, max(1, hy - h)))
        shade = wall * rng.uniform(0.75, 1.25) + rng.normal(0, 10, 3)
        img[y:y + h, x:x + w] = shade
    tex = rng.normal(0.0, 1.0, (height // 4 + 1, width // 4 + 1)).astype(np.float32)
    tex = cv2.resize(cv2.GaussianBlur(tex, (0, 0), 1.5), (width, height), interpolation=cv2.INTER_LINEAR)
    img += (rng.uniform(4, 10) * tex)[:, :, None]
    return np.clip(img, 0, 255).astype(np.uint8)


class NoiseBank:
    """A few frames of Gaussian sensor noise drawn once per video (split into saturating positive
    and negative uint8 parts); each frame gets one of them, so no H x W x 3 normals per frame."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, sigma: float, size: int = 6) -> None:
        self.sigma = sigma
        if sigma > 0:
            noise = np.clip(np.round(rng.standard_normal((size, height, width, 3), dtype=np.float32) * sigma),
                            -255, 255)
            self.pos = np.clip(noise, 0, None).astype(np.uint8)
            self.neg = np.clip(-noise, 0, None).astype(np.uint8)

    def apply(self, rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
        """``uint8[H, W, 3]`` -> the same plus noise (saturating at 0 and 255)."""
        if self.sigma <= 0:
            return frame
        k = int(rng.integers(len(self.pos)))
        return cv2.subtract(cv2.add(frame, self.pos[k]), self.neg[k])
