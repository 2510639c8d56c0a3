"""How well OpenCV's pretrained HOG people detector finds the rendered people.

The default HOG people detector (Dalal & Triggs, ``cv2.HOGDescriptor_getDefaultPeopleDetector``)
scores 64 x 128 windows in which the person stands about 96 px tall with a margin all round.
:func:`hog_people` runs it on an optionally upscaled frame and maps each window to a person box
by trimming fixed margins (``WINDOW_MARGINS``: 12.5% top and bottom, the Dalal-Triggs margin,
and 17% left and right, the median width of our figures in their windows); the raw windows are
available with ``margins=(0, 0)``.

:func:`match_frame` scores one frame: recall on fully visible people at IoU >= 0.5 (one
detection per person, greedy by IoU) and false positives (detections matching no person on
screen, fully visible or not, at IoU >= 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

__all__ = ["WINDOW_MARGINS", "hog_people", "box_iou_np", "match_frame", "FrameScore"]

WINDOW_MARGINS = (0.17, 0.125)   # (x, y) share of the window trimmed on each side
_HOG = None


def _hog() -> cv2.HOGDescriptor:
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        _HOG.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return _HOG


def hog_people(frame: np.ndarray, upscale: float = 1.5, hit_threshold: float = 0.0,
               margins: Tuple[float, float] = WINDOW_MARGINS, win_stride: int = 8,
               scale: float = 1.05) -> np.ndarray:
    """People in ``uint8[H, W, 3]`` RGB -> ``float64[N, 4]`` x1, y1, x2, y2 in frame pixels.

    ``upscale`` resizes the frame before detection (the detector needs people >= ~96 px tall);
    boxes come back in the original frame's pixels.
    """
    img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    if upscale != 1.0:
        img = cv2.resize(img, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR)
    rects, _ = _hog().detectMultiScale(img, hitThreshold=hit_threshold, winStride=(win_stride, win_stride),
                                       padding=(8, 8), scale=scale)
    if len(rects) == 0:
        return np.zeros((0, 4))
    r = np.asarray(rects, dtype=np.float64).reshape(-1, 4) / upscale
    mx, my = margins[0] * r[:, 2], margins[1] * r[:, 3]
    return np.stack([r[:, 0] + mx, r[:, 1] + my, r[:, 0] + r[:, 2] - mx, r[:, 1] + r[:, 3] - my], axis=1)


def box_iou_np(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``float[N, 4]`` x ``float[M, 4]`` (x1, y1, x2, y2) -> IoU ``float64[N, M]``."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@dataclass
class FrameScore:
    visible: int        # fully visible people
    found: int          # of those, matched by a detection at IoU >= thr
    detections: int
    false_positives: int


def match_frame(dets: np.ndarray, people: np.ndarray, fully_visible: np.ndarray, thr: float = 0.5) -> FrameScore:
    """Greedy one-to-one matching by IoU of ``dets float[N, 4]`` to ``people float[M, 4]`` (every
    person on screen, clipped boxes); ``fully_visible bool[M]`` marks who counts for recall."""
    iou = box_iou_np(dets, people)
    matched_det = np.zeros(len(dets), bool)
    matched_person = np.zeros(len(people), bool)
    if iou.size:
        for flat in np.argsort(-iou, axis=None):
            d, p = np.unravel_index(flat, iou.shape)
            if iou[d, p] < thr:
                break
            if not matched_det[d] and not matched_person[p]:
                matched_det[d] = matched_person[p] = True
    fv = np.asarray(fully_visible, bool)
    return FrameScore(int(fv.sum()), int((matched_person & fv).sum()), len(dets), int((~matched_det).sum()))
