"""Per-video detection cache keyed by the detector setting, and detection over one video.

Layout: ``<root>/<detector>-<key>/`` is a :class:`stvg.store.VideoStore` (kind ``detections``):
one ``<video_id>.npz`` per video (ids: :mod:`stvg.data.ids`, the file name with extension) and the
full setting in ``.store/settings.json``. ``key`` is a hash of the detector's :meth:`setting`
together with the detection stride, so a changed setting (threshold, model, weights file, stride,
...) lands in a different folder and never reads a stale file; each file also records its key,
frame count and frames, and a file that disagrees with the request is recomputed. Files are written
atomically. A long video saves its progress to ``<video_id>.npz.partial`` every ``save_every``
frames and a restarted run resumes from there.

File arrays: ``frames int64[F]`` (the detected frames), ``counts int64[F]``, ``boxes float32[sum, 4]``,
``scores float32[sum]``, ``meta`` (a JSON string: key, num_frames, stride, video_id).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from stvg.data.ids import video_id_of
from stvg.store import VideoStore
from stvg.structures import Detections

__all__ = ["setting_key", "detection_frames", "DetectionCache", "detection_arrays", "load_detections",
           "detect_video"]


def setting_key(setting: Dict[str, Any], stride: int) -> str:
    """16 hex digits of sha256 over the canonical JSON of ``setting`` and ``stride``."""
    text = json.dumps({"setting": setting, "stride": int(stride)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def detection_frames(num_frames: int, stride: int) -> np.ndarray:
    """Frames detected with stride k: ``0, k, 2k, ...`` plus the last frame, so tubes can reach the
    end of the video. ``int64[F]``."""
    if stride < 1:
        raise ValueError(f"detection stride must be >= 1, got {stride}")
    if num_frames <= 0:
        return np.zeros((0,), dtype=np.int64)
    idx = np.arange(0, num_frames, stride, dtype=np.int64)
    if idx[-1] != num_frames - 1:
        idx = np.append(idx, num_frames - 1)
    return idx


def detection_arrays(dets: Sequence[Detections], meta: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """The arrays of a detection file (module docstring)."""
    frames = np.asarray([int(d.frame) for d in dets], dtype=np.int64)
    counts = np.asarray([len(d.scores) for d in dets], dtype=np.int64)
    boxes = (torch.cat([d.boxes.cpu() for d in dets]).numpy() if dets else np.zeros((0, 4), np.float32))
    scores = (torch.cat([d.scores.cpu() for d in dets]).numpy() if dets else np.zeros((0,), np.float32))
    return {"frames": frames, "counts": counts, "boxes": boxes.astype(np.float32).reshape(-1, 4),
            "scores": scores.astype(np.float32), "meta": np.asarray(json.dumps(meta, sort_keys=True))}


def load_detections(path: str) -> tuple:
    """Read a detection file (:func:`detection_arrays`) -> ``(list[Detections], meta dict)``.
    Raises ``ValueError`` naming the file when it is corrupt."""
    try:
        with np.load(path, allow_pickle=False) as z:
            frames, counts = z["frames"], z["counts"]
            boxes, scores = z["boxes"], z["scores"]
            meta = json.loads(str(z["meta"]))
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - zip/key/JSON errors all mean a corrupt file
        raise ValueError(f"{path}: not a readable detection file ({type(e).__name__}: {e})") from None
    if counts.sum() != len(boxes) or len(boxes) != len(scores) or len(frames) != len(counts):
        raise ValueError(f"{path}: inconsistent array lengths")
    ends = np.cumsum(counts)
    starts = ends - counts
    dets = [Detections(torch.from_numpy(boxes[s:e].copy()), torch.from_numpy(scores[s:e].copy()),
                       frame=int(f)) for f, s, e in zip(frames, starts, ends)]
    return dets, meta


class DetectionCache:
    """The cache folder of one detector setting under ``root``; ``store`` is its VideoStore."""

    def __init__(self, root: str, setting: Dict[str, Any], stride: int = 1) -> None:
        self.setting, self.stride = setting, int(stride)
        self.key = setting_key(setting, self.stride)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(setting.get("detector", "detector")))
        self.dir = os.path.join(os.fspath(root), f"{name}-{self.key}")
        self.store = VideoStore(self.dir, {"key": self.key, "stride": self.stride, "setting": setting},
                                "detections", suffix=".npz")
        self._checked = False

    def path(self, video_id: str, partial: bool = False) -> str:
        return self.store.path(video_id, partial)

    def _ensure_dir(self) -> None:
        if not self._checked:
            self.store.check_settings()
            self._checked = True

    def meta(self, video_id: str, num_frames: int) -> Dict[str, Any]:
        return {"key": self.key, "stride": self.stride, "num_frames": int(num_frames), "video_id": video_id}

    def _matches(self, meta: Dict[str, Any], video_id: str, num_frames: int) -> bool:
        return meta == self.meta(video_id, num_frames)

    def load(self, video_id: str, num_frames: int, partial: bool = False) -> Optional[List[Detections]]:
        """Cached detections of a video, or None when absent, unreadable or made for another
        setting / frame count."""
        p = self.path(video_id, partial)
        if not os.path.exists(p):
            return None
        try:
            dets, meta = load_detections(p)
        except ValueError:
            return None
        return dets if self._matches(meta, video_id, num_frames) else None

    def save(self, video_id: str, num_frames: int, dets: Sequence[Detections], partial: bool = False) -> None:
        """Write atomically; a complete file removes the partial one and any failure record."""
        self._ensure_dir()
        self.store.write(video_id, detection_arrays(dets, self.meta(video_id, num_frames)), partial=partial)


def detect_video(detector, video_path: str, video_id: Optional[str] = None,
                 cache: Optional[DetectionCache] = None, stride: int = 1, chunk: int = 32,
                 save_every: int = 256, progress: bool = False) -> tuple:
    """Detect people on every ``stride``-th frame of a video (plus its last frame).

    Returns ``(detections list[Detections] (one per detected frame, ascending), reader)`` where
    ``reader`` is the :class:`stvg.video.VideoReader` (fps, size, frame count). With a cache the
    result is read from / written to it, and partial progress is resumed.
    """
    from stvg.video import VideoReader

    reader = VideoReader(video_path)
    video_id = video_id or video_id_of(video_path)
    if cache is not None and cache.stride != stride:
        raise ValueError(f"cache was made for stride {cache.stride}, asked for stride {stride}")
    if cache is not None:
        done = cache.load(video_id, reader.num_frames)
        if done is not None:
            return done, reader
    wanted = detection_frames(reader.num_frames, stride)
    dets: List[Detections] = []
    if cache is not None:
        part = cache.load(video_id, reader.num_frames, partial=True)
        if part is not None and [d.frame for d in part] == wanted[:len(part)].tolist():
            dets = part
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(wanted), initial=len(dets), desc=f"detect {video_id}", unit="frame")
    since_save = 0
    for s in range(len(dets), len(wanted), chunk):
        idx = wanted[s:s + chunk]
        # Stored-detection backends only need the frame size: a zero-stride view, no memory.
        frames = reader.get_frames(idx) if detector.needs_frames else \
            np.broadcast_to(np.zeros((1, 1, 1, 3), np.uint8), (len(idx), reader.height, reader.width, 3))
        dets.extend(detector(frames, idx.tolist(), video_id=video_id))
        since_save += len(idx)
        if bar is not None:
            bar.update(len(idx))
        if cache is not None and since_save >= save_every and len(dets) < len(wanted):
            cache.save(video_id, reader.num_frames, dets, partial=True)
            since_save = 0
    if bar is not None:
        bar.close()
    if cache is not None:
        cache.save(video_id, reader.num_frames, dets)
    return dets, reader
