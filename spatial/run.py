"""Person detection over many videos: sharded, cached per setting, resumable, failure-tolerant.

    summary = detect_dataset(videos, detector, cache_root="cache/detections", stride=4)

``videos``: ``{video_id: path}``. Each process takes its share of the ids
(:func:`stvg.sharding.shard_items`: ``num_shards``/``shard`` or torchrun's ``WORLD_SIZE``/``RANK``);
a video whose cache file is complete is skipped, a half-done one resumes (:mod:`spatial.cache`), and
a video that cannot be read is recorded with its reason in ``<cache dir>/failures.shard<i>.json``
instead of stopping the run.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional

from stvg.io import atomic_write_json
from stvg.sharding import resolve_shard, shard_items

from .cache import DetectionCache, detect_video

__all__ = ["DetectionSummary", "detect_dataset"]

log = logging.getLogger(__name__)


@dataclass
class DetectionSummary:
    cache_dir: str
    num_shards: int
    shard: int
    num_assigned: int = 0
    num_cached: int = 0
    num_detected: int = 0
    num_frames: int = 0
    failures: Dict[str, str] = field(default_factory=dict)

    def message(self) -> str:
        text = (f"shard {self.shard}/{self.num_shards}: {self.num_detected} detected "
                f"({self.num_frames} frames), {self.num_cached} already cached, {len(self.failures)} failed "
                f"of {self.num_assigned} -> {self.cache_dir}")
        if self.failures:
            text += f"; failures in {os.path.join(self.cache_dir, f'failures.shard{self.shard}.json')}"
        return text


def detect_dataset(videos: Mapping[str, str], detector, cache_root: str, stride: int = 1,
                   num_shards: Optional[int] = None, shard: Optional[int] = None,
                   progress: bool = True) -> DetectionSummary:
    """Detect people in this shard's videos into the per-setting cache under ``cache_root``."""
    n, i = resolve_shard(num_shards, shard)
    cache = DetectionCache(cache_root, detector.setting(), stride)
    mine = shard_items(list(videos), n, i)
    summary = DetectionSummary(cache.dir, n, i, num_assigned=len(mine))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(mine), desc=f"videos (shard {i}/{n})", unit="video")
    for vid in mine:
        path = videos[vid]
        try:
            if os.path.isfile(cache.path(vid)):
                from stvg.video import VideoReader
                if cache.load(vid, VideoReader(path).num_frames) is not None:
                    summary.num_cached += 1
                    continue
            dets, _ = detect_video(detector, path, vid, cache=cache, stride=stride, progress=False)
            summary.num_detected += 1
            summary.num_frames += len(dets)
        except (OSError, ValueError, RuntimeError, IndexError, KeyError) as e:
            summary.failures[vid] = f"{type(e).__name__}: {e}"
            log.warning("video %s (%s) failed: %s", vid, path, e)
        finally:
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    fpath = os.path.join(cache.dir, f"failures.shard{i}.json")
    if summary.failures:
        atomic_write_json(fpath, summary.failures, indent=1)
    elif os.path.exists(fpath):
        os.unlink(fpath)
    return summary
