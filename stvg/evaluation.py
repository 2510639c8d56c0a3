"""HC-STVG metrics (m_tIoU, m_vIoU, vIoU@R), exactly the official definition, vectorised in torch.

For one video, with S_u the union of the predicted and ground-truth frame spans
(``|S_u| = max(ed) - min(st) + 1``) and S_i the frames that have a box in both:

* ``vIoU = sum_{t in S_i} IoU(pred_t, gt_t) / |S_u|``, box IoU on x1, y1, x2, y2 with no "+1",
  0 where the boxes do not overlap (so zero-area boxes score 0);
* ``tIoU = |S_i| / |S_u|``;
* a ground-truth video missing from the predictions scores vIoU = tIoU = 0;
* m_vIoU, m_tIoU: means over all ground-truth videos; vIoU@R: share of videos with vIoU > R (strict).

Two entry points:
* :func:`evaluate` on loaded JSON dicts (challenge format; the ground truth may also be a loaded
  HC-STVG v1/v2 annotation file or the loader's records);
* :func:`video_metrics` on padded tensors already in memory (for training loops on the GPU).
All arithmetic is float64. :func:`evaluate` gives bitwise the same numbers on CPU and CUDA (the
per-frame IoUs run on the device, the sums in a fixed order on the CPU); the tensor entry points
sum on the device and agree with the CPU to ~1e-16.

Videos are matched by the submission id of both sides (:func:`stvg.data.ids.submission_id`, the
file name without its video extension): an annotation file keys ``"55_vfjywN5CN0Y.mp4"``, a
submission ``"55_vfjywN5CN0Y"``, and predictions keyed either way score the same; two ids naming
one video (``"a.mp4"`` and ``"a"``) are an error naming both, on either side.

Inputs are checked as ``tools/evaluate_stvg.py`` checks them, in the same pass that converts them
for the frame matching (:func:`stvg.submission.entry_arrays`). Predictions must be in the challenge
format (:data:`CHALLENGE_FORMAT`): any fault (see :func:`stvg.submission.validate`; videos missing
from the predictions are allowed and score 0) raises :class:`stvg.submission.SubmissionError`
listing the problems, unless ``lenient=True``, which scores what the official script could read
(and logs the problems). Even then, predictions in another format altogether (an HC-STVG
annotation file, the loader's records), with no readable entry, with no video of the ground
truth, or with two keys naming one video are refused. The ground truth is never lenient: a fault
in it (a NaN box, a wrong schema, an entry the HC-STVG loader skips, two ids naming one video) or
an empty one raises :class:`GroundTruthError`.
"""
from __future__ import annotations

import itertools
import logging
import math
import operator
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .data.hcstvg import VideoAnnotation, load_hcstvg
from .engine.device import resolve_device
from .ops import box_iou_aligned
from .submission import (EntryArrays, SubmissionError, entry_arrays, id_problems, match_key, same_video_problems,
                         tube_to_entry, validate)

__all__ = ["evaluate", "HCSTVGEvaluator", "video_metrics", "summarize", "PaddedTubes", "pad_entries",
           "FramePairs", "match_frames", "ground_truth_entries", "prediction_problems", "GroundTruthError",
           "CHALLENGE_FORMAT", "THRESHOLDS"]

log = logging.getLogger(__name__)
_chain = itertools.chain.from_iterable

THRESHOLDS = (0.3, 0.5)
CHALLENGE_FORMAT = '{video id: {"st_frame": int, "ed_frame": int, "bbox": {"<frame>": [x1, y1, x2, y2], ...}}}'


class GroundTruthError(ValueError):
    """A ground truth that cannot be scored against; ``problems`` lists what is wrong."""

    def __init__(self, source: str, problems: List[str]) -> None:
        head = "; ".join(problems[:5]) + (f"; ... ({len(problems)} problems)" if len(problems) > 5 else "")
        super().__init__(f"{source}: invalid ground truth: {head}")
        self.source, self.problems = source, problems


@dataclass
class PaddedTubes:
    """Per-frame boxes of V videos on a common frame grid.

    ``boxes float64[V, F, 4]`` (x1, y1, x2, y2), ``mask bool[V, F]`` (a box exists at that frame),
    ``span float64[V, 2]`` (st_frame, ed_frame inclusive, in the same frame numbering as the grid),
    ``valid bool[V]`` (the video has an entry at all). Grid position f of video v is frame
    ``base[v] + f`` (``base int64[V]``), the same for predictions and ground truth.
    """

    boxes: torch.Tensor
    mask: torch.Tensor
    span: torch.Tensor
    valid: torch.Tensor
    base: torch.Tensor

    def to(self, device) -> "PaddedTubes":
        return PaddedTubes(*(t.to(device) for t in (self.boxes, self.mask, self.span, self.valid, self.base)))


def video_metrics(pred: PaddedTubes, gt: PaddedTubes) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-video ``(vIoU float64[V], tIoU float64[V])`` from padded tensors on one grid.

    Videos with ``pred.valid`` False score 0. No Python loop over videos or frames: the cells with a
    box in both are gathered once, their IoUs summed per video.
    """
    v, f = gt.mask.shape
    both = (pred.mask & gt.mask).reshape(-1)
    cells = both.nonzero().squeeze(1)
    iou = box_iou_aligned(pred.boxes.reshape(-1, 4).index_select(0, cells).double(),
                          gt.boxes.reshape(-1, 4).index_select(0, cells).double())
    sums = torch.zeros(v, dtype=torch.float64, device=iou.device).index_add_(0, cells // f, iou)
    hits = both.view(v, f).sum(dim=1)
    return _ratios(sums, hits, pred.span, gt.span, pred.valid & gt.valid)


def _ratios(sums, hits, pred_span, gt_span, ok) -> Tuple[torch.Tensor, torch.Tensor]:
    union = (torch.maximum(pred_span[:, 1], gt_span[:, 1])
             - torch.minimum(pred_span[:, 0], gt_span[:, 0]) + 1).to(torch.float64)
    union = torch.where(ok, union, torch.ones_like(union))
    zero = torch.zeros_like(union)
    return (torch.where(ok, sums / union, zero),
            torch.where(ok, hits.to(torch.float64) / union, zero))


def summarize(viou: torch.Tensor, tiou: torch.Tensor,
              thresholds: Sequence[float] = THRESHOLDS) -> Dict[str, float]:
    """Means and strict-threshold shares -> ``{"m_tIoU", "m_vIoU", "vIoU@R"..., "num_videos"}``."""
    n = int(viou.numel())
    out = {"m_tIoU": float(tiou.sum() / n) if n else 0.0,
           "m_vIoU": float(viou.sum() / n) if n else 0.0}
    for r in thresholds:
        out[f"vIoU@{r:g}"] = float((viou > r).sum()) / n if n else 0.0
    out["num_videos"] = n
    return out


def ground_truth_entries(ground_truth: Any, source: str = "ground truth") -> Dict[str, dict]:
    """The ground truth in challenge format, checked: a challenge-format dict (returned as is), an
    HC-STVG v1/v2 annotation dict or ``{vid: VideoAnnotation}`` from the loader (converted: 1-based
    frames, x1, y1, x2, y2), told apart automatically.

    Raises :class:`GroundTruthError` naming ``source`` (the file name, when there is one) for
    anything that cannot be scored against: not an object, no videos, a challenge entry with a
    fault (a NaN box, ...), any entry the HC-STVG loader would skip, or two ids naming one video
    (``"a.mp4"`` and ``"a"``: ids match by :func:`stvg.data.ids.submission_id`).
    """
    return _ground_truth(ground_truth, source)[0]


def _ground_truth(ground_truth: Any, source: str) -> Tuple[Dict[str, dict], Optional[EntryArrays]]:
    """:func:`ground_truth_entries` and the entries' :class:`EntryArrays` (None when their frame keys
    are not all canonical), from one pass of the check."""
    if not _is_mapping(ground_truth):
        raise GroundTruthError(source, [f"top level is {type(ground_truth).__name__}, not an object "
                                        "mapping video ids to entries"])
    if not ground_truth:
        raise GroundTruthError(source, ["no videos to score (the object is empty)"])
    first = next(iter(ground_truth.values()))
    if isinstance(first, VideoAnnotation):
        records = ground_truth
    elif _is_mapping(first) and _is_mapping(first.get("bbox")):
        entries = dict(ground_truth)
        arrays = entry_arrays(entries)
        problems = same_video_problems(entries) if arrays is not None else validate(entries)
        if problems:
            raise GroundTruthError(source, problems)
        return entries, arrays
    else:
        records, report = load_hcstvg(ground_truth, name=source)
        if report.problems:
            what = ("neither challenge format nor HC-STVG v1/v2 annotations: " if not records else "")
            raise GroundTruthError(source, [f"{what}{report.summary()}"] + [str(p) for p in report.problems])
    entries = {}
    for vid, ann in records.items():
        if not isinstance(ann, VideoAnnotation):
            raise GroundTruthError(source, [f"video {vid}: entry is {type(ann).__name__}, not a VideoAnnotation"])
        if ann.tube is None:
            raise GroundTruthError(source, [f"video {vid} has no tube (a query-only file cannot be scored)"])
        entries[vid] = tube_to_entry(ann.tube)
    problems = same_video_problems(entries)
    if problems:
        raise GroundTruthError(source, problems)
    return entries, entry_arrays(entries)


def prediction_problems(predictions: Any, ground_truth: Iterable[str]) -> List[str]:
    """What is wrong with predictions to be scored against the ground-truth ids (empty: nothing).

    Exactly :func:`stvg.submission.validate` with ``allow_missing=True``, except that predictions
    in another format altogether give one problem saying what was expected and what was found.
    """
    found = _foreign_format(predictions)
    if found:
        return [f"not in the challenge submission format {CHALLENGE_FORMAT}: found {found}"]
    return validate(predictions, ground_truth, allow_missing=True)


def evaluate(predictions: Mapping[str, Any], ground_truth: Mapping[str, Any],
             device: Optional[str] = None, thresholds: Sequence[float] = THRESHOLDS,
             per_video: bool = False, lenient: bool = False) -> Dict[str, Any]:
    """Score a loaded submission against a loaded ground truth (see module docstring).

    One-shot form of :class:`HCSTVGEvaluator`; to score many predictions against the same ground
    truth, build the evaluator once. ``lenient``: score predictions with faults as the official
    script reads them instead of raising :class:`stvg.submission.SubmissionError`.
    """
    return HCSTVGEvaluator(ground_truth, thresholds).evaluate(predictions, device, per_video, lenient=lenient)


class HCSTVGEvaluator:
    """The ground truth checked and indexed once (frame numbers and boxes as arrays, ids by
    submission id); :meth:`evaluate` then scores any number of predictions (checkpoint sweeps,
    per-epoch validation).

    Frames are matched by their keys, as the official script does; videos by the submission id of
    both sides (:func:`stvg.data.ids.submission_id`: ``"a.mp4"`` and ``"a"`` are one video). With
    ``lenient=True``, entries the official script could not read score as if absent: a prediction
    without numeric st_frame/ed_frame or without a bbox object scores 0; a predicted box that is
    not at least four numbers counts in |S_i| but contributes IoU 0 (a longer one is read by its
    first four).
    """

    def __init__(self, ground_truth: Mapping[str, Any], thresholds: Sequence[float] = THRESHOLDS,
                 source: str = "ground truth") -> None:
        """``source`` names the ground truth in errors (:class:`GroundTruthError`)."""
        self.ground_truth, arrays = _ground_truth(ground_truth, source)
        self.thresholds = tuple(thresholds)
        self._index = {match_key(vid): i for i, vid in enumerate(self.ground_truth)}
        v, entries = len(self.ground_truth), self.ground_truth.values()
        self._span = np.array([(g["st_frame"], g["ed_frame"]) for g in entries], dtype=np.float64).reshape(v, 2)
        boxes = (arrays.boxes if arrays is not None
                 else _boxes_array(list(_chain(g["bbox"].values() for g in entries)), strict=True))
        self._boxes_t = np.ascontiguousarray(boxes.T)  # float64[4, n]: coordinate-major, for the IoU
        counts = np.fromiter((len(g["bbox"]) for g in entries), dtype=np.int64, count=v)
        self._owner = np.repeat(np.arange(v), counts)
        self._keys: Optional[List[List[Any]]] = None  # the frame keys, for predictions off the fast path
        self._stride = self._frame_keys = None
        if arrays is not None:  # (video, frame) -> one int64, for matching frames by numbers
            stride = int(arrays.frames.max()) + 1 if arrays.frames.size else 1
            if v * stride < 2 ** 62:
                self._stride, self._frame_keys = stride, self._owner * stride + arrays.frames

    def __len__(self) -> int:
        return len(self.ground_truth)

    def missing(self, predictions: Mapping[str, Any]) -> List[str]:
        """The ground-truth ids that no prediction names (matched by submission id)."""
        have = set(map(match_key, predictions))
        return [vid for vid in self.ground_truth if match_key(vid) not in have]

    def pairs(self, predictions: Mapping[str, Any]) -> FramePairs:
        """Pair every ground-truth frame with the prediction's box under the same key. The
        predictions are not checked (unknown videos are ignored), except that two keys naming one
        video raise :class:`stvg.submission.SubmissionError`."""
        arrays = entry_arrays(predictions) if self._frame_keys is not None else None
        return self._pairs(predictions, arrays, self._rows(predictions))

    def _rows(self, predictions: Mapping[str, Any]) -> List[int]:
        """The ground-truth row of each predicted video (-1: not in the ground truth)."""
        get = self._index.get
        rows = [get(match_key(vid), -1) for vid in predictions]
        known = [r for r in rows if r >= 0]
        if len(set(known)) != len(known):
            raise SubmissionError("predictions", same_video_problems(predictions), fatal=True)
        return rows

    def _pairs(self, predictions: Mapping[str, Any], arrays: Optional[EntryArrays], rows: List[int]) -> FramePairs:
        if arrays is not None:
            return self._pairs_by_number(arrays, rows)
        return self._pairs_by_key(predictions, rows)

    def _pairs_by_number(self, arrays: EntryArrays, gt_rows: List[int]) -> FramePairs:
        """The fast path: both sides' frame keys are canonical, so keys match when numbers do;
        one ``searchsorted`` of the ground-truth (video, frame) numbers into the predicted ones,
        rows in ground-truth order (as the per-key path gives them, for the same sums)."""
        v = len(self)
        video = np.asarray(gt_rows, dtype=np.int64).reshape(-1)
        known = video >= 0
        pred_span = np.zeros((v, 2), dtype=np.float64)
        valid = np.zeros(v, dtype=bool)
        pred_span[video[known]] = arrays.span[known]
        valid[video[known]] = True
        box_video = np.repeat(video, arrays.counts)
        rows = np.flatnonzero((box_video >= 0) & (arrays.frames < self._stride))  # others meet no GT frame
        keys = box_video[rows] * self._stride + arrays.frames[rows]
        if keys.size > 1 and not (keys[1:] > keys[:-1]).all():
            order = np.argsort(keys, kind="stable")
            keys, rows = keys[order], rows[order]
        if not keys.size:
            hit = np.zeros(0, dtype=np.int64)
            pred = np.zeros((4, 0))
        else:
            pos = np.searchsorted(keys, self._frame_keys).clip(max=keys.size - 1)
            hit = np.flatnonzero(keys[pos] == self._frame_keys)  # GT rows with a predicted box, in order
            pred = arrays.boxes.T.take(rows[pos[hit]], axis=1)
        return self._frame_pairs(self._boxes_t.take(hit, axis=1), pred, self._owner[hit], pred_span, valid)

    def _pairs_by_key(self, predictions: Mapping[str, Any], gt_rows: List[int]) -> FramePairs:
        """Any predictions (lenient scoring, keys such as ``" 7"``): one Python loop over videos;
        the per-frame work runs in C (``map`` over ``dict.get``, ``itertools.compress``,
        ``numpy.fromiter``)."""
        if self._keys is None:
            self._keys = [list(g["bbox"]) for g in self.ground_truth.values()]
        v = len(self)
        by_row = {i: p for i, p in zip(gt_rows, predictions.values()) if i >= 0}
        pred_span = np.zeros((v, 2), dtype=np.float64)
        valid = np.zeros(v, dtype=bool)
        found = []
        for i, keys in enumerate(self._keys):
            p = by_row.get(i)
            pb = p.get("bbox") if _is_mapping(p) else None
            if _is_mapping(pb) and _is_number(p.get("st_frame")) and _is_number(p.get("ed_frame")):
                pred_span[i] = (p["st_frame"], p["ed_frame"])
                valid[i] = True
                found.append(map(pb.get, keys))  # the predicted box at each GT frame, or None
            else:
                found.append(itertools.repeat(None, len(keys)))
        at = list(_chain(found))
        hit_list = list(map(operator.is_not, at, itertools.repeat(None)))
        hit = np.array(hit_list, dtype=bool)
        pred = _boxes_array(list(itertools.compress(at, hit_list)), strict=False)
        return self._frame_pairs(self._boxes_t[:, hit], np.ascontiguousarray(pred.T), self._owner[hit],
                                 pred_span, valid)

    def _frame_pairs(self, gt: np.ndarray, pred: np.ndarray, owner: np.ndarray, pred_span: np.ndarray,
                     valid: np.ndarray) -> FramePairs:
        """``gt``, ``pred``: ``float64[4, n]``, passed on as ``[n, 4]`` views of coordinate-major
        memory (the fast layout for the IoU)."""
        hits = np.bincount(owner, minlength=len(self)).astype(np.int64)
        return FramePairs(*(torch.from_numpy(x) for x in (gt.T, pred.T, owner, hits, pred_span,
                                                          self._span, valid)))

    def check(self, predictions: Any, lenient: bool = False, source: str = "predictions") -> List[str]:
        """The predictions' problems (:func:`prediction_problems`). Raises
        :class:`stvg.submission.SubmissionError` naming ``source`` when there are any, or, with
        ``lenient``, only when nothing could be scored: another format altogether, no readable
        entry, none of the ground truth's videos, or two keys naming one video."""
        return self._checked(predictions, lenient, source)[0]

    def _checked(self, predictions: Any, lenient: bool,
                 source: str) -> Tuple[List[str], Optional[EntryArrays], Optional[List[int]]]:
        """:meth:`check`, and what it computed on the way: the predictions' :class:`EntryArrays`
        (None: frames are matched by key) and, when all is well, their ground-truth rows."""
        found = _foreign_format(predictions)
        if found:
            raise SubmissionError(source, [f"not in the challenge submission format {CHALLENGE_FORMAT}: found {found}"],
                                  fatal=True)
        arrays = entry_arrays(predictions) if self._frame_keys is not None else None
        if arrays is not None:
            get = self._index.get
            rows = [get(match_key(vid), -1) for vid in predictions]
            if min(rows, default=0) >= 0 and len(set(rows)) == len(rows):
                return [], arrays, rows  # the fast path: nothing wrong, pairs built from the arrays
            problems = id_problems(predictions, self.ground_truth, allow_missing=True)
        else:
            problems = validate(predictions, self.ground_truth, allow_missing=True)
        same = same_video_problems(predictions) if problems else []
        if problems and not lenient:
            raise SubmissionError(source, problems, fatal=bool(same))
        if problems:
            fatal = same or _unscorable(predictions, self._index, problems)
            if fatal:
                raise SubmissionError(source, same or [fatal], fatal=True)
            log.warning("%s: %d problem(s), scored as the official script reads them (lenient): %s",
                        source, len(problems), "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else ""))
        return problems, arrays, None

    def evaluate(self, predictions: Mapping[str, Any], device: Optional[str] = None,
                 per_video: bool = False, lenient: bool = False,
                 source: str = "predictions") -> Dict[str, Any]:
        """Metrics dict (module docstring); with ``per_video=True`` also
        ``"per_video": {vid: (vIoU, tIoU)}`` keyed by the ground truth's ids. Bitwise the same
        numbers on CPU and CUDA. The predictions are checked first (:meth:`check`), in the same
        pass that converts them for the frame matching."""
        dev = resolve_device(device) if device is not None else torch.device("cpu")
        _, arrays, rows = self._checked(predictions, lenient, source)
        pairs = self._pairs(predictions, arrays, rows if rows is not None else self._rows(predictions))
        viou, tiou = pairs.to(dev).metrics(fixed_order=True)
        out: Dict[str, Any] = summarize(viou, tiou, self.thresholds)
        if per_video:
            out["per_video"] = dict(zip(self.ground_truth, zip(viou.tolist(), tiou.tolist())))
        return out


@dataclass
class FramePairs:
    """The frames of V videos that have a box in both prediction and ground truth, flattened.

    ``gt float64[n, 4]`` and ``pred float64[n, 4]`` (the two boxes of each matched frame),
    ``owner int64[n]`` (video of each row), ``hits int64[V]`` (|S_i| per video),
    ``pred_span``/``gt_span float64[V, 2]`` (st_frame, ed_frame), ``valid bool[V]`` (the prediction
    has a usable entry).
    """

    gt: torch.Tensor
    pred: torch.Tensor
    owner: torch.Tensor
    hits: torch.Tensor
    pred_span: torch.Tensor
    gt_span: torch.Tensor
    valid: torch.Tensor

    def to(self, device) -> "FramePairs":
        return FramePairs(*(getattr(self, k).to(device) for k in self.__dataclass_fields__))

    def metrics(self, fixed_order: bool = False) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(vIoU float64[V], tIoU float64[V])`` on the tensors' device.

        The per-frame IoUs are bitwise the same on every device (element-wise IEEE operations);
        the per-video sums on CUDA use atomic adds, whose order varies, so they may differ from the
        CPU's in the last bit. ``fixed_order=True`` sums on the CPU in frame order instead, for
        results that are bitwise identical whatever the device (returned on the CPU).
        """
        v = self.valid.shape[0]
        iou = box_iou_aligned(self.pred, self.gt)
        owner, rest = self.owner, (self.hits, self.pred_span, self.gt_span, self.valid)
        if fixed_order:
            iou, owner, rest = iou.cpu(), owner.cpu(), tuple(t.cpu() for t in rest)
        sums = torch.zeros(v, dtype=torch.float64, device=iou.device).index_add_(0, owner, iou)
        return _ratios(sums, *rest)


def match_frames(predictions: Mapping[str, Any], ground_truth: Mapping[str, Any]) -> FramePairs:
    """:class:`FramePairs` of a submission against a ground truth (see :meth:`HCSTVGEvaluator.pairs`)."""
    return HCSTVGEvaluator(ground_truth).pairs(predictions)


def _boxes_array(boxes: List[Any], strict: bool) -> np.ndarray:
    """``float64[n, 4]`` from a list of boxes; fast path when every box is four numbers."""
    n = len(boxes)
    try:
        if n and set(map(len, boxes)) != {4}:
            raise TypeError
        return np.fromiter(itertools.chain.from_iterable(boxes), dtype=np.float64,
                           count=4 * n).reshape(n, 4)
    except (TypeError, ValueError):
        pass
    out = np.full((n, 4), np.nan)
    for j, b in enumerate(boxes):
        try:
            if isinstance(b, (str, bytes)) or len(b) < 4:
                raise TypeError
            out[j] = [float(c) for c in b[:4]]
        except (TypeError, ValueError):
            if strict:
                raise ValueError(f"ground truth box {b!r} is not four numbers") from None
    return out


# ---------------------------------------------------------------------------------------------
def pad_entries(entries: Sequence[Optional[Mapping[str, Any]]], base: Optional[torch.Tensor],
                width: Optional[int] = None) -> PaddedTubes:
    """Challenge-format entries -> :class:`PaddedTubes`.

    With ``base=None`` (ground truth) each video's grid starts at its first boxed frame and the grid
    width is the longest tube. With a given ``base`` and ``width`` (predictions), boxes outside the
    grid are dropped: they cannot meet a ground-truth box, and only ``span`` enters ``|S_u|``.
    Frame keys are read as integers (a key that is not one is dropped); a box that is not at least
    four numbers is kept as NaN, so it counts in |S_i| but scores IoU 0, as in :func:`evaluate`.
    """
    v = len(entries)
    spans = np.zeros((v, 2), dtype=np.float64)
    valid = np.zeros(v, dtype=bool)
    counts = np.zeros(v, dtype=np.int64)
    keys: List[Any] = []
    vals: List[Any] = []
    for i, e in enumerate(entries):
        if not _is_mapping(e):
            continue
        st, ed, bb = e.get("st_frame"), e.get("ed_frame"), e.get("bbox")
        if not (_is_number(st) and _is_number(ed)):
            continue
        spans[i] = (st, ed)
        valid[i] = True
        if _is_mapping(bb) and bb:
            keys.append(bb.keys())
            vals.append(bb.values())
            counts[i] = len(bb)
    frames, ok = _frame_numbers(list(itertools.chain.from_iterable(keys)))
    boxes = _boxes_array(list(itertools.chain.from_iterable(vals)), strict=False)[ok]
    owner = np.repeat(np.arange(v), counts)[ok]
    frames = frames[ok]
    if base is None:
        base_np = np.full(v, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(base_np, owner, frames)
        base_np[base_np == np.iinfo(np.int64).max] = 0
        pos = frames - base_np[owner]
        width = int(pos.max()) + 1 if pos.size else 1
    else:
        base_np = base.cpu().numpy()
        pos = frames - base_np[owner]
        keep = (pos >= 0) & (pos < width)
        owner, pos, boxes = owner[keep], pos[keep], boxes[keep]
    grid = np.zeros((v, max(int(width), 1), 4), dtype=np.float64)
    mask = np.zeros((v, max(int(width), 1)), dtype=bool)
    grid[owner, pos] = boxes
    mask[owner, pos] = True
    return PaddedTubes(torch.from_numpy(grid), torch.from_numpy(mask), torch.from_numpy(spans),
                       torch.from_numpy(valid), torch.from_numpy(base_np))


def _frame_numbers(keys: List[Any]) -> Tuple[np.ndarray, np.ndarray]:
    """``(int64[n] frame numbers, bool[n] readable)`` of frame keys; fast path when all are integers."""
    n = len(keys)
    try:
        return np.fromiter(map(int, keys), dtype=np.int64, count=n), np.ones(n, dtype=bool)
    except (TypeError, ValueError):
        pass
    frames, ok = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    for j, k in enumerate(keys):
        try:
            frames[j], ok[j] = int(k), True
        except (TypeError, ValueError):
            pass
    return frames, ok


def _is_number(x: Any) -> bool:
    """An int, float or numpy number (not a bool), and for an int one a float64 can hold."""
    t = type(x)
    if t is float:
        return True
    if t is int or (t is not bool and isinstance(x, int)):
        try:
            return math.isfinite(x)
        except OverflowError:  # an int too large for a float
            return False
    return t is not bool and isinstance(x, (float, np.integer, np.floating))


def _is_mapping(x: Any) -> bool:
    return type(x) is dict or isinstance(x, Mapping)


# --- input checks -------------------------------------------------------------------------------
def _foreign_format(entries: Any) -> Optional[str]:
    """What the entries are, when they are plainly not challenge-format predictions."""
    if not _is_mapping(entries):
        return f"{type(entries).__name__}, not an object mapping video ids to entries"
    vals = list(entries.values())
    if not vals:
        return None
    if all(isinstance(v, VideoAnnotation) for v in vals):
        return ("VideoAnnotation records (the output of stvg.data.load_hcstvg); write tubes as entries "
                "with stvg.submission.tube_to_entry")
    if all(isinstance(v, str) for v in vals):
        return "a query-only file {video: sentence}"
    if all(_is_mapping(v) and isinstance(v.get("bbox"), list) and ({"caption", "English", "img_num"} & set(v))
           for v in vals):
        return ("an HC-STVG v1/v2 annotation file (entries with 'bbox' [[x, y, w, h], ...] from "
                "'st_frame', and a sentence); stvg.evaluation.ground_truth_entries converts one")
    if not any(_is_mapping(v) for v in vals):
        kinds = sorted({type(v).__name__ for v in vals})
        return f"entries of type {', '.join(kinds)}, not objects"
    return None


def _unscorable(predictions: Mapping[str, Any], index: Mapping[str, int],
                problems: List[str]) -> Optional[str]:
    """Why even a lenient evaluation would score nothing (None when something can be scored);
    ``index``: the ground truth's submission ids."""
    if not predictions:
        return None
    readable = [vid for vid, p in predictions.items()
                if _is_mapping(p) and _is_mapping(p.get("bbox")) and _is_number(p.get("st_frame"))
                and _is_number(p.get("ed_frame"))]
    if not readable:
        return (f"none of the {len(predictions)} entries is readable as {CHALLENGE_FORMAT} "
                f"(e.g. {problems[0]})")
    if not any(match_key(vid) in index for vid in readable):
        ex_p, ex_g = next(iter(readable)), next(iter(index))
        return (f"none of the {len(readable)} readable predicted videos is in the ground truth "
                f"(predictions have ids like {ex_p!r}, the ground truth {ex_g!r})")
    return None
