"""Reference predictions on a synthetic split, in challenge format, that frame how hard it is.

All four use the every-person tubes of ``all_tubes.json`` (nothing learned):
* ``random_person``: a random person's full tube;
* ``largest_person``: the full tube of the person with the largest mean box area;
* ``gt_span_random_person``: the ground-truth frames, boxes of a random person (frames where that
  person is off screen get no box);
* ``gt_person_whole_video``: the target's full tube (right person, no temporal grounding).
Random choices come from ``numpy.random.default_rng([seed, video index in the split])``.
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping

import numpy as np

__all__ = ["BASELINES", "baseline_predictions"]


def _tube(entry: Mapping) -> dict:
    return {"st_frame": entry["st_frame"], "ed_frame": entry["ed_frame"], "bbox": dict(entry["bbox"])}


def _random_person(people: Mapping, rng) -> str:
    ids = sorted(people)
    return ids[int(rng.integers(len(ids)))]


def _mean_area(entry: Mapping) -> float:
    b = np.asarray(list(entry["bbox"].values()), np.float64)
    return float(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).mean())


def _random(gt, tubes, rng):
    return _tube(tubes["people"][_random_person(tubes["people"], rng)])


def _largest(gt, tubes, rng):
    people = tubes["people"]
    return _tube(people[max(sorted(people), key=lambda p: _mean_area(people[p]))])


def _gt_span_random(gt, tubes, rng):
    st = gt["st_frame"]
    ed = st + len(gt["bbox"]) - 1
    boxes = tubes["people"][_random_person(tubes["people"], rng)]["bbox"]
    return {"st_frame": st, "ed_frame": ed,
            "bbox": {str(f): boxes[str(f)] for f in range(st, ed + 1) if str(f) in boxes}}


def _gt_person(gt, tubes, rng):
    return _tube(tubes["people"][tubes["target"]])


BASELINES: Dict[str, Callable] = {
    "random_person": _random,
    "largest_person": _largest,
    "gt_span_random_person": _gt_span_random,
    "gt_person_whole_video": _gt_person,
}


def baseline_predictions(name: str, split: Mapping[str, Mapping], all_tubes: Mapping[str, Mapping],
                         seed: int = 0) -> Dict[str, dict]:
    """``{video: challenge entry}`` of baseline ``name`` for every video of a v1 ``split`` dict."""
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; choose from {sorted(BASELINES)}")
    out = {}
    for i, (vid, gt) in enumerate(split.items()):
        if vid not in all_tubes:
            raise ValueError(f"video {vid} of the split is missing from all_tubes.json")
        out[vid] = BASELINES[name](gt, all_tubes[vid], np.random.default_rng([seed, i]))
    return out
