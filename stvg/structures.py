"""Typed containers that carry the project's conventions.

* ``Segment``: a time span in **seconds**, half-open ``[start, end)``.
* ``Tube``: one person's track: 0-based decoded-frame indices ``int64[T]`` (strictly increasing)
  and boxes ``float32[T, 4]`` as x1, y1, x2, y2 in absolute pixels, optional per-frame scores
  ``float32[T]`` and an optional tube-level score.
* ``Detections``: the person boxes found on one frame: ``boxes float32[N, 4]`` (x1, y1, x2, y2,
  pixels), ``scores float32[N]``, the 0-based ``frame`` they belong to.

Constructors validate shapes, order and finiteness and raise ``ValueError`` saying what is wrong.
Tensors are kept on the device they were given on; ``.to(device)`` moves them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]

__all__ = ["Segment", "Tube", "Detections"]


def _as_tensor(x: ArrayLike, dtype: torch.dtype, name: str) -> torch.Tensor:
    try:
        t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: cannot be converted to a tensor ({e})") from None
    if dtype.is_floating_point is False and t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise ValueError(f"{name}: expected integers, got non-integral values")
    return t.to(dtype)


def _check_boxes(boxes: torch.Tensor, name: str) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name}: expected shape [N, 4] (x1, y1, x2, y2), got {list(boxes.shape)}")
    if boxes.numel() and not torch.isfinite(boxes).all():
        bad = (~torch.isfinite(boxes)).any(dim=1).nonzero()[0].item()
        raise ValueError(f"{name}: non-finite coordinate in box {bad}: {boxes[bad].tolist()}")
    if boxes.numel():
        inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
        if inverted.any():
            bad = inverted.nonzero()[0].item()
            raise ValueError(f"{name}: box {bad} has x2 < x1 or y2 < y1: {boxes[bad].tolist()}")


@dataclass(frozen=True)
class Segment:
    """A time span in seconds, half-open ``[start, end)``; ``start <= end``, both finite."""

    start: float
    end: float

    def __post_init__(self) -> None:
        s, e = float(self.start), float(self.end)
        if not (math.isfinite(s) and math.isfinite(e)):
            raise ValueError(f"Segment: start and end must be finite, got ({self.start}, {self.end})")
        if s > e:
            raise ValueError(f"Segment: start {s} is after end {e}")
        object.__setattr__(self, "start", s)
        object.__setattr__(self, "end", e)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def iou(self, other: "Segment") -> float:
        """Temporal IoU with another segment (:func:`stvg.ops.segment_iou_aligned_np`; 0 when they
        do not overlap)."""
        from .ops import segment_iou_aligned_np  # stvg.ops imports this module
        return float(segment_iou_aligned_np((self.start, self.end), (other.start, other.end)))

    def to_frames(self, fps: float, num_frames: Optional[int] = None) -> tuple:
        """0-based inclusive frame range ``(first, last)`` of the frames whose start time lies in the
        segment: frame f covers ``[f / fps, (f + 1) / fps)``. Clamped to ``num_frames`` if given."""
        first = math.ceil(self.start * fps - 1e-9)
        last = math.ceil(self.end * fps - 1e-9) - 1
        if num_frames is not None:
            first, last = max(0, first), min(num_frames - 1, last)
        return first, last

    def as_tuple(self) -> tuple:
        return (self.start, self.end)


class Tube:
    """One person's boxes over time.

    Attributes:
        frames: ``int64[T]``, 0-based decoded-frame indices, strictly increasing.
        boxes: ``float32[T, 4]``, x1, y1, x2, y2 in absolute pixels (x2 >= x1, y2 >= y1).
        scores: ``float32[T]`` per-frame scores, or None.
        score: tube-level score (float) or None.
    """

    __slots__ = ("frames", "boxes", "scores", "score")

    def __init__(self, frames: ArrayLike, boxes: ArrayLike, scores: Optional[ArrayLike] = None,
                 score: Optional[float] = None) -> None:
        frames = _as_tensor(frames, torch.int64, "Tube.frames").reshape(-1)
        boxes = _as_tensor(boxes, torch.float32, "Tube.boxes")
        if boxes.numel() == 0 and boxes.dim() != 2:
            boxes = boxes.reshape(0, 4)
        _check_boxes(boxes, "Tube.boxes")
        if boxes.shape[0] != frames.shape[0]:
            raise ValueError(f"Tube: {frames.shape[0]} frames but {boxes.shape[0]} boxes")
        if frames.numel() and (frames < 0).any():
            raise ValueError(f"Tube.frames: negative frame index {int(frames.min())}")
        if frames.numel() > 1 and not (frames[1:] > frames[:-1]).all():
            i = int((frames[1:] <= frames[:-1]).nonzero()[0].item())
            raise ValueError(f"Tube.frames: not strictly increasing at position {i + 1} "
                             f"({int(frames[i])} then {int(frames[i + 1])})")
        if scores is not None:
            scores = _as_tensor(scores, torch.float32, "Tube.scores").reshape(-1)
            if scores.shape[0] != frames.shape[0]:
                raise ValueError(f"Tube: {frames.shape[0]} frames but {scores.shape[0]} scores")
            if not torch.isfinite(scores).all():
                raise ValueError("Tube.scores: non-finite score")
        if score is not None:
            score = float(score)
            if not math.isfinite(score):
                raise ValueError(f"Tube.score: non-finite tube score {score}")
        self.frames, self.boxes, self.scores, self.score = frames, boxes, scores, score

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def __repr__(self) -> str:
        span = f"{self.start_frame}..{self.end_frame}" if len(self) else "empty"
        return f"Tube(frames {span}, {len(self)} boxes, score={self.score})"

    @property
    def start_frame(self) -> int:
        """First frame (0-based, inclusive)."""
        return int(self.frames[0])

    @property
    def end_frame(self) -> int:
        """Last frame (0-based, inclusive)."""
        return int(self.frames[-1])

    def segment(self, fps: float) -> Segment:
        """Time span covered by the tube's frames: ``[first / fps, (last + 1) / fps)``."""
        return Segment(self.start_frame / fps, (self.end_frame + 1) / fps)

    def is_dense(self) -> bool:
        """True when the tube has a box on every frame of its span."""
        return len(self) == 0 or self.end_frame - self.start_frame + 1 == len(self)

    def crop(self, first: int, last: int) -> "Tube":
        """The part of the tube on frames ``first..last`` (inclusive, 0-based)."""
        keep = (self.frames >= first) & (self.frames <= last)
        return Tube(self.frames[keep], self.boxes[keep],
                    None if self.scores is None else self.scores[keep], self.score)

    def to(self, device: Union[str, torch.device]) -> "Tube":
        return Tube(self.frames.to(device), self.boxes.to(device),
                    None if self.scores is None else self.scores.to(device), self.score)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tube):
            return NotImplemented
        same_scores = (self.scores is None and other.scores is None) or (
            self.scores is not None and other.scores is not None
            and torch.equal(self.scores.cpu(), other.scores.cpu()))
        return (torch.equal(self.frames.cpu(), other.frames.cpu())
                and torch.equal(self.boxes.cpu(), other.boxes.cpu())
                and same_scores and self.score == other.score)

    __hash__ = None  # mutable tensors: not hashable


class Detections:
    """Person detections on one frame.

    Attributes:
        boxes: ``float32[N, 4]`` x1, y1, x2, y2 absolute pixels.
        scores: ``float32[N]`` detector confidences.
        frame: 0-based decoded-frame index, or None when not tied to a video.
    """

    __slots__ = ("boxes", "scores", "frame")

    def __init__(self, boxes: ArrayLike, scores: ArrayLike, frame: Optional[int] = None) -> None:
        boxes = _as_tensor(boxes, torch.float32, "Detections.boxes")
        if boxes.numel() == 0:
            boxes = boxes.reshape(0, 4)
        _check_boxes(boxes, "Detections.boxes")
        scores = _as_tensor(scores, torch.float32, "Detections.scores").reshape(-1)
        if scores.shape[0] != boxes.shape[0]:
            raise ValueError(f"Detections: {boxes.shape[0]} boxes but {scores.shape[0]} scores")
        if scores.numel() and not torch.isfinite(scores).all():
            raise ValueError("Detections.scores: non-finite score")
        if frame is not None:
            if int(frame) != frame or frame < 0:
                raise ValueError(f"Detections.frame: expected a 0-based frame index, got {frame}")
            frame = int(frame)
        self.boxes, self.scores, self.frame = boxes, scores, frame

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __repr__(self) -> str:
        return f"Detections(frame={self.frame}, {len(self)} boxes)"

    @classmethod
    def empty(cls, frame: Optional[int] = None, device=None) -> "Detections":
        return cls(torch.zeros(0, 4, device=device), torch.zeros(0, device=device), frame)

    def to(self, device: Union[str, torch.device]) -> "Detections":
        return Detections(self.boxes.to(device), self.scores.to(device), self.frame)

    def filter(self, keep: torch.Tensor) -> "Detections":
        """Subset by a boolean mask or index tensor."""
        return Detections(self.boxes[keep], self.scores[keep], self.frame)
