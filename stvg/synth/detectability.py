"""How well OpenCV's pretrained HOG people detector finds the rendered people.

The default HOG people detector (Dalal & Triggs, ``cv2.HOGDescriptor_getDefaultPeopleDetector``)
scores 64 x 128 windows in which the person stands about 96 px tall with a margin all round.
:func:`hog_people` runs it on the frame (optionally upscaled) and maps each window to a person box
by trimming the 16-pixel margin Dalal and Triggs put around the person on every side
(``WINDOW_MARGINS``: 25% of the width left and right, 12.5% of the height top and bottom); the
raw windows are available with ``margins=(0, 0)``.

:func:`match_frame` scores one frame: recall on fully visible people at IoU >= 0.5 (one
detection per person, greedy by IoU) and false positives (detections matching no person on
screen, fully visible or not, at IoU >= 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

__all__ = ["WINDOW_MARGINS", "hog_people", "box_iou_np", "match_frame", "FrameScore", "detectability"]

WINDOW_MARGINS = (0.25, 0.125)   # (x, y) share of the 64 x 128 window trimmed on each side (16 px)
_HOG = None


def _hog() -> cv2.HOGDescriptor:
    global _HOG
    if _HOG is None:
        _HOG = cv2.HOGDescriptor()
        _HOG.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    return _HOG


def hog_people(frame: np.ndarray, upscale: float = 1.0, hit_threshold: float = 0.0,
               margins: Tuple[float, float] = WINDOW_MARGINS, win_stride: int = 8,
               scale: float = 1.05) -> np.ndarray:
    """People in ``uint8[H, W, 3]`` RGB -> ``float64[N, 4]`` x1, y1, x2, y2 in frame pixels.

    ``upscale`` resizes the frame before detection (the detector needs people >= ~96 px tall;
    at the default sizes 1.0 measured best: see docs/synthetic.md); boxes come back in the
    original frame's pixels.
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
    matched: np.ndarray  # bool[M]: person matched by a detection


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
    return FrameScore(int(fv.sum()), int((matched_person & fv).sum()), len(dets), int((~matched_det).sum()),
                      matched_person)


def detectability(data_dir: str, frame_step: int = 4, upscale: float = 1.0, hit_threshold: float = 0.0,
                  margins: Tuple[float, float] = WINDOW_MARGINS, max_videos: int = 0) -> dict:
    """HOG recall / false positives over a generated folder, on the decoded videos.

    Returns ``{"frames", "visible", "recall", "fp_per_frame", "background_fp_per_frame",
    "per_action": {action: (count, recall)}, "upright_recall"}`` where background false positives
    overlap no person at IoU >= 0.1 and ``upright_recall`` leaves out crouching people.
    """
    import os

    from ..io import read_json
    from ..video import VideoReader

    tubes = read_json(os.path.join(data_dir, "all_tubes.json"), "synthetic all_tubes file")
    meta = read_json(os.path.join(data_dir, "meta.json"), "synthetic meta file")["videos"]
    frames = visible = found = fp = bg_fp = 0
    per_action: dict = {}
    for k, (vid, entry) in enumerate(tubes.items()):
        if max_videos and k >= max_videos:
            break
        reader = VideoReader(os.path.join(data_dir, "videos", vid))
        idx = list(range(0, entry["img_num"], frame_step))
        images = reader.get_frames(idx)
        for f, img in zip(idx, images):
            num = str(f + 1)
            pids = [p for p, t in entry["people"].items() if num in t["bbox"]]
            boxes = np.array([entry["people"][p]["bbox"][num] for p in pids], np.float64).reshape(-1, 4)
            fv = np.array([f + 1 in set(entry["people"][p]["fully_visible"]) for p in pids], bool)
            dets = hog_people(img, upscale=upscale, hit_threshold=hit_threshold, margins=margins)
            score = match_frame(dets, boxes, fv)
            iou = box_iou_np(dets, boxes)
            frames += 1
            visible += score.visible
            found += score.found
            fp += score.false_positives
            bg_fp += int((iou.max(axis=1) < 0.1).sum()) if iou.shape[1] else len(dets)
            hit = score.matched
            for j, p in enumerate(pids):
                if not fv[j]:
                    continue
                act = next((a["action"] for a in meta[vid]["people"][p]["actions"]
                            if a["st_frame"] <= f + 1 <= a["ed_frame"]), "none")
                c = per_action.setdefault(act, [0, 0])
                c[0] += 1
                c[1] += int(hit[j])
    upright = [c for a, c in per_action.items() if a != "crouch"]
    up_n = sum(c[0] for c in upright)
    return {"frames": frames, "visible": visible, "recall": found / max(1, visible),
            "fp_per_frame": fp / max(1, frames), "background_fp_per_frame": bg_fp / max(1, frames),
            "upright_recall": sum(c[1] for c in upright) / max(1, up_n),
            "per_action": {a: (c[0], c[1] / max(1, c[0])) for a, c in sorted(per_action.items())}}
