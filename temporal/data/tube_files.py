"""Read the candidate tubes of one video from its tube file (the format ``spatial.tubes`` writes).

``temporal`` never imports ``spatial``, so this is a small reader of the same JSON format:
``video_id`` (the file name with extension, :mod:`stvg.data.ids`) and ``tubes``, a list, best first,
of ``{"start_frame", "end_frame", "boxes": [[x1, y1, x2, y2], ...], "score"}`` with one box per
0-based decoded frame from ``start_frame`` to ``end_frame`` (inclusive). Written by
``tools/build_tubes.py`` and ``tools/import_mmn_stvg.py`` as ``<folder>/<video id>.json``.
Only the fields a tube needs are read; the detector and linking records are ignored.
"""
from __future__ import annotations

import math
import os
from typing import Any, List

import numpy as np

from stvg.io import read_json
from stvg.structures import Tube

__all__ = ["tube_file_path", "read_video_tubes"]


def tube_file_path(folder: str, video_id: str) -> str:
    """``<folder>/<video id>.json``."""
    return os.path.join(folder, f"{video_id}.json")


def read_video_tubes(path: str, video_id: str) -> List[Tube]:
    """The tubes of ``video_id`` in file order (row ``k`` of the video's RoI features is tube ``k``).

    Raises ``ValueError`` naming the file, the video and the field when the file holds another
    video or a malformed tube (boxes that do not match ``start_frame..end_frame``, bad values)."""
    obj = read_json(path, "tube file")
    if not isinstance(obj, dict) or not isinstance(obj.get("tubes"), list):
        raise ValueError(f"{path}: video {video_id}: not a tube file (expected an object with a 'tubes' list)")
    if obj.get("video_id") != video_id:
        raise ValueError(f"{path}: video_id is {obj.get('video_id')!r}, expected {video_id!r} (tube files are "
                         f"named <video id>.json and hold that id)")
    return [_tube(t, f"{path}: video {video_id}: tube {k}") for k, t in enumerate(obj["tubes"])]


def _tube(t: Any, where: str) -> Tube:
    """One tube entry; integers must be JSON integers, boxes a ``[T, 4]`` list of numbers."""
    if not isinstance(t, dict):
        raise ValueError(f"{where}: expected an object, got {type(t).__name__}")
    for key in ("start_frame", "end_frame"):
        v = t.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2 ** 53:
            raise ValueError(f"{where}: {key}: expected a frame index (an integer >= 0), got {v!r}")
    first, last = t["start_frame"], t["end_frame"]
    raw, score = t.get("boxes"), t.get("score")
    try:
        boxes = np.array(raw) if isinstance(raw, list) else None
    except (ValueError, OverflowError):  # ragged lists
        boxes = None
    if boxes is None or boxes.shape != (len(raw), 4) or (boxes.size and boxes.dtype.kind not in "iuf"):
        raise ValueError(f"{where}: boxes: expected [[x1, y1, x2, y2], ...], got {str(raw)[:80]}")
    if last < first or len(boxes) != last - first + 1:
        raise ValueError(f"{where}: boxes: {len(boxes)} boxes for frames {first}..{last}")
    if score is not None:
        try:
            ok = isinstance(score, (int, float)) and not isinstance(score, bool) and math.isfinite(score)
        except OverflowError:  # an int too large for a float
            ok = False
        if not ok:
            raise ValueError(f"{where}: score: expected a finite number, got {score!r}")
    try:
        with np.errstate(over="ignore"):  # a coordinate beyond float32 becomes inf, refused by Tube
            boxes = boxes.astype(np.float32)
        return Tube(np.arange(first, last + 1), boxes, None, None if score is None else float(score))
    except ValueError as e:  # non-finite or inverted boxes
        raise ValueError(f"{where}: {e}") from None
