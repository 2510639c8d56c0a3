"""Detections computed elsewhere: a COCO-results JSON (read with pycocotools) or our cache files.

* ``coco_results`` + ``coco_images``: ``coco_images`` is a COCO dataset JSON whose ``images`` name the
  video and frame of each image id, either with fields ``video_id`` and ``frame_id`` or, failing that,
  through ``file_name`` = ``<video_id>/<frame number>.<ext>``; ``frame_base`` is the number of the
  first frame in those fields (1 for files named ``00001.jpg`` from frame 0). ``coco_results`` is the
  standard results list ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]``; only
  ``person_category`` is kept.
* ``cache_dir``: a folder of :mod:`spatial.cache` files (``<video_id>.npz``), e.g. one setting folder.

Asked for a frame the source does not have, the detector returns no detections for it (a frame the
detector skipped), but a video the source does not know at all raises ``KeyError``.
"""
from __future__ import annotations

import os
import re
from collections import defaultdict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..cache import load_detections
from .base import PersonDetector

__all__ = ["PrecomputedDetector"]


class PrecomputedDetector(PersonDetector):
    name = "precomputed"
    needs_frames = False

    def __init__(self, coco_results: Optional[str] = None, coco_images: Optional[str] = None,
                 cache_dir: Optional[str] = None, person_category: int = 1, frame_base: int = 0,
                 score_threshold: float = 0.0, top_k: int = 100, batch_size: int = 64,
                 device: Any = None) -> None:
        super().__init__(score_threshold, top_k, batch_size)
        if (coco_results is None) == (cache_dir is None):
            raise ValueError("precomputed detector: give either coco_results (+ coco_images) or cache_dir")
        self.coco_results, self.coco_images, self.cache_dir = coco_results, coco_images, cache_dir
        self.person_category, self.frame_base = int(person_category), int(frame_base)
        self._table: Dict[str, Dict[int, Tuple[np.ndarray, np.ndarray]]] = {}
        if coco_results is not None:
            if coco_images is None:
                raise ValueError("precomputed detector: coco_results needs coco_images (the image list "
                                 "that maps image ids to video and frame)")
            self._table = self._read_coco()
        elif not os.path.isdir(cache_dir):
            raise FileNotFoundError(f"precomputed detector: cache folder not found: {cache_dir}")

    def setting(self) -> Dict[str, Any]:
        s = super().setting()
        files = [p for p in (self.coco_results, self.coco_images) if p] or [self.cache_dir]
        s.update(sources=[{"path": os.path.abspath(p), "mtime": int(os.stat(p).st_mtime)} for p in files],
                 person_category=self.person_category, frame_base=self.frame_base)
        return s

    def _read_coco(self) -> Dict[str, Dict[int, Tuple[np.ndarray, np.ndarray]]]:
        from pycocotools.coco import COCO

        for p in (self.coco_images, self.coco_results):
            if not os.path.isfile(p):
                raise FileNotFoundError(f"precomputed detector: file not found: {p}")
        try:
            coco = COCO(self.coco_images)
            res = coco.loadRes(self.coco_results)
        except Exception as e:  # noqa: BLE001 - pycocotools raises AssertionError / KeyError / JSON errors
            raise ValueError(f"precomputed detector: cannot read {self.coco_results} against "
                             f"{self.coco_images}: {type(e).__name__}: {e}") from None
        where: Dict[int, Tuple[str, int]] = {}
        for img in coco.dataset.get("images", []):
            if "video_id" in img and "frame_id" in img:
                vid, num = str(img["video_id"]), int(img["frame_id"])
            else:
                name = str(img.get("file_name", ""))
                m = re.search(r"(\d+)\.[A-Za-z0-9]+$", name)
                if not m or "/" not in name:
                    raise ValueError(f"{self.coco_images}: image {img.get('id')} has neither video_id/"
                                     f"frame_id nor a file_name '<video>/<frame>.<ext>' ({name!r})")
                vid, num = os.path.basename(os.path.dirname(name)), int(m.group(1))
            where[int(img["id"])] = (vid, num - self.frame_base)
        rows: Dict[str, Dict[int, List[Tuple[List[float], float]]]] = defaultdict(lambda: defaultdict(list))
        for vid, _ in where.values():
            rows[vid]
        for a in res.dataset.get("annotations", []):
            if int(a["category_id"]) != self.person_category:
                continue
            vid, frame = where[int(a["image_id"])]
            x, y, w, h = (float(v) for v in a["bbox"])
            rows[vid][frame].append(([x, y, x + w, y + h], float(a["score"])))
        return {vid: {f: (np.asarray([b for b, _ in r], np.float64).reshape(-1, 4),
                          np.asarray([s for _, s in r], np.float64)) for f, r in per.items()}
                for vid, per in rows.items()}

    def _video(self, video_id: Optional[str]) -> Dict[int, Tuple[np.ndarray, np.ndarray]]:
        if video_id is None:
            raise ValueError("precomputed detector: needs the video_id of the frames")
        if video_id not in self._table:
            if self.cache_dir is None:
                raise KeyError(f"precomputed detector: video {video_id!r} is not in {self.coco_images}")
            path = os.path.join(self.cache_dir, f"{video_id}.npz")
            if not os.path.isfile(path):
                raise KeyError(f"precomputed detector: no cached detections for {video_id!r} ({path})")
            dets, _ = load_detections(path)
            self._table[video_id] = {int(d.frame): (d.boxes.numpy(), d.scores.numpy()) for d in dets}
        return self._table[video_id]

    def _detect_batch(self, frames: np.ndarray, frame_indices: List[int],
                      video_id: Optional[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
        table = self._video(video_id)
        empty = (np.zeros((0, 4)), np.zeros((0,)))
        return [table.get(f, empty) for f in frame_indices]
