"""How well a person detector finds the people of a synthetic dataset (:mod:`stvg.data.synthetic`).

:func:`match_frame` scores one frame: recall on fully visible people at IoU >= 0.5 (one detection
per person, greedy by IoU) and false positives (detections matching no person on screen, fully
visible or not). :func:`detectability` runs a detector over a generated folder's decoded videos
(``all_tubes.json`` gives every person's box and the frames where they are fully visible). Any
detector with the spatial stage's call signature works (``spatial.detectors.build_detector``);
nothing here imports the spatial stage. Box IoU is :func:`stvg.ops.box_iou`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, List, Sequence

import numpy as np
import torch

from ...io import read_json
from ...ops import box_iou
from ...structures import Detections
from ...video import VideoReader

# (frames uint8[T, H, W, 3], 0-based frame indices, video id) -> one Detections per frame
Detector = Callable[[np.ndarray, List[int], str], Sequence[Detections]]

__all__ = ["FrameScore", "match_frame", "detectability"]


def _iou(a, b) -> np.ndarray:
    a = torch.as_tensor(np.asarray(a, np.float64).reshape(-1, 4))
    b = torch.as_tensor(np.asarray(b, np.float64).reshape(-1, 4))
    return box_iou(a, b).numpy()


@dataclass
class FrameScore:
    visible: int        # fully visible people
    found: int          # of those, matched by a detection at IoU >= thr
    detections: int
    false_positives: int
    matched: np.ndarray  # bool[M]: person matched by a detection


def match_frame(dets, people, fully_visible, thr: float = 0.5) -> FrameScore:
    """Greedy one-to-one matching by IoU of ``dets float[N, 4]`` to ``people float[M, 4]`` (every
    person on screen); ``fully_visible bool[M]`` marks who counts for recall."""
    iou = _iou(dets, people)
    n, m = iou.shape
    matched_det, matched_person = np.zeros(n, bool), np.zeros(m, bool)
    if iou.size:
        for flat in np.argsort(-iou, axis=None, kind="stable"):
            d, p = np.unravel_index(flat, iou.shape)
            if iou[d, p] < thr:
                break
            if not matched_det[d] and not matched_person[p]:
                matched_det[d] = matched_person[p] = True
    fv = np.asarray(fully_visible, bool)
    return FrameScore(int(fv.sum()), int((matched_person & fv).sum()), n, int((~matched_det).sum()),
                      matched_person)


def detectability(data_dir: str, detector: Detector, frame_step: int = 4, max_videos: int = 0) -> dict:
    """Recall / false positives of ``detector`` over a generated folder, on the decoded videos.

    Returns ``{"frames", "visible", "recall", "fp_per_frame", "background_fp_per_frame",
    "per_action": {action: (count, recall)}, "upright_recall"}`` where background false positives
    overlap no person at IoU >= 0.1 and ``upright_recall`` leaves out crouching people.
    """
    tubes = read_json(os.path.join(data_dir, "all_tubes.json"), "synthetic all_tubes file")
    meta = read_json(os.path.join(data_dir, "meta.json"), "synthetic meta file")["videos"]
    frames = visible = found = fp = bg_fp = 0
    per_action: dict = {}
    for k, (vid, entry) in enumerate(tubes.items()):
        if max_videos and k >= max_videos:
            break
        idx = list(range(0, entry["img_num"], frame_step))
        images = VideoReader(os.path.join(data_dir, "videos", vid)).get_frames(idx)
        for f, dets in zip(idx, detector(images, idx, vid)):
            num = str(f + 1)
            pids = [p for p, t in entry["people"].items() if num in t["bbox"]]
            boxes = np.array([entry["people"][p]["bbox"][num] for p in pids], np.float64).reshape(-1, 4)
            fv = np.array([f + 1 in set(entry["people"][p]["fully_visible"]) for p in pids], bool)
            d = dets.boxes.double().numpy()
            score = match_frame(d, boxes, fv)
            iou = _iou(d, boxes)
            frames += 1
            visible += score.visible
            found += score.found
            fp += score.false_positives
            bg_fp += int((iou.max(axis=1) < 0.1).sum()) if iou.shape[1] else len(d)
            for j, p in enumerate(pids):
                if not fv[j]:
                    continue
                act = next((a["action"] for a in meta[vid]["people"][p]["actions"]
                            if a["st_frame"] <= f + 1 <= a["ed_frame"]), "none")
                c = per_action.setdefault(act, [0, 0])
                c[0] += 1
                c[1] += int(score.matched[j])
    upright = [c for a, c in per_action.items() if a != "crouch"]
    up_n = sum(c[0] for c in upright)
    return {"frames": frames, "visible": visible, "recall": found / max(1, visible),
            "fp_per_frame": fp / max(1, frames), "background_fp_per_frame": bg_fp / max(1, frames),
            "upright_recall": sum(c[1] for c in upright) / max(1, up_n),
            "per_action": {a: (c[0], c[1] / max(1, c[0])) for a, c in sorted(per_action.items())}}
