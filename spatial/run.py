"""The spatial stage over a whole dataset: person detection into the cache, and one tube file per video.

    summary = detect_dataset(videos, detector, cache_root="outputs/detections", stride=4)
    summary = build_dataset_tubes(videos, cfg, "tubes/")     # -> tubes/<video id>.json

``videos``: ``{video_id: path}`` (ids: :mod:`stvg.data.ids`; listings: ``videos_in_folder``,
``videos_from_annotation``). Each process takes its share of the ids (:func:`stvg.sharding.shard_items`:
``num_shards``/``shard`` or torchrun's ``WORLD_SIZE``/``RANK``); a finished video is skipped, a
half-detected one resumes (:mod:`spatial.cache`), and a video that cannot be read is recorded with its
reason instead of stopping the run. Both jobs keep their files in a :class:`stvg.store.VideoStore`
and return a :class:`stvg.store.JobSummary`; the failures are listed in ``<folder>.failures.json``.

Progress (``progress=True``, :func:`stvg.engine.logs.progress_bar`): videos with an ETA, and the
frames detected so far in the video in hand (a nested bar; a line every
``STVG_PROGRESS_LOG_SECONDS`` in a log). Files cut short are read up to where they break inside
:func:`stvg.video.salvaging` (the tools' ``--salvage``); a tube file then records
``"salvaged": [frames kept, frames in the header]``.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable, Mapping, Optional, Sequence

from stvg.config import Config
from stvg.data.ids import check_video_id
from stvg.engine.logs import progress_bar
from stvg.sharding import resolve_shard, shard_items
from stvg.store import JobSummary, VideoStore

from .cache import DetectionCache, detect_video, detection_frames
from .detectors import PersonDetector
from .linking import LinkParams
from .tighten import TightenParams
from .tubes import build_video_tubes, detector_from_config, tubes_to_json

__all__ = ["detect_dataset", "build_dataset_tubes", "tube_settings"]

log = logging.getLogger(__name__)

# what reading or detecting one bad video raises (missing, corrupt, truncated, a bad stored file)
_VIDEO_ERRORS = (OSError, ValueError, RuntimeError, IndexError, KeyError)


def detect_dataset(videos: Mapping[str, str], detector, cache_root: str, stride: int = 1,
                   num_shards: Optional[int] = None, shard: Optional[int] = None,
                   progress: bool = True) -> JobSummary:
    """Detect people in this shard's videos into the per-setting cache under ``cache_root``."""
    from stvg.video import VideoReader

    n, i = resolve_shard(num_shards, shard)
    cache = DetectionCache(cache_root, detector.setting(), stride)
    cache.store.check_settings()
    mine = _mine(videos, n, i)
    summary = JobSummary("detections", cache.dir, cache.store.failures_file, n, i, verb="detected",
                         num_assigned=len(mine))

    def work(vid: str, path: str) -> bool:
        num_frames = VideoReader(path).num_frames
        if os.path.isfile(cache.path(vid)) and cache.load(vid, num_frames) is not None:
            return False
        with _FrameCounter(detector, vid, num_frames, stride, progress, cache) as counted:
            detect_video(counted, path, vid, cache=cache, stride=stride, progress=False)
        return True

    _each_video(mine, videos, cache.store, summary, work, progress, f"detect {i}/{n}" if n > 1 else "detect")
    return summary.finish(cache.store.merge(videos))


def tube_settings(cfg: Config, detector: PersonDetector) -> dict:
    """What a tube file depends on: the detector's setting, the stride, the link parameters and the box
    tightening (only when on, so that folders made before it existed keep their settings)."""
    settings = {"detector": detector.setting(), "stride": int(cfg.DETECTION.STRIDE),
                "linking": dataclasses.asdict(LinkParams.from_config(cfg.LINKING))}
    tight = TightenParams.from_config(cfg.TIGHTEN)
    if tight.enabled:
        settings["tighten"] = dataclasses.asdict(tight)
    return settings


def build_dataset_tubes(videos: Mapping[str, str], cfg: Config, out_dir: str,
                        detector: Optional[PersonDetector] = None, num_shards: Optional[int] = None,
                        shard: Optional[int] = None, progress: bool = True) -> JobSummary:
    """One tube file (:mod:`spatial.tubes` format) per video in ``out_dir/<video id>.json``.

    Detections come from the cache under ``DETECTION.CACHE_DIR`` when set (videos missing from it are
    detected and cached; temporaries a killed run left there are removed at the end); otherwise each
    video is detected in memory. The resolved config is
    written to ``out_dir/config.yaml``; a rerun with other tube settings is an error naming them.
    """
    n, i = resolve_shard(num_shards, shard)
    detector = detector or detector_from_config(cfg)
    # the detection cache is filled video by video (spatial.tubes) and never merged: its
    # temporaries older than this job (a killed run's cut writes) are removed when the job ends
    det_cache = DetectionCache(cfg.DETECTION.CACHE_DIR, detector.setting(), int(cfg.DETECTION.STRIDE)) \
        if cfg.DETECTION.CACHE_DIR else None
    store = VideoStore(out_dir, tube_settings(cfg, detector), "tubes", suffix=".json")
    store.check_settings()
    cfg.dump(os.path.join(out_dir, "config.yaml"))
    mine = _mine(videos, n, i)
    summary = JobSummary("tubes", store.root, store.failures_file, n, i, verb="built", num_assigned=len(mine))
    done = store.done_ids()

    def work(vid: str, path: str) -> bool:
        from stvg.video import VideoReader, salvaging

        if vid in done:
            return False
        with salvaging(None) as salvaged:
            num_frames = VideoReader(path).num_frames
            with _FrameCounter(detector, vid, num_frames, int(cfg.DETECTION.STRIDE), progress, None) as counted:
                doc = tubes_to_json(build_video_tubes(path, cfg, vid, detector=counted))
        if os.fspath(path) in salvaged:
            doc["salvaged"] = list(salvaged[os.fspath(path)])
        store.write(vid, doc)
        return True

    _each_video(mine, videos, store, summary, work, progress, f"tubes {i}/{n}" if n > 1 else "tubes")
    summary.finish(store.merge(videos))
    if det_cache is not None:
        det_cache.store.remove_stale_temporaries()
    return summary


class _FrameCounter:
    """The detector, counting the frames it is given on a nested ``<id> detect`` bar (frames
    detected of the frames to detect in this video; a resumed partial video starts where it was)."""

    def __init__(self, detector, vid: str, num_frames: int, stride: int, progress: bool,
                 cache: Optional[DetectionCache]) -> None:
        self._detector = detector
        total = int(detection_frames(num_frames, stride).size)
        initial = 0
        if cache is not None and progress and os.path.isfile(cache.path(vid, partial=True)):
            part = cache.load(vid, num_frames, partial=True)
            initial = min(total, len(part)) if part is not None else 0
        self._bar = progress_bar(total=total, desc=f"{vid} detect", unit="frame", enabled=progress,
                                 leave=False, initial=initial)

    def __getattr__(self, name):
        return getattr(self._detector, name)

    def __call__(self, frames, frame_indices, **kwargs):
        out = self._detector(frames, frame_indices, **kwargs)
        self._bar.update(len(frame_indices))
        return out

    def __enter__(self) -> "_FrameCounter":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


def _mine(videos: Mapping[str, str], n: int, i: int) -> list:
    for vid in videos:
        check_video_id(vid)
    return shard_items(list(videos), n, i)


def _each_video(ids: Sequence[str], videos: Mapping[str, str], store: VideoStore, summary: JobSummary,
                work: Callable[[str, str], bool], progress: bool, desc: str) -> None:
    """``work(vid, path)`` for each id (True: done now, False: was already done); a video that
    raises is recorded as failed, with its reason, and the run goes on."""
    bar = progress_bar(total=len(ids), desc=desc, unit="video", enabled=progress)
    for vid in ids:
        try:
            if work(vid, videos[vid]):
                summary.num_done += 1
            else:
                summary.num_skipped += 1
        except _VIDEO_ERRORS as e:
            reason = f"{type(e).__name__}: {e}"
            summary.failures[vid] = reason
            store.write_failure(vid, reason)
            log.warning("video %s (%s) failed: %s", vid, videos[vid], reason)
        bar.set_postfix(failed=len(summary.failures), refresh=False)
        bar.update(1)
    bar.close()
