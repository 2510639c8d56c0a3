"""The person-detector interface: frames ``uint8[T, H, W, 3]`` (RGB) in, one ``Detections`` per frame out.

Every backend implements :meth:`PersonDetector._detect_batch` (raw person boxes and scores for a
batch of frames); the base class validates the input, splits it into batches, and post-processes
each frame the same way (:func:`finalize_frame`): non-finite boxes dropped and counted, boxes
clipped to the frame, empty boxes dropped, score threshold, best-first order, per-frame top-k.
Outputs are CPU tensors whatever device the model runs on.
"""
from __future__ import annotations

import abc
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from stvg.structures import Detections

__all__ = ["PersonDetector", "finalize_frame", "check_frames"]


def check_frames(frames: Any) -> np.ndarray:
    """Validate ``uint8[T, H, W, 3]`` frames (numpy or a CPU tensor) and return them as numpy."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"frames: expected a uint8 array [T, H, W, 3], got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected shape [T, H, W, 3] (RGB), got {list(frames.shape)}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames: expected dtype uint8, got {frames.dtype}")
    return frames


def finalize_frame(boxes: np.ndarray, scores: np.ndarray, width: int, height: int,
                   score_threshold: float, top_k: int, frame: Optional[int]) -> Tuple[Detections, int]:
    """Raw ``boxes float[N, 4]`` (x1, y1, x2, y2) and ``scores float[N]`` -> (``Detections``, number of
    non-finite boxes dropped). Boxes are clipped to ``[0, width] x [0, height]``; boxes left with no
    area and scores below ``score_threshold`` are dropped; the rest sorted best first (stable) and cut
    to ``top_k`` (``top_k <= 0``: no cap)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.shape[0] != scores.shape[0]:
        raise ValueError(f"frame {frame}: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores)
    dropped = int((~finite).sum())
    boxes, scores = boxes[finite], scores[finite]
    x1 = np.clip(np.minimum(boxes[:, 0], boxes[:, 2]), 0, width)
    x2 = np.clip(np.maximum(boxes[:, 0], boxes[:, 2]), 0, width)
    y1 = np.clip(np.minimum(boxes[:, 1], boxes[:, 3]), 0, height)
    y2 = np.clip(np.maximum(boxes[:, 1], boxes[:, 3]), 0, height)
    boxes = np.stack([x1, y1, x2, y2], axis=1)
    keep = (x2 > x1) & (y2 > y1) & (scores >= score_threshold)
    boxes, scores = boxes[keep], scores[keep]
    order = np.argsort(-scores, kind="stable")
    if top_k > 0:
        order = order[:top_k]
    det = Detections(torch.from_numpy(boxes[order].astype(np.float32)),
                     torch.from_numpy(scores[order].astype(np.float32)), frame=frame)
    return det, dropped


class PersonDetector(abc.ABC):
    """Base class of the person detectors.

    Args:
        score_threshold: keep detections scoring at least this (in the backend's own score units).
        top_k: at most this many detections per frame, best first (``<= 0``: no cap).
        batch_size: frames per forward pass.
    Attributes:
        needs_frames: False for backends that read stored detections (no decoding needed).
        num_dropped_nonfinite: non-finite boxes dropped so far.
    """

    name = "base"
    needs_frames = True

    def __init__(self, score_threshold: float = 0.5, top_k: int = 100, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.score_threshold = float(score_threshold)
        self.top_k = int(top_k)
        self.batch_size = int(batch_size)
        self.num_dropped_nonfinite = 0

    def setting(self) -> Dict[str, Any]:
        """Everything that changes the output (the cache key hashes it). Subclasses extend it."""
        return {"detector": self.name, "score_threshold": self.score_threshold, "top_k": self.top_k}

    @abc.abstractmethod
    def _detect_batch(self, frames: np.ndarray, frame_indices: List[int],
                      video_id: Optional[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
        """``uint8[B, H, W, 3]`` RGB (their frame indices, the video id) -> B pairs (person boxes
        ``float[N, 4]`` x1y1x2y2 in frame pixels, scores ``float[N]``), before thresholding/clipping.
        Image backends look only at the pixels; stored-detection backends only at the indices."""

    def __call__(self, frames: Any, frame_indices: Optional[Sequence[int]] = None,
                 video_id: Optional[str] = None) -> List[Detections]:
        """``uint8[T, H, W, 3]`` RGB frames -> T ``Detections`` (``frame`` = ``frame_indices[t]``,
        default ``t``). ``video_id`` is only used by backends that read stored detections."""
        frames = check_frames(frames)
        t, h, w = frames.shape[:3]
        idx = list(range(t)) if frame_indices is None else [int(i) for i in frame_indices]
        if len(idx) != t:
            raise ValueError(f"{t} frames but {len(idx)} frame indices")
        out: List[Detections] = []
        for s in range(0, t, self.batch_size):
            raw = self._detect_batch(frames[s:s + self.batch_size], idx[s:s + self.batch_size], video_id)
            for j, (boxes, scores) in enumerate(raw):
                det, dropped = finalize_frame(boxes, scores, w, h, self.score_threshold, self.top_k,
                                              idx[s + j])
                self.num_dropped_nonfinite += dropped
                out.append(det)
        return out
