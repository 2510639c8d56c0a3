"""HC-STVG annotation files -> one typed record per video.

Reads, into :class:`VideoAnnotation`:
* v1 (``train.json``/``test.json``): ``caption``, ``width``, ``height``, ``img_num``, ``st_frame``,
  ``st_time``, ``ed_time``, ``bbox`` = [[x, y, w, h], ...] one per frame from ``st_frame``;
* v2 (``train_v2.json``/``val_v2.json``): ``English``, ``img_size`` = [h, w], same tube fields, and in
  the 2021 challenge files an inclusive ``ed_frame``;
* query-only test files: ``{video: sentence}`` or ``{video: {"English": ...}}`` (no tube, no size).
An optional ``duration`` (seconds) overrides the dataset's fixed 20 s clip length (synthetic data).

Conversions happen here and only here: 1-based frame numbers -> 0-based indices, x, y, w, h ->
x1, y1, x2, y2, ``fps = img_num / duration``.

Every per-entry problem (missing field, wrong type, box outside the frame, zero-area box, start
after end, time/frame mismatch, ...) is recorded in a :class:`HCSTVGReport` with the video id and the
field. ``strict=True`` raises :class:`AnnotationError` on the first; the default skips the bad
entries, keeps the rest and logs how many were skipped and why.
"""
from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from ..io import read_json
from ..structures import Segment, Tube
from .frames import file_to_index

__all__ = ["VideoAnnotation", "Problem", "HCSTVGReport", "AnnotationError", "load_hcstvg", "load_hcstvg_queries", "group_by_video",
           "parse_entry", "HCSTVG_CLIP_SECONDS"]

log = logging.getLogger(__name__)

HCSTVG_CLIP_SECONDS = 20.0  # every HC-STVG clip lasts 20 s; fps = img_num / 20
_MAX_INT = 2 ** 53  # integers above it are not exact as floats (and overflow int64 frame indices)


@dataclass(frozen=True)
class VideoAnnotation:
    """One HC-STVG video and its query.

    ``tube`` holds 0-based frame indices and x1, y1, x2, y2 boxes (None for query-only files);
    ``segment`` is the annotated action span in seconds (st_time, ed_time), or the tube's span when
    the file has no times. ``width``/``height``/``num_frames``/``fps`` are None when unknown.
    """

    video_id: str
    sentence: str
    fps: Optional[float] = None
    num_frames: Optional[int] = None
    width: Optional[int] = None
    height: Optional[int] = None
    tube: Optional[Tube] = None
    segment: Optional[Segment] = None

    @property
    def duration(self) -> Optional[float]:
        if self.fps is None or self.num_frames is None:
            return None
        return self.num_frames / self.fps


@dataclass(frozen=True)
class Problem:
    video_id: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.video_id}: {self.field}: {self.message}"


class AnnotationError(ValueError):
    """An annotation entry is invalid (raised in strict mode)."""

    def __init__(self, problem: Problem, source: str = "") -> None:
        super().__init__(f"{source + ': ' if source else ''}{problem}")
        self.problem = problem


@dataclass
class HCSTVGReport:
    source: str
    num_entries: int = 0
    problems: List[Problem] = field(default_factory=list)

    @property
    def skipped(self) -> List[str]:
        """Ids of the entries that were skipped (in order, unique)."""
        return list(dict.fromkeys(p.video_id for p in self.problems))

    @property
    def num_loaded(self) -> int:
        return self.num_entries - len(self.skipped)

    def summary(self) -> str:
        if not self.problems:
            return f"{self.source}: loaded all {self.num_entries} entries"
        reasons = Counter(f"{p.field}: {p.message.split(' (')[0]}" for p in self.problems)
        top = "; ".join(f"{n} x {r}" for r, n in reasons.most_common(5))
        return (f"{self.source}: loaded {self.num_loaded} of {self.num_entries} entries, skipped "
                f"{len(self.skipped)} ({top}{'; ...' if len(reasons) > 5 else ''})")


class _EntryInvalid(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _record(report: HCSTVGReport, problem: Problem, strict: bool) -> None:
    """Keep ``problem`` in ``report``, or raise it (``strict``)."""
    if strict:
        raise AnnotationError(problem, report.source)
    report.problems.append(problem)


def _read_mapping(source: Union[str, Mapping[str, Any]], name: Optional[str]) -> Tuple[str, Mapping]:
    """``(name, data)``: the file read (or the dict given), checked to map video ids to entries."""
    if name is None:
        name = source if isinstance(source, str) else "<annotations>"
    data = read_json(source, "HC-STVG annotation file") if isinstance(source, str) else source
    if not isinstance(data, Mapping):
        raise ValueError(f"{name}: expected an object mapping video ids to entries, "
                         f"got {type(data).__name__}")
    return name, data


def load_hcstvg(source: Union[str, Mapping[str, Any]], strict: bool = False,
                clip_seconds: float = HCSTVG_CLIP_SECONDS, frame_tolerance: int = 3,
                name: Optional[str] = None) -> Tuple[Dict[str, VideoAnnotation], HCSTVGReport]:
    """Load an HC-STVG annotation file (path or already-loaded dict).

    Args:
        strict: raise :class:`AnnotationError` on the first problem instead of skipping the entry.
        clip_seconds: clip length used for ``fps = img_num / clip_seconds`` when an entry has no
            ``duration`` field.
        frame_tolerance: allowed disagreement, in frames, between the times and the frame numbers.
        name: what errors, the report and its log line call the source (default: the path, or
            ``"<annotations>"`` for a dict), e.g. the file a dict was read from.
    Returns:
        ``(videos, report)``: records by video id, in file order, and the problems found.
    """
    name, data = _read_mapping(source, name)
    report = HCSTVGReport(source=name, num_entries=len(data))
    videos: Dict[str, VideoAnnotation] = {}
    for vid, entry in data.items():
        try:
            if isinstance(entry, list):
                raise _EntryInvalid("entry", "a list of queries (a training file with several sentences per "
                                    "video): read the file with load_hcstvg_queries")
            videos[vid] = parse_entry(vid, entry, clip_seconds, frame_tolerance)
        except _EntryInvalid as e:
            _record(report, Problem(vid, e.field, e.message), strict)
    if report.problems:
        log.warning(report.summary())
    return videos, report


def load_hcstvg_queries(source: Union[str, Mapping[str, Any]], strict: bool = False,
                        clip_seconds: float = HCSTVG_CLIP_SECONDS, frame_tolerance: int = 3,
                        name: Optional[str] = None) -> Tuple[List[VideoAnnotation], HCSTVGReport]:
    """Like :func:`load_hcstvg`, for training files that may hold several queries of one video: a
    video's value is one entry or a list of entries (``tools/synthetic_queries.py`` writes them).

    Returns ``(queries, report)``: every valid entry in file order (a video's list in its order);
    ``report.num_entries`` counts entries, and a problem in a list names its entry ``<video>[k]``
    (``v.mp4[2]``: the third query of ``v.mp4``)."""
    name, data = _read_mapping(source, name)
    report = HCSTVGReport(source=name)
    queries: List[VideoAnnotation] = []
    for vid, value in data.items():
        many = isinstance(value, list)
        if many and not value:
            report.num_entries += 1
            _record(report, Problem(vid, "entry", "empty list of queries"), strict)
            continue
        for k, entry in enumerate(value if many else [value]):
            report.num_entries += 1
            try:
                queries.append(parse_entry(vid, entry, clip_seconds, frame_tolerance))
            except _EntryInvalid as e:
                _record(report, Problem(f"{vid}[{k}]" if many else vid, e.field, e.message), strict)
    if report.problems:
        log.warning(report.summary())
    return queries, report


def group_by_video(queries: List[VideoAnnotation]) -> Dict[str, List[VideoAnnotation]]:
    """:func:`load_hcstvg_queries`'s records by video id, each video's in file order (videos in order
    of first appearance)."""
    out: Dict[str, List[VideoAnnotation]] = {}
    for q in queries:
        out.setdefault(q.video_id, []).append(q)
    return out


def parse_entry(vid: str, entry: Any, clip_seconds: float = HCSTVG_CLIP_SECONDS,
                frame_tolerance: int = 3) -> VideoAnnotation:
    """One entry -> :class:`VideoAnnotation`; raises ``_EntryInvalid(field, message)``."""
    if isinstance(entry, str):  # query-only test file {video: sentence}
        return VideoAnnotation(vid, _sentence(entry, "sentence"))
    if not isinstance(entry, Mapping):
        raise _EntryInvalid("entry", f"expected an object or a sentence, got {type(entry).__name__}")
    key = "English" if "English" in entry else "caption"
    if key not in entry:
        raise _EntryInvalid("caption", "missing sentence (neither 'caption' nor 'English')")
    sentence = _sentence(entry[key], key)
    if "bbox" not in entry and "st_frame" not in entry:  # query-only with an object
        return VideoAnnotation(vid, sentence)

    width, height = _size(entry)
    img_num = _int(entry, "img_num", minimum=1)
    duration = _number(entry, "duration") if "duration" in entry else clip_seconds
    if duration <= 0:
        raise _EntryInvalid("duration", f"must be positive, got {duration}")
    fps = img_num / duration
    if not math.isfinite(fps):
        raise _EntryInvalid("duration", f"img_num {img_num} / duration {duration} s is not a finite frame rate")

    boxes = _boxes(entry, width, height)
    st_frame = _int(entry, "st_frame", minimum=1)
    last = st_frame + len(boxes) - 1  # 1-based, inclusive
    if "ed_frame" in entry:
        ed_frame = _int(entry, "ed_frame", minimum=1)
        if ed_frame < st_frame:
            raise _EntryInvalid("ed_frame", f"start after end: st_frame {st_frame} > ed_frame {ed_frame}")
        if ed_frame != last:
            raise _EntryInvalid("ed_frame", f"{len(boxes)} boxes from st_frame {st_frame} end at frame "
                                f"{last}, but ed_frame is {ed_frame}")
    if last > img_num:
        raise _EntryInvalid("bbox", f"tube ends at frame {last}, beyond img_num {img_num}")

    if "st_time" in entry or "ed_time" in entry:
        st_time, ed_time = _number(entry, "st_time"), _number(entry, "ed_time")
        if st_time >= ed_time:
            raise _EntryInvalid("st_time", f"start after end: st_time {st_time} >= ed_time {ed_time}")
        if st_time < 0 or ed_time > duration + frame_tolerance / fps:
            raise _EntryInvalid("ed_time" if st_time >= 0 else "st_time",
                                f"time span [{st_time}, {ed_time}] outside the clip [0, {duration}]")
        if abs((st_frame - 1) - st_time * fps) > frame_tolerance + 1:
            raise _EntryInvalid("st_frame", f"time/frame mismatch: st_frame {st_frame} but st_time "
                                f"{st_time:.3f} s x {fps:g} fps = frame {st_time * fps + 1:.1f}")
        if last > ed_time * fps + frame_tolerance:
            raise _EntryInvalid("ed_time", f"time/frame mismatch: tube ends at frame {last}, after "
                                f"ed_time {ed_time:.3f} s x {fps:g} fps = frame {ed_time * fps:.1f}")
        segment = Segment(st_time, ed_time)
    else:
        segment = Segment((st_frame - 1) / fps, last / fps)

    xyxy = boxes.copy()
    xyxy[:, 2:] += xyxy[:, :2]
    first = file_to_index(st_frame)
    tube = Tube(np.arange(first, first + len(boxes), dtype=np.int64), xyxy.astype(np.float32))
    return VideoAnnotation(vid, sentence, fps, img_num, width, height, tube, segment)


# ---------------------------------------------------------------------------------------------
def _sentence(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _EntryInvalid(key, f"expected a string, got {type(value).__name__}")
    if not value.strip():
        raise _EntryInvalid(key, "empty sentence")
    return value.strip()


def _number(entry: Mapping, key: str) -> float:
    if key not in entry:
        raise _EntryInvalid(key, "missing field")
    v = entry[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _EntryInvalid(key, f"expected a number, got {type(v).__name__} {v!r}")
    if isinstance(v, int) and abs(v) > _MAX_INT:
        raise _EntryInvalid(key, f"too large: {v}")
    if not math.isfinite(v):
        raise _EntryInvalid(key, f"not finite: {v}")
    return float(v)


def _int(entry: Mapping, key: str, minimum: int) -> int:
    v = _number(entry, key)
    if v != int(v):
        raise _EntryInvalid(key, f"expected an integer, got {entry[key]!r}")
    if abs(v) > _MAX_INT:
        raise _EntryInvalid(key, f"too large: {entry[key]!r}")
    if v < minimum:
        raise _EntryInvalid(key, f"must be >= {minimum}, got {int(v)}")
    return int(v)


def _size(entry: Mapping) -> Tuple[int, int]:
    if "img_size" in entry:  # v2: [height, width]
        s = entry["img_size"]
        if (not isinstance(s, (list, tuple)) or len(s) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in s)):
            raise _EntryInvalid("img_size", f"expected [height, width], got {s!r}")
        height, width = _int({"img_size": s[0]}, "img_size", 1), _int({"img_size": s[1]}, "img_size", 1)
        return width, height
    return _int(entry, "width", 1), _int(entry, "height", 1)


def _boxes(entry: Mapping, width: int, height: int) -> np.ndarray:
    raw = entry.get("bbox")
    if raw is None:
        raise _EntryInvalid("bbox", "missing field")
    if not isinstance(raw, list) or not raw:
        raise _EntryInvalid("bbox", f"expected a non-empty list of [x, y, w, h], got {type(raw).__name__}"
                            f"{'' if isinstance(raw, list) else ''}")
    for i, b in enumerate(raw):
        if (not isinstance(b, (list, tuple)) or len(b) != 4
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in b)):
            raise _EntryInvalid("bbox", f"box {i} is not four numbers: {b!r}")
        if any(isinstance(x, int) and abs(x) > _MAX_INT for x in b):
            raise _EntryInvalid("bbox", f"box {i} has a value too large: {b!r}")
    boxes = np.asarray(raw, dtype=np.float64)
    if not np.isfinite(boxes).all():
        i = int(np.argwhere(~np.isfinite(boxes).all(axis=1))[0, 0])
        raise _EntryInvalid("bbox", f"box {i} has a non-finite value: {raw[i]!r}")
    bad = (boxes[:, 2] <= 0) | (boxes[:, 3] <= 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise _EntryInvalid("bbox", f"zero-area box {i}: {raw[i]!r} (x, y, w, h)")
    eps = 1e-6  # float boxes that touch the frame edge may overshoot by rounding alone
    out = ((boxes[:, 0] < -eps) | (boxes[:, 1] < -eps) | (boxes[:, 0] + boxes[:, 2] > width + eps)
           | (boxes[:, 1] + boxes[:, 3] > height + eps))
    if out.any():
        i = int(np.argmax(out))
        raise _EntryInvalid("bbox", f"box outside the frame: box {i} {raw[i]!r} (x, y, w, h) "
                            f"in a {width}x{height} frame")
    return boxes
