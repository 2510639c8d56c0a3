"""Link per-frame person detections into tubes (tracking by detection).

    tubes, report = link_detections(dets, frame_size=(w, h))            # dets: list[Detections]

Algorithm (deterministic; one pass over the detection steps, i.e. the frames that were detected):

1. Clean each frame: non-finite boxes/scores are dropped (counted), boxes are clipped to the frame
   when ``frame_size`` is given (counted), boxes left with no area are dropped (counted), and
   detections under ``min_score`` are dropped.
2. Every live track predicts its box on the current frame: its last box (``motion="last"``) or its
   last box moved by its centre's per-frame velocity (``motion="velocity"``; the velocity between
   consecutive detections, averaged as ``v = m v + (1 - m) v_new`` with ``m = velocity_momentum``
   so detector jitter is not extrapolated over gaps; the box size stays the track box's). The
   track box itself is an alpha-beta filter: on a match it moves ``position_gain`` of the way from
   its prediction to the detection (1 = jump to the detection), which averages out jitter. The
   tubes are made of the detections themselves (step 4), not of these filtered boxes.
3. Hungarian assignment (``scipy.optimize.linear_sum_assignment``) of tracks to detections on the
   cost ``(1 - w) (1 - IoU) + w (1 - cos) / 2`` (``w = appearance_weight`` when per-box features are
   given, else 0); pairs with ``IoU < iou_threshold`` are forbidden (IoU gating). Unmatched
   detections start tracks; a track unmatched for more than ``max_gap`` consecutive steps ends.
4. Tracks with fewer than ``min_length`` detections are dropped. Boxes are optionally smoothed
   (centred moving average over ``smooth_window`` detections), then linearly interpolated onto
   every decoded frame from the first to the last detection (exact: a frame at fraction ``a`` of the
   way between two detections gets ``(1 - a) b0 + a b1``); per-frame scores likewise.
5. Tube score = mean detection score x ``n / (n + length_prior)`` (``n`` detections): long, steady
   tubes outrank short bursts of equal confidence. Tubes are ordered by score (ties: earlier start,
   then creation order), and a tube whose vIoU (:func:`stvg.ops.tube_viou`) with a better kept tube
   exceeds ``tube_nms_viou`` is suppressed.

In the code: :func:`_clean` (step 1); :func:`_track`, one step at a time through :func:`_predict`,
:func:`_associate`, :func:`_update` and :func:`_spawn` (steps 2-3); :func:`_build_tubes` (steps 4-5);
:func:`suppress_tubes` (step 5).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from stvg.ops import box_iou_aligned_np, box_iou_np
from stvg.structures import Detections, Tube

__all__ = ["LinkParams", "LinkReport", "link_detections", "interpolate_track", "smooth_boxes",
           "suppress_tubes"]

_FORBIDDEN = 1e6
_CHUNK = 16  # frames per chunk of the tube-NMS bound
# Row vector [dx1, dy1, dx2, dy2] @ _CENTRE = the centre's displacement in every coordinate.
_CENTRE = np.array([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5], [0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5]])


@dataclass(frozen=True)
class LinkParams:
    """Linking settings (see the module docstring; ``spatial.defaults`` LINKING has the same keys)."""

    iou_threshold: float = 0.3
    appearance_weight: float = 0.0
    appearance_momentum: float = 0.7
    max_gap: int = 3
    motion: str = "velocity"
    velocity_momentum: float = 0.7
    position_gain: float = 0.5
    min_length: int = 3
    smooth_window: int = 1
    tube_nms_viou: float = 0.7
    length_prior: float = 5.0
    min_score: Optional[float] = None

    def __post_init__(self) -> None:
        if self.motion not in ("velocity", "last"):
            raise ValueError(f"motion must be 'velocity' or 'last', got {self.motion!r}")
        if self.smooth_window < 1 or self.smooth_window % 2 == 0:
            raise ValueError(f"smooth_window must be odd and >= 1, got {self.smooth_window}")
        if self.max_gap < 0 or self.min_length < 1 or self.length_prior < 0:
            raise ValueError("need max_gap >= 0, min_length >= 1, length_prior >= 0")
        if not 0.0 < self.position_gain <= 1.0:
            raise ValueError(f"position_gain must be in (0, 1], got {self.position_gain}")
        if not 0.0 <= self.velocity_momentum < 1.0:
            raise ValueError(f"velocity_momentum must be in [0, 1), got {self.velocity_momentum}")
        if not 0.0 <= self.appearance_weight <= 1.0:
            raise ValueError(f"appearance_weight must be in [0, 1], got {self.appearance_weight}")

    @classmethod
    def from_config(cls, linking_cfg: Any) -> "LinkParams":
        """From a ``LINKING`` config section (upper-case keys of :data:`spatial.defaults.SPATIAL_DEFAULTS`)."""
        return cls(**{f.name: linking_cfg[f.name.upper()] for f in fields(cls)})


@dataclass
class LinkReport:
    """What linking did with its input."""

    num_frames: int = 0            # detection steps (frames with a Detections entry)
    num_detections: int = 0        # boxes received
    num_nonfinite: int = 0         # boxes dropped for NaN/inf coordinates or score
    num_clipped: int = 0           # boxes clipped to the frame
    num_empty: int = 0             # boxes dropped for having no area (after clipping)
    num_low_score: int = 0         # boxes under min_score
    num_tracks: int = 0            # tracks formed
    num_short: int = 0             # tracks dropped for having < min_length detections
    num_suppressed: int = 0        # tubes removed by tube-level NMS
    num_tubes: int = 0


def _gather(detections, features, use_app):
    """Concatenate every frame's boxes (float64) once; check frame order and feature rows."""
    t = len(detections)
    frame_ids = np.empty(t, dtype=np.int64)
    counts = np.empty(t, dtype=np.int64)
    prev = -1
    for i, det in enumerate(detections):
        if not isinstance(det, Detections):
            raise TypeError(f"detections[{i}]: expected Detections, got {type(det).__name__}")
        f = i if det.frame is None else det.frame
        if f <= prev:
            raise ValueError(f"detections: frames must increase, got frame {f} after {prev} (position {i})")
        frame_ids[i] = prev = f
        counts[i] = det.boxes.shape[0]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    if t and offsets[-1]:
        try:  # one concatenation (Detections guarantees [N, 4] boxes and [N] scores)
            boxes = torch.cat([d.boxes for d in detections])
            scores = torch.cat([d.scores for d in detections])
        except RuntimeError:  # frames on different devices
            boxes = torch.cat([d.boxes.cpu().reshape(-1, 4) for d in detections])
            scores = torch.cat([d.scores.cpu().reshape(-1) for d in detections])
        boxes = boxes.detach().cpu().double().numpy()
        scores = scores.detach().cpu().double().numpy()
    else:
        boxes, scores = np.zeros((0, 4)), np.zeros(0)
    feats = None
    if use_app:
        rows = []
        for i, (det, fe) in enumerate(zip(detections, features)):
            fe = torch.as_tensor(fe).detach().cpu().double()
            if fe.shape[0] != counts[i]:
                raise ValueError(f"frame {frame_ids[i]}: {counts[i]} boxes but {fe.shape[0]} feature rows")
            rows.append(fe.reshape(counts[i], -1) if fe.numel() else fe.reshape(0, 0))
        dims = {r.shape[1] for r in rows if r.shape[0]}
        if len(dims) > 1:
            raise ValueError(f"features: rows of different lengths {sorted(dims)}")
        feats = torch.cat([r for r in rows if r.shape[0]]).numpy() if dims else np.zeros((0, 1))
    return boxes, scores, feats, frame_ids, offsets


def _clean(boxes: np.ndarray, scores: np.ndarray, frame_size, min_score, rep: LinkReport) -> np.ndarray:
    """Count, clip (in place) and mask the boxes ``float64[D, 4]``; -> keep mask ``bool[D]``."""
    rep.num_detections = boxes.shape[0]
    keep = np.isfinite(boxes).all(1) & np.isfinite(scores)
    rep.num_nonfinite = int(boxes.shape[0] - keep.sum())
    boxes[~keep] = 0.0
    if frame_size is not None:
        w, h = frame_size
        clipped = np.clip(boxes, 0.0, np.array([w, h, w, h], dtype=np.float64))
        rep.num_clipped = int((keep & (clipped != boxes).any(1)).sum())
        boxes[:] = clipped
    ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    rep.num_empty = int((keep & ~ok).sum())
    keep &= ok
    if min_score is not None:
        low = keep & (scores < min_score)
        rep.num_low_score = int(low.sum())
        keep &= ~low
    return keep


def _normalise(f: np.ndarray) -> np.ndarray:
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def smooth_boxes(boxes: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of ``boxes float[N, 4]`` over ``window`` (odd) rows; the window
    shrinks symmetrically at the ends so the first and last boxes are kept. -> ``float[N, 4]``."""
    n = boxes.shape[0]
    if window <= 1 or n < 3:
        return boxes
    half = np.minimum(np.minimum(np.arange(n), n - 1 - np.arange(n)), window // 2)
    c = np.concatenate([np.zeros((1, 4)), np.cumsum(boxes, axis=0)])
    lo, hi = np.arange(n) - half, np.arange(n) + half + 1
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def interpolate_track(frames: np.ndarray, boxes: np.ndarray, scores: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse track (``frames int[N]`` strictly increasing, ``boxes float[N, 4]``, ``scores float[N]``)
    -> dense (``int64[F]`` every frame first..last, ``float[F, 4]``, ``float[F]``), linear in between."""
    dense = np.arange(frames[0], frames[-1] + 1, dtype=np.int64)
    if frames.shape[0] == dense.shape[0]:  # a box on every frame already (or a single frame)
        return dense, boxes.copy(), scores.copy()
    i = np.clip(np.searchsorted(frames, dense, side="right") - 1, 0, frames.shape[0] - 2)
    a = ((dense - frames[i]) / (frames[i + 1] - frames[i]))
    out_b = boxes[i] * (1 - a)[:, None] + boxes[i + 1] * a[:, None]
    out_s = scores[i] * (1 - a) + scores[i + 1] * a
    return dense, out_b, out_s


def link_detections(detections: Sequence[Detections], frame_size: Optional[Tuple[int, int]] = None,
                    features: Optional[Sequence[Any]] = None, params: Optional[LinkParams] = None,
                    **overrides: Any) -> Tuple[List[Tube], LinkReport]:
    """Per-frame detections -> (tubes best first, :class:`LinkReport`).

    Args:
        detections: one ``Detections`` per detected frame, in increasing frame order; a frame with no
            person is an empty ``Detections``. ``Detections.frame`` gives the decoded-frame index
            (``None``: the list position).
        frame_size: ``(width, height)`` of the decoded frames; boxes are clipped to it when given.
        features: optional, one ``float[N_t, D]`` per frame (rows aligned with the boxes) for the
            appearance term.
        params: :class:`LinkParams`; keyword ``overrides`` replace single fields.
    Returns:
        tubes: ``Tube`` list (CPU), each with a box and score on every frame of its span, ``score``
            the tube score; sorted best first.
    """
    p = params or LinkParams()
    if overrides:
        p = LinkParams(**{**{f.name: getattr(p, f.name) for f in fields(LinkParams)}, **overrides})
    if features is not None and len(features) != len(detections):
        raise ValueError(f"{len(detections)} frames of detections but {len(features)} of features")
    rep = LinkReport(num_frames=len(detections))
    use_app = features is not None and p.appearance_weight > 0
    boxes, scores, feats, frame_ids, offsets = _gather(detections, features, use_app)
    keep = _clean(boxes, scores, frame_size, p.min_score, rep)
    track_of, rep.num_tracks = _track(boxes, keep, None if feats is None else _normalise(feats),
                                      frame_ids, offsets, p)
    if not rep.num_tracks:
        return [], rep
    det_frame = np.repeat(frame_ids, np.diff(offsets))
    sel = track_of >= 0
    tubes = _build_tubes(track_of[sel], det_frame[sel], boxes[sel], scores[sel], p, rep)
    tubes, rep.num_suppressed = suppress_tubes(tubes, p.tube_nms_viou)
    rep.num_tubes = len(tubes)
    return tubes, rep


# Track state: one row per track in a float64[tracks, 13] matrix (one gather and one scatter per
# step keep the loop fast). Its columns:
_BOX = slice(0, 4)   # the track box x1, y1, x2, y2 (alpha-beta filtered; the tubes use the detections)
_VEL = slice(4, 8)   # per-frame velocity of the box: the centre's, in every coordinate
_FRAME = 8           # decoded frame of the last match
_STEP = 9            # detection step of the last match
_AREA = 10           # area of the track box (a prediction moves the centre only: the area stays)
_MOMENTUM = 11       # velocity momentum of the next match: 0 for a newborn track, then velocity_momentum
_GAIN = 12           # position gain of the next match: 1 for a newborn track, then position_gain
_WIDTH = 13


def _track(boxes_all: np.ndarray, keep: np.ndarray, feats_all: Optional[np.ndarray],
           frame_ids: np.ndarray, offsets: np.ndarray, p: LinkParams) -> Tuple[np.ndarray, int]:
    """The pass over the detection steps (steps 2 and 3 of the module docstring).

    Args:
        boxes_all: ``float64[D, 4]`` every step's boxes, step ``t`` in rows ``offsets[t]:offsets[t + 1]``;
            keep: ``bool[D]`` the boxes that survived cleaning; feats_all: ``float64[D, C]`` unit
            appearance features (None: no appearance term); frame_ids: ``int64[T]`` each step's frame.
    Returns:
        ``(track id of every box int64[D], -1 for a cleaned-away box; number of tracks)``.
    """
    steps = frame_ids.shape[0]
    track_of = np.full(boxes_all.shape[0], -1, dtype=np.int64)
    cap = max(1, int(keep.sum()))  # every track starts with a detection
    state = np.zeros((cap, _WIDTH))
    track_feat = None if feats_all is None else np.zeros((cap, feats_all.shape[1]))
    area_all = (boxes_all[:, 2] - boxes_all[:, 0]) * (boxes_all[:, 3] - boxes_all[:, 1])
    step_of = np.repeat(np.arange(steps), np.diff(offsets))
    dropped = np.bincount(step_of[~keep], minlength=steps).tolist()
    offs, fids = offsets.tolist(), frame_ids.tolist()
    live = np.zeros(0, dtype=np.int64)  # ids of the live tracks
    n_tracks = 0
    all_matched = True  # every live track matched on the previous step: none can expire now
    for t in range(steps):
        o0, o1 = offs[t], offs[t + 1]
        n = o1 - o0 - dropped[t]
        if not n:
            all_matched = False
            continue
        idx = np.flatnonzero(keep[o0:o1]) + o0 if dropped[t] else slice(o0, o1)
        f, boxes, areas = fids[t], boxes_all[idx], area_all[idx]
        if live.size:
            st = state[live]
            if not all_matched:  # end the tracks unmatched for more than max_gap steps
                alive = st[:, _STEP] >= t - p.max_gap - 1
                if not alive.all():
                    live, st = live[alive], st[alive]
        n_live, matched = live.size, 0
        if n_live:
            pred = _predict(st, f, p)
            rows, cols = _associate(pred, st[:, _AREA], boxes, areas, p,
                                    None if track_feat is None else track_feat[live],
                                    None if feats_all is None else feats_all[idx])
            matched = cols.size
        assign = np.empty(n, dtype=np.int64)
        if matched:
            tr = live[rows]
            assign[cols] = tr
            state[tr] = _update(st[rows], pred[rows], boxes[cols], areas[cols], f, t, p)
            if track_feat is not None:
                m = p.appearance_momentum
                track_feat[tr] = _normalise(m * track_feat[tr] + (1 - m) * feats_all[idx][cols])
        if matched < n:
            if matched:
                new = np.ones(n, dtype=bool)
                new[cols] = False
                new = np.flatnonzero(new)
            else:
                new = np.arange(n)
            ids = np.arange(n_tracks, n_tracks + new.size)
            assign[new] = ids
            state[ids] = _spawn(boxes[new], areas[new], f, t)
            if track_feat is not None:
                track_feat[ids] = feats_all[idx][new]
            n_tracks += new.size
            live = np.concatenate([live, ids])
        track_of[idx] = assign
        all_matched = matched == n_live
    return track_of, n_tracks


def _predict(st: np.ndarray, frame: int, p: LinkParams) -> np.ndarray:
    """Each track's box on ``frame`` (state rows ``st float64[L, 13]``) -> ``float64[L, 4]``: its last
    box, moved by its velocity over the frames since its last match when ``motion="velocity"``."""
    if p.motion != "velocity":
        return st[:, _BOX]
    return st[:, _BOX] + st[:, _VEL] * (frame - st[:, _FRAME, None])


def _associate(pred: np.ndarray, pred_area: np.ndarray, boxes: np.ndarray, areas: np.ndarray,
               p: LinkParams, track_feat: Optional[np.ndarray], det_feat: Optional[np.ndarray]
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Hungarian assignment of predicted track boxes ``float64[L, 4]`` (areas ``[L]``) to detections
    ``float64[N, 4]`` (areas ``[N]``) on the cost ``(1 - w) (1 - IoU) + w (1 - cos) / 2``; a pair
    with ``IoU < iou_threshold`` is never matched. ``track_feat [L, C]`` / ``det_feat [N, C]``: unit
    features (None: ``w = 0``). -> matched ``(track rows int[K], detection columns int[K])``."""
    iou = box_iou_np(pred, boxes, pred_area, areas)
    thr = p.iou_threshold
    if track_feat is not None:
        w = p.appearance_weight
        cost = (1 - w) * (1.0 - iou) + w * (1 - track_feat @ det_feat.T) / 2
        cost[iou < thr] = _FORBIDDEN
    else:
        cost = np.where(iou >= thr, 1.0 - iou, _FORBIDDEN)
    rows, cols = linear_sum_assignment(cost)
    ok = iou[rows, cols] >= thr  # the assignment may still pick forbidden pairs
    if not ok.all():
        rows, cols = rows[ok], cols[ok]
    return rows, cols


def _update(old: np.ndarray, pred: np.ndarray, z: np.ndarray, z_area: np.ndarray, frame: int, step: int,
            p: LinkParams) -> np.ndarray:
    """New state rows of the tracks matched on this step: their rows ``old float64[K, 13]``, their
    predicted boxes ``pred [K, 4]``, the detections ``z [K, 4]`` (areas ``z_area [K]``). The
    velocity of the centre is averaged with the track's momentum; the box moves the track's gain of
    the way from the prediction to the detection (the detection itself when ``position_gain`` is 1)."""
    new = np.empty_like(old)
    # the centre's displacement per frame, in every coordinate (the size follows the track box)
    centre_vel = ((z - old[:, _BOX]) / (frame - old[:, _FRAME, None])) @ _CENTRE
    mom = old[:, _MOMENTUM, None]
    new[:, _VEL] = mom * old[:, _VEL] + (1 - mom) * centre_vel
    if p.position_gain < 1.0:
        box = pred + old[:, _GAIN, None] * (z - pred)
        new[:, _BOX] = box
        new[:, _AREA] = (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])
    else:
        new[:, _BOX] = z
        new[:, _AREA] = z_area
    new[:, _FRAME] = frame
    new[:, _STEP] = step
    new[:, _MOMENTUM] = p.velocity_momentum
    new[:, _GAIN] = p.position_gain
    return new


def _spawn(z: np.ndarray, z_area: np.ndarray, frame: int, step: int) -> np.ndarray:
    """State rows of new tracks started by the unmatched detections ``z float64[K, 4]`` (areas
    ``[K]``): no velocity, and momentum 0, gain 1 so their second detection sets velocity and box."""
    born = np.zeros((z.shape[0], _WIDTH))
    born[:, _BOX] = z
    born[:, _FRAME] = frame
    born[:, _STEP] = step
    born[:, _AREA] = z_area
    born[:, _GAIN] = 1.0
    return born


def _build_tubes(track, frame, boxes, scores, p: LinkParams, rep: LinkReport) -> List[Tube]:
    """Each track's detections (``track int[K]``, ``frame int[K]``, ``boxes float64[K, 4]``,
    ``scores float64[K]``) -> dense tubes of the tracks with ``min_length`` detections, best first."""
    order = np.argsort(track, kind="stable")  # by track; frames already increase within a track
    track, frame, boxes, scores = track[order], frame[order], boxes[order], scores[order]
    starts = np.flatnonzero(np.r_[True, track[1:] != track[:-1]])
    ends = np.r_[starts[1:], track.shape[0]]
    made = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        n = e - s
        if n < p.min_length:
            rep.num_short += 1
            continue
        b = smooth_boxes(boxes[s:e], p.smooth_window)
        fr, db, ds = interpolate_track(frame[s:e], b, scores[s:e])
        score = float(scores[s:e].mean()) * n / (n + p.length_prior)
        made.append((-score, int(fr[0]), int(track[s]), Tube(fr, db.astype(np.float32),
                                                              ds.astype(np.float32), score)))
    made.sort(key=lambda x: x[:3])
    return [m[3] for m in made]


def suppress_tubes(tubes: List[Tube], thr: float) -> Tuple[List[Tube], int]:
    """Greedy tube NMS over dense tubes given best first: drop a tube whose vIoU with a kept tube is
    ``> thr``. vIoU is the official definition (the one :func:`stvg.ops.tube_viou` computes, tested
    equal), computed for one candidate against all kept tubes at once on a frame grid with
    :func:`stvg.ops.box_iou_aligned_np`. -> (kept, number dropped)."""
    if thr >= 1.0 or len(tubes) < 2:
        return list(tubes), 0
    lo = min(t.start_frame for t in tubes)
    hi = max(t.end_frame for t in tubes)
    grid = np.full((len(tubes), hi - lo + 1, 4), np.nan)
    span = np.empty((len(tubes), 2), dtype=np.int64)
    for i, t in enumerate(tubes):
        if not t.is_dense():
            raise ValueError("suppress_tubes: tubes must have a box on every frame of their span")
        span[i] = t.start_frame, t.end_frame
        grid[i, span[i, 0] - lo:span[i, 1] - lo + 1] = t.boxes.detach().cpu().double().numpy()
    # Per chunk of _CHUNK frames, each tube's bounding rectangle and frame count: a pair can only
    # have positive IoU on frames of chunks where their rectangles intersect, which bounds vIoU.
    nc = -(-grid.shape[1] // _CHUNK)
    pad = np.full((len(tubes), nc * _CHUNK - grid.shape[1], 4), np.nan)
    chunks = np.concatenate([grid, pad], 1).reshape(len(tubes), nc, _CHUNK, 4)
    lo_xy = np.fmin.reduce(chunks[..., 0:2], axis=2)  # NaN only where the tube is absent
    hi_xy = np.fmax.reduce(chunks[..., 2:4], axis=2)
    count = (~np.isnan(chunks[..., 0])).sum(2)
    kept = [0]
    for i in range(1, len(tubes)):
        k = np.asarray(kept)
        union = np.maximum(span[k, 1], span[i, 1]) - np.minimum(span[k, 0], span[i, 0]) + 1
        inter = np.minimum(span[k, 1], span[i, 1]) - np.maximum(span[k, 0], span[i, 0]) + 1
        keep_k = inter / union > thr  # vIoU <= shared frames / union frames
        if keep_k.any():
            k, union = k[keep_k], union[keep_k]
            meet = ((np.minimum(hi_xy[k], hi_xy[i]) > np.maximum(lo_xy[k], lo_xy[i])).all(-1))
            bound = (meet * np.minimum(count[k], count[i])).sum(1)
            cand = k[bound / union > thr]
        else:
            cand = k[:0]
        if cand.size:
            ious = box_iou_aligned_np(grid[cand], grid[i][None])  # 0 where either has no box (NaN)
            u = (np.maximum(span[cand, 1], span[i, 1]) - np.minimum(span[cand, 0], span[i, 0]) + 1)
            if (ious.sum(1) / u > thr).any():
                continue
        kept.append(i)
    return [tubes[i] for i in kept], len(tubes) - len(kept)
