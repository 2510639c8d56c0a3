"""HC-STVG challenge submission JSON: write (atomically), read, validate, convert to/from tubes.

Format (what the official evaluator reads)::

    {"<video id>": {"st_frame": int, "ed_frame": int,
                    "bbox": {"<frame number>": [x1, y1, x2, y2], ...}}, ...}

Frame numbers are the annotation's 1-based numbers, ``ed_frame`` inclusive, boxes x1, y1, x2, y2 in
absolute pixels. Inside the library tubes use 0-based indices; :func:`tube_to_entry` and
:func:`entry_to_tube` are the conversions.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np

from .data.frames import file_to_index, index_to_file
from .io import atomic_write_json, read_json
from .structures import Tube

__all__ = ["tube_to_entry", "entry_to_tube", "write_submission", "read_submission", "validate",
           "SubmissionError", "REQUIRED_KEYS"]

REQUIRED_KEYS = ("st_frame", "ed_frame", "bbox")


class SubmissionError(ValueError):
    """A submission file is not valid; ``problems`` lists what is wrong."""

    def __init__(self, source: str, problems: List[str]) -> None:
        head = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
        super().__init__(f"{source}: invalid submission: {head}")
        self.problems = problems


def tube_to_entry(tube: Tube, st_frame: Optional[int] = None, ed_frame: Optional[int] = None) -> dict:
    """Tube (0-based frames) -> one submission entry (1-based frame numbers).

    ``st_frame``/``ed_frame`` (0-based, inclusive) default to the tube's first and last frame."""
    if len(tube) == 0:
        raise ValueError("cannot write an empty tube as a submission entry")
    st = tube.start_frame if st_frame is None else int(st_frame)
    ed = tube.end_frame if ed_frame is None else int(ed_frame)
    boxes = tube.boxes.detach().cpu().double().numpy().round(3).tolist()
    frames = tube.frames.cpu().tolist()
    return {"st_frame": index_to_file(st), "ed_frame": index_to_file(ed),
            "bbox": {str(index_to_file(f)): b for f, b in zip(frames, boxes)}}


def entry_to_tube(entry: Mapping[str, Any], video_id: str = "<video>") -> Tube:
    """One submission entry -> Tube (0-based frames, sorted); raises ValueError naming the video."""
    problems = _entry_problems(video_id, entry)
    if problems:
        raise ValueError("; ".join(problems))
    items = sorted((int(k), v) for k, v in entry["bbox"].items())
    frames = np.array([file_to_index(k) for k, _ in items], dtype=np.int64)
    boxes = np.array([v for _, v in items], dtype=np.float32).reshape(-1, 4)
    return Tube(frames, boxes)


def write_submission(path: str, predictions: Mapping[str, Mapping[str, Any]],
                     check: bool = True) -> None:
    """Write the challenge JSON atomically (temporary file + rename); validate first by default."""
    if check:
        problems = validate(predictions)
        if problems:
            raise SubmissionError(path, problems)
    atomic_write_json(path, dict(predictions))


def read_submission(path: str) -> Dict[str, Any]:
    """Load a submission file; the top level must be an object. Entries are not validated here."""
    data = read_json(path, "submission file")
    if not isinstance(data, dict):
        raise SubmissionError(path, [f"top level is {type(data).__name__}, not an object"])
    return data


def validate(pred: Any, gt: Optional[Iterable[str]] = None, allow_missing: bool = False) -> List[str]:
    """Problems with a submission, each naming the video and what is wrong (empty list = valid).

    ``gt``: the expected video ids (any iterable of ids, e.g. a ground-truth dict); when given,
    unknown video ids are reported, and missing ones too unless ``allow_missing`` (the official
    evaluator scores a missing video 0 rather than rejecting the file).
    """
    if not isinstance(pred, Mapping):
        return [f"submission: top level is {type(pred).__name__}, not an object"]
    problems: List[str] = []
    for vid, entry in pred.items():
        problems.extend(_entry_problems(vid, entry))
    if gt is not None:
        expected = set(gt)
        unknown = [v for v in pred if v not in expected]
        missing = [] if allow_missing else [v for v in expected if v not in pred]
        problems.extend(f"video {v}: unknown video id (not in the ground truth)" for v in unknown)
        problems.extend(f"video {v}: missing from the submission" for v in sorted(missing))
    return problems


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _entry_problems(vid: str, entry: Any) -> List[str]:
    where = f"video {vid}"
    if not isinstance(entry, Mapping):
        return [f"{where}: entry is {type(entry).__name__}, not an object"]
    out = [f"{where}: missing key '{k}'" for k in REQUIRED_KEYS if k not in entry]
    if out:
        return out
    st, ed, bbox = entry["st_frame"], entry["ed_frame"], entry["bbox"]
    for key, v in (("st_frame", st), ("ed_frame", ed)):
        if not _is_int(v):
            out.append(f"{where}: {key} is {v!r}, not an integer")
    if not out and st > ed:
        out.append(f"{where}: st_frame {st} > ed_frame {ed}")
    if not isinstance(bbox, Mapping):
        return out + [f"{where}: bbox is {type(bbox).__name__}, not an object of frame -> box"]
    spans_ok = not out
    for key, box in bbox.items():
        try:
            frame = int(key)
            if str(frame) != str(key).strip():
                raise ValueError
        except (TypeError, ValueError):
            out.append(f"{where}: bbox frame key {key!r} is not an integer")
            continue
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all((isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c))
                           for c in box)):
            out.append(f"{where}: bbox at frame {key}: {box!r} is not four finite numbers")
            continue
        if box[2] < box[0] or box[3] < box[1]:
            out.append(f"{where}: bbox at frame {key}: x2 < x1 or y2 < y1 in {list(box)}")
        if spans_ok and not st <= frame <= ed:
            out.append(f"{where}: bbox frame {frame} outside [st_frame {st}, ed_frame {ed}]")
    return out
