"""Checked reading of the JSON tube format's fields (the one reader both tube-file readers use).

``spatial.tubes.read_tubes_json`` (the whole file) and ``temporal.data.tube_files.read_video_tubes``
(the tubes only: ``temporal`` never imports ``spatial``) read the same entries,
``{"start_frame", "end_frame", "boxes": [[x1, y1, x2, y2], ...], "scores", "score"}``, one box per
0-based frame from ``start_frame`` to ``end_frame`` inclusive. Every error is a ``ValueError`` that
starts with ``where`` (the file, the video and the tube) and names the field: integers must be JSON
integers (not floats, strings or bools), numbers finite, boxes a ``[T, 4]`` list of numbers.
"""
from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np

from .structures import Tube

__all__ = ["tube_from_json", "field_int", "field_number", "field_array"]


def tube_from_json(t: Any, where: str) -> Tube:
    """One tube entry -> :class:`Tube` (``scores`` and ``score`` optional)."""
    if not isinstance(t, dict):
        raise ValueError(f"{where}: expected an object, got {type(t).__name__}")
    first = field_int(t, "start_frame", where, 0)
    last = field_int(t, "end_frame", where, first)
    boxes = field_array(t, "boxes", where, (last - first + 1, 4), f"frames {first}..{last}")
    scores = None if t.get("scores") is None else field_array(t, "scores", where, (len(boxes),), "boxes")
    score = None if t.get("score") is None else field_number(t, "score", where)
    try:
        with np.errstate(over="ignore"):  # a coordinate beyond float32 becomes inf, refused by Tube
            boxes = boxes.astype(np.float32)
        return Tube(np.arange(first, last + 1), boxes, scores, score)
    except ValueError as e:  # non-finite or inverted boxes (float32), non-finite scores
        raise ValueError(f"{where}: {e}") from None


def field_number(obj: Dict[str, Any], key: str, where: str, positive: bool = False) -> float:
    """``obj[key]`` as a finite float (``positive``: also > 0)."""
    v = obj.get(key)
    ok = isinstance(v, (int, float)) and not isinstance(v, bool)
    try:
        ok = ok and math.isfinite(v)
    except OverflowError:  # an int too large for a float
        ok = False
    if not ok:
        raise ValueError(f"{where}: {key}: expected a finite number, got {v!r}")
    if positive and not v > 0:
        raise ValueError(f"{where}: {key}: must be > 0, got {v!r}")
    return float(v)


def field_int(obj: Dict[str, Any], key: str, where: str, minimum: int) -> int:
    """``obj[key]`` as a JSON integer in ``[minimum, 2**53)``."""
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{where}: {key}: expected an integer, got {v!r}")
    if not minimum <= v < 2 ** 53:
        raise ValueError(f"{where}: {key}: must be in [{minimum}, 2**53), got {v}")
    return v


def field_array(obj: Dict[str, Any], key: str, where: str, shape: tuple, per: str) -> np.ndarray:
    """``obj[key]`` as a ``float64`` array of numbers (no strings, bools or nested junk) of ``shape``."""
    v = obj.get(key)
    if not isinstance(v, list):
        raise ValueError(f"{where}: {key}: expected a list, got {type(v).__name__}")
    if len(v) != shape[0]:
        raise ValueError(f"{where}: {key}: {len(v)} {key} for {shape[0]} {per}")
    try:
        arr = np.array(v)
    except (ValueError, OverflowError):  # ragged lists
        arr = np.array(None)
    if arr.shape != shape or (arr.size and arr.dtype.kind not in "iuf"):
        raise ValueError(f"{where}: {key}: expected {'[[x1, y1, x2, y2], ...]' if len(shape) == 2 else 'numbers'}"
                         f" of shape {list(shape)}, got {str(v)[:80]}")
    return arr.astype(np.float64)
