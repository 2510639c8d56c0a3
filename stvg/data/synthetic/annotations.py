"""A sampled video -> its JSON records: HC-STVG v1 entry, every person's tube, metadata.

* :func:`hcstvg_entry`: the v1 format (``bbox`` [[x, y, w, h], ...] one per frame from the 1-based
  ``st_frame``, ``st_time``/``ed_time`` seconds, ``img_num``, ``caption``, ``width``, ``height``)
  plus ``duration`` (seconds; the loader then uses fps = img_num / duration instead of / 20).
* :func:`tubes_entry`: every person's tube in challenge format (1-based frames, x1, y1, x2, y2)
  over the frames where at least a quarter of the person is inside the frame, plus the 1-based
  frames where the person is fully visible (inside the frame, under 10% covered).
* :func:`meta_entry`: attributes, action spans (frames and seconds), target, description, hard cases.
Boxes are clipped to the frame and rounded to 1/100 pixel, never leaving the frame.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from .spec import Person, VideoSpec

__all__ = ["clip_box", "hcstvg_entry", "query_entry", "tubes_entry", "meta_entry", "video_key"]


def video_key(spec: VideoSpec) -> str:
    """The annotation key: the video file name, as in HC-STVG."""
    return f"{spec.video_id}.mp4"


def clip_box(box: np.ndarray, width: int, height: int) -> List[float]:
    """``float[4]`` x1, y1, x2, y2 -> clipped to [0, W] x [0, H] and rounded to 2 decimals."""
    x1 = round(min(max(float(box[0]), 0.0), width), 2)
    y1 = round(min(max(float(box[1]), 0.0), height), 2)
    x2 = round(min(max(float(box[2]), 0.0), width), 2)
    y2 = round(min(max(float(box[3]), 0.0), height), 2)
    return [x1, y1, x2, y2]


def _xywh(box: List[float], width: int, height: int) -> List[float]:
    x1, y1, x2, y2 = box
    w, h = round(x2 - x1, 2), round(y2 - y1, 2)
    while x1 + w > width:   # float rounding must never push the box past the frame edge
        w = round(w - 0.01, 2)
    while y1 + h > height:
        h = round(h - 0.01, 2)
    return [x1, y1, w, h]


def _seconds(frames: float, fps: float) -> float:
    return round(frames / fps, 6)


def hcstvg_entry(spec: VideoSpec) -> dict:
    """The video's own query (its target, span and sentence) as an HC-STVG v1 entry."""
    return query_entry(spec, spec.person(spec.target), spec.tube_frames, spec.sentence)


def query_entry(spec: VideoSpec, person: Person, frames: np.ndarray, sentence: str) -> dict:
    """An HC-STVG v1 entry for ``person`` over the contiguous 0-based ``frames`` with ``sentence``."""
    boxes = [_xywh(clip_box(person.boxes[f], spec.width, spec.height), spec.width, spec.height) for f in frames]
    return {
        "bbox": boxes,
        "st_time": _seconds(frames[0], spec.fps),
        "ed_time": _seconds(frames[-1] + 1, spec.fps),
        "img_num": spec.num_frames,
        "caption": sentence,
        "width": spec.width,
        "height": spec.height,
        "st_frame": int(frames[0]) + 1,
        "duration": _seconds(spec.num_frames, spec.fps),
    }


def _person_tube(p: Person, spec: VideoSpec) -> dict:
    frames = np.flatnonzero(p.present)
    return {
        "st_frame": int(frames[0]) + 1,
        "ed_frame": int(frames[-1]) + 1,
        "bbox": {str(int(f) + 1): clip_box(p.boxes[f], spec.width, spec.height) for f in frames},
        "fully_visible": [int(f) + 1 for f in np.flatnonzero(p.fully_visible)],
    }


def tubes_entry(spec: VideoSpec) -> dict:
    return {
        "width": spec.width, "height": spec.height, "img_num": spec.num_frames, "fps": spec.fps,
        "duration": _seconds(spec.num_frames, spec.fps), "target": spec.target,
        "people": {p.pid: _person_tube(p, spec) for p in spec.people if p.present.any()},
    }


def meta_entry(spec: VideoSpec, split: str) -> dict:
    people: Dict[str, dict] = {}
    for p in spec.people:
        a = p.appearance
        people[p.pid] = {
            "appearance": dict(a.__dict__),
            "height_px": round(p.track.height_px, 2),
            "ground_y": round(p.track.ground_y, 2),
            "actions": [{"action": s.action, "side": s.side, "st_frame": s.start + 1, "ed_frame": s.end,
                         "st_time": _seconds(s.start, spec.fps), "ed_time": _seconds(s.end, spec.fps)}
                        for s in p.track.spans],
        }
    return {
        "split": split, "seed": spec.seed, "index": spec.index, "fps": spec.fps,
        "duration": _seconds(spec.num_frames, spec.fps), "caption": spec.sentence, "target": spec.target,
        "described_spans": [spec.span_start, spec.span_start + len(spec.description.actions) - 1],
        "description": {"attributes": dict(spec.description.attributes),
                        "actions": list(spec.description.actions), "sides": list(spec.description.sides)},
        "hard_cases": spec.hard_cases, "people": people,
    }
