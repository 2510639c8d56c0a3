"""OpenCV's pretrained HOG + linear SVM pedestrian detector (Dalal & Triggs), offline, CPU.

The weights ship inside OpenCV (``cv2.HOGDescriptor_getDefaultPeopleDetector``). The detector
needs people at least ~96 px tall: ``upscale`` enlarges small frames first (boxes come back in the
original frame's pixels). Scores are the SVM margins of the grouped windows (not probabilities;
0 is the decision boundary). The 64 x 128 window has a margin around the person; ``margins``
trims that share of the window's width / height from each side. OpenCV groups overlapping windows
(``group_threshold``); ``nms_iou`` in (0, 1) additionally runs ``torchvision.ops.nms`` on the
grouped boxes (grouping leaves nested boxes of one person at different scales). Detections come best first
(ties by box): OpenCV's multi-threaded search returns them in a run-dependent order.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torchvision.ops import nms

from stvg.engine import resolve_device

from .base import PersonDetector

__all__ = ["HOGDetector", "WINDOW"]

WINDOW = (64, 128)  # (width, height) of the detection window in pixels


class HOGDetector(PersonDetector):
    name = "hog"

    def __init__(self, score_threshold: float = 0.0, top_k: int = 100, batch_size: int = 1,
                 upscale: float = 1.0, win_stride: int = 8, padding: int = 8, scale: float = 1.05,
                 group_threshold: float = 2.0, margins: Sequence[float] = (0.25, 0.125),
                 nms_iou: float = 0.0, device: Any = None) -> None:
        super().__init__(score_threshold, top_k, batch_size)
        resolve_device(device)  # HOG runs on the CPU; a bad or unavailable device is still an error
        if upscale <= 0 or scale <= 1.0 or win_stride < 1:
            raise ValueError(f"hog: need upscale > 0, scale > 1, win_stride >= 1 "
                             f"(got {upscale}, {scale}, {win_stride})")
        if len(margins) != 2 or not all(0 <= m < 0.5 for m in margins):
            raise ValueError(f"hog: margins must be two shares in [0, 0.5), got {list(margins)}")
        self.upscale, self.win_stride, self.padding = float(upscale), int(win_stride), int(padding)
        self.scale, self.group_threshold = float(scale), float(group_threshold)
        self.margins = (float(margins[0]), float(margins[1]))
        self.nms_iou = float(nms_iou)
        if not hasattr(cv2, "HOGDescriptor"):
            raise ImportError(f"the 'hog' detector needs OpenCV 4 (cv2.HOGDescriptor and its people detector); "
                              f"this OpenCV {cv2.__version__} has none: pip install 'opencv-python-headless<5'")
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def setting(self) -> Dict[str, Any]:
        s = super().setting()
        s.update(upscale=self.upscale, win_stride=self.win_stride, padding=self.padding,
                 scale=self.scale, group_threshold=self.group_threshold, margins=list(self.margins),
                 nms_iou=self.nms_iou,
                 opencv=cv2.__version__)
        return s

    def _detect_one(self, frame: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if self.upscale != 1.0:
            img = cv2.resize(img, None, fx=self.upscale, fy=self.upscale, interpolation=cv2.INTER_LINEAR)
        if img.shape[0] < WINDOW[1] or img.shape[1] < WINDOW[0]:
            # Smaller than one detection window: no person fits (and OpenCV crashes on it).
            return np.zeros((0, 4)), np.zeros((0,))
        # hitThreshold stays below the score threshold so grouping sees every window; the
        # score threshold is applied to the grouped windows' margins afterwards.
        rects, weights = self._hog.detectMultiScale(
            img, hitThreshold=min(0.0, self.score_threshold), winStride=(self.win_stride,) * 2,
            padding=(self.padding,) * 2, scale=self.scale, groupThreshold=self.group_threshold)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros((0,))
        r = np.asarray(rects, dtype=np.float64).reshape(-1, 4) / self.upscale
        mx, my = self.margins[0] * r[:, 2], self.margins[1] * r[:, 3]
        boxes = np.stack([r[:, 0] + mx, r[:, 1] + my, r[:, 0] + r[:, 2] - mx, r[:, 1] + r[:, 3] - my], 1)
        scores = np.asarray(weights, dtype=np.float64).reshape(-1)
        # OpenCV's threads append windows in a run-dependent order: sort best first (ties by box)
        # so that the same frame always gives the same list, whatever cv2.getNumThreads().
        order = np.lexsort((boxes[:, 3], boxes[:, 2], boxes[:, 1], boxes[:, 0], -scores))
        boxes, scores = boxes[order], scores[order]
        if 0.0 < self.nms_iou < 1.0 and len(scores) > 1:
            keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), self.nms_iou).numpy()
            boxes, scores = boxes[keep], scores[keep]
        return boxes, scores

    def _detect_batch(self, frames: np.ndarray, frame_indices: List[int],
                      video_id: Optional[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
        return [self._detect_one(f) for f in frames]
