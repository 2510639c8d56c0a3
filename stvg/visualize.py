"""Drawing helpers: tube overlays and contact sheets (OpenCV drawing on RGB ``uint8`` frames).

    sheet = contact_sheet(frames, frame_indices, tubes, cols=4)       # uint8[H', W', 3] RGB
    save_image("sheet.png", sheet)
"""
from __future__ import annotations

import colorsys
import os
from typing import Optional, Sequence

import cv2
import numpy as np

from .io import atomic_write
from .structures import Tube

__all__ = ["tube_colour", "draw_tubes", "contact_sheet", "save_image"]


def tube_colour(i: int) -> tuple:
    """A distinct, saturated RGB colour for tube ``i`` (golden-ratio hue steps, deterministic)."""
    h = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_tubes(frame: np.ndarray, frame_index: int, tubes: Sequence[Tube],
               ids: Optional[Sequence[int]] = None, thickness: int = 2) -> np.ndarray:
    """Copy of ``frame uint8[H, W, 3]`` with the box of every tube present on ``frame_index``
    drawn in the tube's colour and labelled with its id (default: its position in ``tubes``)."""
    out = np.ascontiguousarray(frame).copy()
    ids = list(range(len(tubes))) if ids is None else list(ids)
    scale = max(0.4, out.shape[0] / 600)
    for tid, tube in zip(ids, tubes):
        if len(tube) == 0 or not tube.start_frame <= frame_index <= tube.end_frame:
            continue
        pos = int(np.searchsorted(tube.frames.cpu().numpy(), frame_index))
        if pos >= len(tube) or int(tube.frames[pos]) != frame_index:
            continue  # a sparse tube with no box on this frame
        x1, y1, x2, y2 = (int(round(float(v))) for v in tube.boxes[pos])
        col = tube_colour(tid)
        cv2.rectangle(out, (x1, y1), (x2, y2), col, thickness)
        label = str(tid)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, 1)
        ty = max(y1, th + base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 4, ty), col, -1)
        cv2.putText(out, label, (x1 + 2, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out


def contact_sheet(frames: np.ndarray, frame_indices: Sequence[int], tubes: Sequence[Tube],
                  cols: int = 4, thumb_width: int = 384, ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """Frames ``uint8[N, H, W, 3]`` (RGB, decoded frames ``frame_indices``) with the tubes drawn,
    resized to ``thumb_width`` and tiled ``cols`` per row, each captioned with its frame index.
    -> ``uint8[rows * h', cols * thumb_width, 3]`` RGB."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"contact_sheet: expected uint8 frames [N, H, W, 3], got {frames.dtype} "
                         f"{list(frames.shape)}")
    if len(frame_indices) != frames.shape[0]:
        raise ValueError(f"contact_sheet: {frames.shape[0]} frames but {len(frame_indices)} indices")
    n, h, w = frames.shape[:3]
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    th = max(1, int(round(h * thumb_width / w)))
    sheet = np.zeros((rows * th, cols * thumb_width, 3), np.uint8)
    for k, (img, f) in enumerate(zip(frames, frame_indices)):
        drawn = draw_tubes(img, int(f), tubes, ids, thickness=max(2, int(round(2 * w / thumb_width))))
        thumb = cv2.resize(drawn, (thumb_width, th), interpolation=cv2.INTER_AREA)
        cv2.putText(thumb, f"frame {int(f)}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        r, c = divmod(k, cols)
        sheet[r * th:(r + 1) * th, c * thumb_width:(c + 1) * thumb_width] = thumb
    return sheet


def save_image(path: str, image: np.ndarray) -> None:
    """Write an RGB ``uint8[H, W, 3]`` image (format from the suffix: .png, .jpg) atomically."""
    ext = os.path.splitext(path)[1] or ".png"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode an image as {ext!r}")
    with atomic_write(path, "wb", encoding=None) as fh:
        fh.write(buf.tobytes())
