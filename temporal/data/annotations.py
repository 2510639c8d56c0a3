"""Moment-retrieval annotation files -> one typed record per video.

Adapters (the only place a dataset's format is known):

* ``charades`` / ``activitynet``: ``{vid: {"duration": s, "timestamps": [[s, e], ...] (seconds),
  "sentences": [...]}}``;
* ``tacos``: ``{vid: {"num_frames": n, "fps": f, "timestamps": [[frame_s, frame_e], ...],
  "sentences": [...]}}``, seconds = frame / fps, duration = num_frames / fps;
* ``hcstvg``: an HC-STVG file read by :func:`stvg.data.load_hcstvg`; one query per video whose
  moment is the time span of the ground-truth tube (``Tube.segment(fps)``), duration =
  ``num_frames / fps`` (20 s clips). Query-only entries (no tube) have no moment and are skipped.

Bad queries never abort loading; each is skipped or repaired and counted in an
:class:`AnnotationReport` (as the reference implementation does for start >= end):

* start >= end: skipped; * empty sentence: skipped; * a time span reaching outside
  ``[0, duration]``: clamped (skipped when nothing is left); * an unusable video entry (missing or
  non-positive duration, mismatched list lengths): the whole video is skipped.

A query keeps ``index`` = its position in the video's annotation list, so the ids
``"<video_id>/<index>"`` stay stable whatever was skipped.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Tuple

from stvg.io import read_json

__all__ = ["Query", "VideoMoments", "AnnotationReport", "load_annotations", "ADAPTERS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Query:
    """One sentence and its ground-truth moment ``(start, end)`` in seconds, ``0 <= start < end``."""

    index: int
    sentence: str
    start: float
    end: float


@dataclass(frozen=True)
class VideoMoments:
    """One video: ``duration`` seconds and its queries (at least one)."""

    video_id: str
    duration: float
    queries: Tuple[Query, ...]


@dataclass
class AnnotationReport:
    """What loading skipped or repaired. ``counts``: reason -> number of queries (or videos for the
    reasons starting with "video"); ``examples``: the first few ``(video_id, index, reason)``."""

    source: str
    num_videos: int = 0
    num_queries: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: List[Tuple[str, int, str]] = field(default_factory=list)

    def add(self, video_id: str, index: int, reason: str) -> None:
        self.counts[reason] += 1
        if len(self.examples) < 20:
            self.examples.append((video_id, index, reason))

    def summary(self) -> str:
        text = f"{self.source}: {self.num_videos} videos, {self.num_queries} queries"
        if self.counts:
            text += "; " + "; ".join(f"{n} x {r}" for r, n in self.counts.most_common())
            text += " (e.g. " + ", ".join(f"{v}/{i}: {r}" for v, i, r in self.examples[:3]) + ")"
        return text


class _BadVideo(Exception):
    pass


def _timed_queries(vid: str, duration: float, spans: List, sentences: List, scale: float,
                   report: AnnotationReport) -> Tuple[Query, ...]:
    """Queries from parallel lists; ``span * scale`` gives seconds. Applies the skip/clamp rules."""
    if not isinstance(spans, list) or not isinstance(sentences, list):
        raise _BadVideo("video: 'timestamps' and 'sentences' must be lists")
    if len(spans) != len(sentences):
        raise _BadVideo(f"video: {len(spans)} timestamps but {len(sentences)} sentences")
    out = []
    for k, (span, sentence) in enumerate(zip(spans, sentences)):
        try:
            s, e = (float(v) * scale for v in span)
        except (TypeError, ValueError):
            report.add(vid, k, "timestamp not a pair of numbers")
            continue
        if not (math.isfinite(s) and math.isfinite(e)):
            report.add(vid, k, "timestamp not finite")
            continue
        if not isinstance(sentence, str) or not sentence.strip():
            report.add(vid, k, "empty sentence")
            continue
        if s >= e:
            report.add(vid, k, "start >= end (skipped)")
            continue
        if s < 0 or e > duration:
            s, e = max(s, 0.0), min(e, duration)
            if s >= e:
                report.add(vid, k, "moment outside the video (skipped)")
                continue
            report.add(vid, k, "moment beyond the duration (clamped)")
        out.append(Query(k, sentence, s, e))
    return tuple(out)


def _positive(entry: Mapping, key: str) -> float:
    try:
        value = float(entry[key])
    except KeyError:
        raise _BadVideo(f"video: missing field {key!r}") from None
    except (TypeError, ValueError):
        raise _BadVideo(f"video: field {key!r} is not a number ({entry[key]!r})") from None
    if not (math.isfinite(value) and value > 0):
        raise _BadVideo(f"video: field {key!r} must be positive, got {value}")
    return value


def _seconds_format(vid: str, entry: Any, report: AnnotationReport) -> VideoMoments:
    """Charades-STA / ActivityNet Captions entry."""
    if not isinstance(entry, Mapping):
        raise _BadVideo("video: entry is not an object")
    duration = _positive(entry, "duration")
    queries = _timed_queries(vid, duration, entry.get("timestamps"), entry.get("sentences"), 1.0, report)
    return VideoMoments(vid, duration, queries)


def _tacos_format(vid: str, entry: Any, report: AnnotationReport) -> VideoMoments:
    """TACoS entry: frame timestamps, ``fps`` and ``num_frames``."""
    if not isinstance(entry, Mapping):
        raise _BadVideo("video: entry is not an object")
    fps = _positive(entry, "fps")
    duration = _positive(entry, "num_frames") / fps
    queries = _timed_queries(vid, duration, entry.get("timestamps"), entry.get("sentences"),
                             1.0 / fps, report)
    return VideoMoments(vid, duration, queries)


def _load_table(path: str, parse: Callable, name: str) -> Tuple[List[VideoMoments], AnnotationReport]:
    data = read_json(path, f"{name} annotation file")
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected an object mapping video ids to entries, "
                         f"got {type(data).__name__}")
    report = AnnotationReport(source=path)
    videos = []
    for vid, entry in data.items():
        try:
            video = parse(vid, entry, report)
        except _BadVideo as e:
            report.add(vid, -1, str(e))
            continue
        if video.queries:
            videos.append(video)
        else:
            report.add(vid, -1, "video: no usable query")
    return videos, report


def _load_hcstvg(path: str) -> Tuple[List[VideoMoments], AnnotationReport]:
    """HC-STVG v1/v2 files, and training files with several queries per video (a list of entries per
    video: :func:`stvg.data.load_hcstvg_queries`), grouped into one :class:`VideoMoments` per video."""
    from stvg.data import group_by_video, load_hcstvg_queries

    records, hc_report = load_hcstvg_queries(path)
    report = AnnotationReport(source=path)
    for p in hc_report.problems:
        report.add(p.video_id, -1, f"video: {p.field}: {p.message.split(' (')[0]}")
    for rec in records:
        if rec.tube is None or rec.duration is None:
            report.add(rec.video_id, -1, "video: no ground-truth tube (query-only entry)")
    grouped = group_by_video([r for r in records if r.tube is not None and r.duration is not None])
    videos = []
    for vid, recs in grouped.items():
        spans = [[seg.start, seg.end] for seg in (r.tube.segment(r.fps) for r in recs)]
        queries = _timed_queries(vid, recs[0].duration, spans, [r.sentence for r in recs], 1.0, report)
        if queries:
            videos.append(VideoMoments(vid, recs[0].duration, queries))
    return videos, report


ADAPTERS: Dict[str, Callable[[str], Tuple[List[VideoMoments], AnnotationReport]]] = {
    "charades": lambda p: _load_table(p, _seconds_format, "Charades-STA"),
    "activitynet": lambda p: _load_table(p, _seconds_format, "ActivityNet Captions"),
    "tacos": lambda p: _load_table(p, _tacos_format, "TACoS"),
    "hcstvg": _load_hcstvg,
}


def load_annotations(name: str, path: str) -> Tuple[List[VideoMoments], AnnotationReport]:
    """Read ``path`` with the adapter of dataset ``name`` (charades|activitynet|tacos|hcstvg).

    Returns ``(videos in file order, report)``; logs the report's summary when anything was skipped
    or clamped."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(ADAPTERS)}")
    if not path:
        raise ValueError(f"no annotation file given for dataset {name!r} (set DATASET.*_ANN)")
    videos, report = ADAPTERS[name](path)
    report.num_videos = len(videos)
    report.num_queries = sum(len(v.queries) for v in videos)
    if report.counts:
        log.warning(report.summary())
    if not videos:
        raise ValueError(f"{path}: no usable video ({report.summary()})")
    return videos, report
