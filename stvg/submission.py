"""HC-STVG challenge submission JSON: write (atomically), read, validate, convert to/from tubes.

Format (what the official evaluator reads)::

    {"<video id>": {"st_frame": int, "ed_frame": int,
                    "bbox": {"<frame number>": [x1, y1, x2, y2], ...}}, ...}

Frame numbers are the annotation's 1-based numbers, ``ed_frame`` inclusive, boxes x1, y1, x2, y2 in
absolute pixels. Inside the library tubes use 0-based indices; :func:`tube_to_entry` and
:func:`entry_to_tube` are the conversions.

Video ids: a submission names each video by its :func:`stvg.data.ids.submission_id` (the file name
without its video extension, ``"55_vfjywN5CN0Y"``), the library by its annotation key
(``"55_vfjywN5CN0Y.mp4"``). :func:`write_submission` writes submission ids; :func:`read_submission`
keeps the keys as they are in the file; :func:`validate` and the evaluator match predictions to the
ground truth by the submission id of both sides (:func:`by_submission_id`), so a submission keyed
either way scores the same, and two keys naming one video are an error naming both.

:func:`validate` is the one validator: a vectorised pass (:func:`entry_arrays`, which also gives
the evaluator its arrays) when all is well, the per-entry checks, for their messages, otherwise.
"""
from __future__ import annotations

import itertools
import marshal
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional

import numpy as np

from .data.frames import file_to_index, index_to_file
from .data.ids import submission_id
from .io import atomic_write_json, read_json
from .structures import Tube

__all__ = ["tube_to_entry", "entry_to_tube", "write_submission", "read_submission", "validate",
           "SubmissionError", "REQUIRED_KEYS", "EntryArrays", "entry_arrays", "match_key",
           "by_submission_id", "id_problems", "same_video_problems", "entries_for"]

REQUIRED_KEYS = ("st_frame", "ed_frame", "bbox")


class SubmissionError(ValueError):
    """A submission file is not valid; ``problems`` lists what is wrong. ``fatal``: even a lenient
    reading could score nothing of it (another format, two keys naming one video, ...)."""

    def __init__(self, source: str, problems: List[str], fatal: bool = False) -> None:
        head = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
        super().__init__(f"{source}: invalid submission: {head}")
        self.problems, self.fatal = problems, fatal


def tube_to_entry(tube: Tube, st_frame: Optional[int] = None, ed_frame: Optional[int] = None) -> dict:
    """Tube (0-based frames) -> one submission entry (1-based frame numbers).

    ``st_frame``/``ed_frame`` (0-based, inclusive) default to the tube's first and last frame."""
    if len(tube) == 0:
        raise ValueError("cannot write an empty tube as a submission entry")
    st = tube.start_frame if st_frame is None else int(st_frame)
    ed = tube.end_frame if ed_frame is None else int(ed_frame)
    boxes = tube.boxes.detach().cpu().double().numpy().round(3).tolist()
    frames = tube.frames.cpu().tolist()
    return {"st_frame": index_to_file(st), "ed_frame": index_to_file(ed),
            "bbox": {str(index_to_file(f)): b for f, b in zip(frames, boxes)}}


def entry_to_tube(entry: Mapping[str, Any], video_id: str = "<video>") -> Tube:
    """One submission entry -> Tube (0-based frames, sorted); raises ValueError naming the video."""
    problems = _entry_problems(video_id, entry)
    if problems:
        raise ValueError("; ".join(problems))
    items = sorted((int(k), v) for k, v in entry["bbox"].items())
    frames = np.array([file_to_index(k) for k, _ in items], dtype=np.int64)
    boxes = np.array([v for _, v in items], dtype=np.float32).reshape(-1, 4)
    return Tube(frames, boxes)


def write_submission(path: str, predictions: Mapping[str, Mapping[str, Any]],
                     check: bool = True) -> None:
    """Write the challenge JSON atomically (temporary file + rename), keyed by submission ids
    (``"55_vfjywN5CN0Y.mp4"`` is written ``"55_vfjywN5CN0Y"``); validate first by default. Two
    keys naming one video are refused whatever ``check``."""
    problems = validate(predictions) if check else same_video_problems(predictions)
    if problems:
        raise SubmissionError(path, problems)
    atomic_write_json(path, {match_key(vid): entry for vid, entry in predictions.items()})


def read_submission(path: str) -> Dict[str, Any]:
    """Load a submission file; the top level must be an object. Keys are kept as they are in the
    file (submission ids, or annotation keys: both match); entries are not validated here."""
    data = read_json(path, "submission file")
    if not isinstance(data, dict):
        raise SubmissionError(path, [f"top level is {type(data).__name__}, not an object"])
    return data


def validate(pred: Any, gt: Optional[Iterable[str]] = None, allow_missing: bool = False) -> List[str]:
    """Problems with a submission, each naming the video and what is wrong (empty list = valid).

    ``gt``: the expected video ids (any iterable of ids, e.g. a ground-truth dict), matched by
    submission id (:func:`by_submission_id`); when given, unknown video ids are reported, and
    missing ones too unless ``allow_missing`` (the official evaluator scores a missing video 0
    rather than rejecting the file). Two keys naming one video are always a problem.
    """
    if not isinstance(pred, Mapping):
        return [f"submission: top level is {type(pred).__name__}, not an object"]
    problems: List[str] = []
    if entry_arrays(pred) is None:  # the fast pass says nothing is wrong only when nothing is
        for vid, entry in pred.items():
            problems.extend(_entry_problems(vid, entry))
    return problems + id_problems(pred, gt, allow_missing)


# --- video ids ----------------------------------------------------------------------------------
def match_key(video_id: Any) -> Any:
    """What predictions and ground truth are matched by: :func:`stvg.data.ids.submission_id` of a
    string id (the id itself otherwise)."""
    return submission_id(video_id) if isinstance(video_id, str) else video_id


def by_submission_id(ids: Iterable[str], source: str = "ground truth") -> Dict[str, str]:
    """``{submission id: id}`` of ``ids``; ``ValueError`` naming ``source`` and both ids when two
    name one video (``"a.mp4"`` and ``"a"``)."""
    out: Dict[Any, Any] = {}
    for vid in ids:
        other = out.setdefault(match_key(vid), vid)
        if other is not vid and other != vid:
            raise ValueError(f"{source}: {_same_video(other, vid)}")
    return out


def same_video_problems(pred: Iterable[str]) -> List[str]:
    """One problem for each key of ``pred`` that names the same video as an earlier key."""
    seen: Dict[Any, Any] = {}
    problems = []
    for vid in pred:
        other = seen.setdefault(match_key(vid), vid)
        if other is not vid:
            problems.append(_same_video(other, vid))
    return problems


def id_problems(pred: Mapping[str, Any], gt: Optional[Iterable[str]] = None,
                allow_missing: bool = False) -> List[str]:
    """The id part of :func:`validate`: two keys naming one video (:func:`same_video_problems`);
    with ``gt``, unknown ids and, unless ``allow_missing``, missing ones (matched by submission id)."""
    problems = same_video_problems(pred)
    if gt is not None:
        expected = by_submission_id(gt)
        problems.extend(f"video {v}: unknown video id (not in the ground truth)"
                        for v in pred if match_key(v) not in expected)
        if not allow_missing:
            seen = set(map(match_key, pred))
            missing = [v for s, v in expected.items() if s not in seen]
            problems.extend(f"video {v}: missing from the submission" for v in sorted(missing))
    return problems


def entries_for(predictions: Mapping[str, Any], ids: Iterable[str]) -> Dict[str, Any]:
    """The predictions' entries keyed by ``ids`` (e.g. an annotation file's keys), matched by
    submission id; ids without a prediction are left out. Raises :class:`SubmissionError` when
    two keys of ``predictions`` name one video."""
    same = same_video_problems(predictions)
    if same:
        raise SubmissionError("predictions", same, fatal=True)
    by_key = {match_key(vid): entry for vid, entry in predictions.items()}
    return {vid: by_key[match_key(vid)] for vid in ids if match_key(vid) in by_key}


def _same_video(a: Any, b: Any) -> str:
    return (f"videos {a} and {b} are the same video {match_key(b)!r} (ids match by their submission id, "
            "the file name without its video extension)")


# --- the vectorised pass ------------------------------------------------------------------------
@dataclass
class EntryArrays:
    """Challenge entries of V videos as arrays, boxes video by video in dict order.

    ``span int64[V, 2]`` (st_frame, ed_frame), ``counts int64[V]`` (boxes per video),
    ``frames int64[n]`` (the frame keys as numbers), ``boxes float64[n, 4]``.
    """

    span: np.ndarray
    counts: np.ndarray
    frames: np.ndarray
    boxes: np.ndarray


_chain = itertools.chain.from_iterable
_POW10 = 10 ** np.arange(1, 19, dtype=np.int64)  # 10 .. 10**18: a frame's digit count by searchsorted


def entry_arrays(entries: Any) -> Optional[EntryArrays]:
    """The entries as :class:`EntryArrays` when :func:`validate` finds nothing wrong in them (ids
    not checked) and every frame key is written canonically (``"7"``, not ``"07"`` or ``" 7"``, so
    matching keys is matching numbers); None means "look closer" (they may still be valid).

    A few C-level passes over all keys and boxes (``str.join`` + ``numpy.fromstring`` for the
    keys, :func:`_boxes_float64` for the boxes) instead of a Python loop; every value is read once.
    """
    if type(entries) is not dict:
        return None
    vals = list(entries.values())
    if set(map(type, vals)) - {dict}:
        return None
    try:
        st, ed, bb = ([e[k] for e in vals] for k in REQUIRED_KEYS)
        if (set(map(type, st)) | set(map(type, ed))) - {int} or set(map(type, bb)) - {dict}:
            return None
        span = np.array([st, ed], dtype=np.int64).T.reshape(-1, 2)
        text = " ".join(_chain(bb))  # every key once; TypeError unless all are strings
    except (KeyError, TypeError, OverflowError):
        return None
    counts = np.fromiter(map(len, bb), dtype=np.int64, count=len(bb))
    n = int(counts.sum())
    frames = _frame_numbers(text, n)
    boxes = _boxes_float64(list(_chain(map(dict.values, bb))))
    if frames is None or boxes is None:
        return None
    # |x| < 2**53: finite, and compared as Python compares the ints and floats
    if not (np.abs(boxes) < 2.0 ** 53).all() or (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
        return None
    if (span[:, 0] > span[:, 1]).any():
        return None
    if ((frames < np.repeat(span[:, 0], counts)) | (frames > np.repeat(span[:, 1], counts))).any():
        return None
    return EntryArrays(span, counts, frames, boxes)


def _frame_numbers(text: str, n: int) -> Optional[np.ndarray]:
    """``int64[n]`` from ``n`` keys joined by spaces when each is ASCII digits without leading zeros
    (below 10**18); else None."""
    if not n:
        return np.zeros(0, dtype=np.int64)
    if not (text.isascii() and text.count(" ") == n - 1 and text.replace(" ", "").isdigit()):
        return None
    frames = np.fromstring(text, dtype=np.int64, sep=" ")
    if frames.size != n or frames.max() >= 10 ** 18:
        return None  # (an empty key, or a number too long to be read exactly)
    # no leading zeros: the numbers' digits add up to the text's
    if int(np.searchsorted(_POW10, frames, side="right").sum()) + n != len(text) - (n - 1):
        return None
    return frames


def _boxes_float64(boxes: List[Any]) -> Optional[np.ndarray]:
    """``float64[n, 4]`` (stored coordinate-major) when every box is a list or tuple of four ints
    or floats (bools, strings, numpy scalars, ... excluded); else None."""
    n = len(boxes)
    if _MARSHAL_OK:
        out = _marshalled_boxes(boxes)
        if out is not None:
            return out
    try:
        if (set(map(type, boxes)) - {list, tuple} or set(map(len, boxes)) - {4}
                or set(map(type, _chain(boxes))) - {int, float}):
            return None
        return np.fromiter(_chain(boxes), dtype=np.float64, count=4 * n).reshape(n, 4)
    except (TypeError, ValueError, OverflowError):
        return None


# ``marshal.dumps(boxes, 2)`` writes a list of n lists of four floats as fixed 41-byte records:
# "[" + int32 count (4), then for each float "g" + 8 bytes little-endian IEEE (version 2: no
# back-references). One C pass that both checks every type and copies every number; anything else
# (an int, a bool, a tuple, a longer box) changes a tag or the length, and the generic passes run.
_TAG_COLUMNS = np.array([0, 1, 2, 3, 4, 5, 14, 23, 32])
_TAGS = np.array([ord("["), 4, 0, 0, 0, ord("g"), ord("g"), ord("g"), ord("g")], dtype=np.uint8)


def _marshalled_boxes(boxes: List[Any]) -> Optional[np.ndarray]:
    n = len(boxes)
    try:
        buf = marshal.dumps(boxes, 2)
    except ValueError:  # an object marshal cannot write
        return None
    if len(buf) != 5 + 41 * n or buf[:5] != b"[" + n.to_bytes(4, "little"):
        return None
    if n == 0:
        return np.zeros((0, 4), dtype=np.float64)
    records = np.frombuffer(buf, dtype=np.uint8, offset=5).reshape(n, 41)
    if not (records[:, _TAG_COLUMNS] == _TAGS).all():
        return None
    values = np.ndarray((4, n), dtype="<f8", buffer=buf, offset=11, strides=(9, 41))
    return np.array(values, dtype=np.float64, order="C").T  # copied coordinate-major


def _marshal_probe() -> bool:
    """The record layout above holds on this Python (else the generic passes always run)."""
    sample = [[1.5, -2.0, 3.25, 1e300], [0.0, 5e-324, -7.0, 2.0 ** 60]]
    got = _marshalled_boxes(sample)
    return got is not None and got.tolist() == sample


_MARSHAL_OK = _marshal_probe()


# --- the per-entry checks (their messages) ------------------------------------------------------
_MAX_FRAME = 2 ** 63  # frame numbers are int64 in the evaluator's arrays


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _finite_number(c: Any) -> bool:
    if not isinstance(c, (int, float)) or isinstance(c, bool):
        return False
    try:
        return math.isfinite(c)
    except OverflowError:  # an int too large for a float
        return False


def _entry_problems(vid: str, entry: Any) -> List[str]:
    where = f"video {vid}"
    if not isinstance(entry, Mapping):
        return [f"{where}: entry is {type(entry).__name__}, not an object"]
    out = [f"{where}: missing key '{k}'" for k in REQUIRED_KEYS if k not in entry]
    if out:
        return out
    st, ed, bbox = entry["st_frame"], entry["ed_frame"], entry["bbox"]
    for key, v in (("st_frame", st), ("ed_frame", ed)):
        if not _is_int(v):
            out.append(f"{where}: {key} is {v!r}, not an integer")
        elif not -_MAX_FRAME < v < _MAX_FRAME:
            out.append(f"{where}: {key} {v} is too large for a frame number")
    if not out and st > ed:
        out.append(f"{where}: st_frame {st} > ed_frame {ed}")
    if not isinstance(bbox, Mapping):
        return out + [f"{where}: bbox is {type(bbox).__name__}, not an object of frame -> box"]
    spans_ok = not out
    for key, box in bbox.items():
        try:
            frame = int(key)
            if str(frame) != str(key).strip():
                raise ValueError
        except (TypeError, ValueError):
            out.append(f"{where}: bbox frame key {key!r} is not an integer")
            continue
        if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(map(_finite_number, box)):
            out.append(f"{where}: bbox at frame {key}: {box!r} is not four finite numbers")
            continue
        if box[2] < box[0] or box[3] < box[1]:
            out.append(f"{where}: bbox at frame {key}: x2 < x1 or y2 < y1 in {list(box)}")
        if spans_ok and not st <= frame <= ed:
            out.append(f"{where}: bbox frame {frame} outside [st_frame {st}, ed_frame {ed}]")
    return out
