"""Box tightening against a static background: fit each detection box to the person's pixels.

A sliding-window detector such as HOG returns its window, not the person's outline (a margin on
every side, and the arms of a waving person outside it). When the camera does not move, the
video's per-pixel median over frames is the background; the pixels that differ from it inside a
padded detection box are the person (and anything else that moves there). ``TIGHTEN.METHOD
background`` replaces a box by the extent of those pixels, and keeps it unchanged where that fit
is not trusted: too few foreground pixels (a person who stands still for most of the video is part
of the median), foreground from edge to edge of the search region, across and down (the background
does not hold there: a moving camera, a light change, a crowd), or a fit that overlaps the
detector's box by less than ``TIGHTEN.MIN_IOU`` (another person or a moving object next to it).

Used on the raw detections, before linking (``spatial.tubes.build_video_tubes`` and
``stvg.pipeline.STVGPredictor.prepare``), so a detection cache keeps the detector's own output.
Meant for static cameras (the synthetic data; fixed surveillance-style shots). HC-STVG's movie
clips pan and cut, so its configs leave it off (``METHOD none``).

    params = TightenParams.from_config(cfg.TIGHTEN)
    bg = background_model(reader, first, last, params.background_frames)  # uint8[H, W, 3]
    dets = tighten_detections(frames, dets, bg, params)                    # frames: uint8[N, H, W, 3]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
from scipy import ndimage

from stvg.ops import box_iou_aligned_np
from stvg.structures import Detections

__all__ = ["TightenParams", "METHODS", "background_model", "tighten_boxes", "tighten_detections"]

METHODS = ("none", "background")


@dataclass(frozen=True)
class TightenParams:
    """``TIGHTEN`` config section.

    method: ``none`` or ``background``.
    threshold: a pixel is foreground when some channel differs from the background by more (0-255).
    pad: the search region is the box grown by this share of its width / height on each side.
    min_iou: the fitted box replaces the detector's only when their IoU is at least this.
    min_fill: ... and when the foreground covers at least this share of the detector's box area.
    min_blob: connected foreground pieces smaller than this share of the region are noise.
    background_frames: frames (evenly spread) whose per-pixel median is the background.
    """

    method: str = "none"
    threshold: float = 25.0
    pad: float = 0.15
    min_iou: float = 0.55
    min_fill: float = 0.1
    min_blob: float = 0.02
    background_frames: int = 40

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"TIGHTEN.METHOD must be one of {list(METHODS)}, got {self.method!r}")
        if not 0 < self.threshold < 255:
            raise ValueError(f"TIGHTEN.THRESHOLD must be in (0, 255), got {self.threshold}")
        if not 0 <= self.pad <= 1:
            raise ValueError(f"TIGHTEN.PAD must be in [0, 1], got {self.pad}")
        for name in ("min_iou", "min_fill", "min_blob"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"TIGHTEN.{name.upper()} must be in [0, 1], got {v}")
        if self.background_frames < 3:
            raise ValueError(f"TIGHTEN.BACKGROUND_FRAMES must be at least 3, got {self.background_frames}")

    @property
    def enabled(self) -> bool:
        return self.method != "none"

    @classmethod
    def from_config(cls, c) -> "TightenParams":
        return cls(str(c.METHOD), float(c.THRESHOLD), float(c.PAD), float(c.MIN_IOU), float(c.MIN_FILL),
                   float(c.MIN_BLOB), int(c.BACKGROUND_FRAMES))


def background_model(reader, first: int, last: int, count: int) -> np.ndarray:
    """``uint8[H, W, 3]``: per-pixel median of ``count`` frames spread evenly over ``first..last``
    (inclusive, 0-based) of a :class:`stvg.video.VideoReader`."""
    idx = np.unique(np.linspace(first, last, num=max(1, min(count, last - first + 1))).round().astype(np.int64))
    return np.median(reader.get_frames(idx.tolist()), axis=0).round().astype(np.uint8)


def _spans(pos: np.ndarray, lo: int, hi: int, size: int) -> bool:
    """Foreground positions (relative to ``lo``) reach both ends of the search range ``lo..hi``, and
    neither end is the frame's edge (a person cut by the frame may touch that one)."""
    return bool(pos.min() == 0 and pos.max() == hi - lo - 1 and lo > 0 and hi < size)


def tighten_boxes(frame: np.ndarray, boxes: np.ndarray, background: np.ndarray, p: TightenParams) -> np.ndarray:
    """``float32[N, 4]``: ``boxes`` (x1, y1, x2, y2 pixels) of one ``uint8[H, W, 3]`` frame, each fitted
    to the foreground pixels around it, or left as it is where the fit is not trusted (module doc)."""
    out = np.array(boxes, np.float32).reshape(-1, 4)
    if frame.shape != background.shape:
        raise ValueError(f"tighten: frame of shape {list(frame.shape)} but background of shape "
                         f"{list(background.shape)}")
    h_img, w_img = frame.shape[:2]
    for k, (x1, y1, x2, y2) in enumerate(out.tolist()):
        w, h = x2 - x1, y2 - y1
        if w <= 1 or h <= 1:
            continue
        rx1, ry1 = int(max(0, np.floor(x1 - p.pad * w))), int(max(0, np.floor(y1 - p.pad * h)))
        rx2, ry2 = int(min(w_img, np.ceil(x2 + p.pad * w))), int(min(h_img, np.ceil(y2 + p.pad * h)))
        if rx2 - rx1 < 3 or ry2 - ry1 < 3:
            continue
        diff = np.abs(frame[ry1:ry2, rx1:rx2].astype(np.int16) - background[ry1:ry2, rx1:rx2].astype(np.int16))
        fg = ndimage.binary_opening(diff.max(axis=-1) > p.threshold)
        labels, n = ndimage.label(fg)
        if n == 0:
            continue
        sizes = ndimage.sum_labels(fg, labels, np.arange(1, n + 1))
        big = 1 + np.flatnonzero(sizes >= p.min_blob * fg.size)
        keep = np.isin(labels, big)
        if keep.sum() < p.min_fill * w * h:
            continue
        ys, xs = np.nonzero(keep)
        if _spans(xs, rx1, rx2, w_img) and _spans(ys, ry1, ry2, h_img):
            continue  # foreground from edge to edge: the background does not hold here (camera moved)
        fit = np.array([rx1 + xs.min(), ry1 + ys.min(), rx1 + xs.max() + 1, ry1 + ys.max() + 1], np.float32)
        if box_iou_aligned_np(fit.astype(np.float64), out[k].astype(np.float64)) >= p.min_iou:
            out[k] = fit
    return out


def tighten_detections(frames: np.ndarray, detections: Sequence[Detections], background: np.ndarray,
                       p: TightenParams) -> List[Detections]:
    """``detections[i]`` (on ``frames[i]``, ``uint8[N, H, W, 3]``) with their boxes tightened; scores and
    frame indices kept."""
    if len(frames) != len(detections):
        raise ValueError(f"tighten: {len(frames)} frames for {len(detections)} detection lists")
    return [Detections(tighten_boxes(f, d.boxes.numpy(), background, p), d.scores, d.frame)
            for f, d in zip(frames, detections)]
