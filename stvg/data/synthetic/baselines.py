"""Reference predictions on a synthetic split, in challenge format, that frame how hard it is.

All four use the every-person tubes of ``all_tubes.json`` (nothing learned):
* ``random_person``: a random person's full tube;
* ``largest_person``: the full tube of the person with the largest mean box area;
* ``gt_span_random_person``: the ground-truth frames, boxes of a random person (frames where that
  person is off screen get no box);
* ``gt_person_whole_video``: the target's full tube (right person, no temporal grounding).
Random choices come from ``numpy.random.default_rng([seed, video index in the split])``.
:func:`score_all` scores all four on a generated folder with :func:`stvg.evaluation.evaluate`.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Mapping, Optional

import numpy as np

from ...evaluation import evaluate
from ...io import read_json

__all__ = ["BASELINES", "KEYS", "RANDOM_BASELINES", "baseline_predictions", "score_all"]

KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5")
RANDOM_BASELINES = frozenset({"random_person", "gt_span_random_person"})  # averaged over seeds


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


def score_all(data: str, split: str, seeds: int = 5, device: Optional[str] = None) -> Dict[str, dict]:
    """``{baseline: {metric: value, ..., "num_videos": n}}`` on split ``split`` of the folder
    ``data`` (written by :func:`stvg.data.synthetic.generate`); the random baselines are averaged
    over ``seeds`` draws."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    gt = read_json(os.path.join(data, f"{split}.json"), f"synthetic {split} split")
    tubes = read_json(os.path.join(data, "all_tubes.json"), "synthetic all_tubes file")
    out = {}
    for name in BASELINES:
        runs = [evaluate(baseline_predictions(name, gt, tubes, seed=s), gt, device=device)
                for s in range(seeds if name in RANDOM_BASELINES else 1)]
        out[name] = {k: sum(r[k] for r in runs) / len(runs) for k in KEYS}
        out[name]["num_videos"] = runs[0]["num_videos"]
    return out
