"""Matcher data: annotations + tube files + RoI-feature HDF5 -> one :class:`MatcherVideo` per query
(one per video in HC-STVG; a training file may hold several per video,
:func:`stvg.data.load_hcstvg_queries`), and the training batches made of them.

    videos, report = load_matcher_split(cfg, "train")     # DATASET.TRAIN_ANN, .TUBES, .FEATURES
    batch = collate(videos[:32], window="gt")            # MatcherBatch
    batch = collate(videos[:32], "proposals", generator)  # windows drawn like the temporal stage's moments

Joins by video id (:mod:`stvg.data.ids`): annotation key = tube file ``video_id`` = HDF5 group.
``f[vid]["roi_features"]`` row i belongs to tube i of the video's tube file (what
``tools/extract_features.py --tubes`` writes). What is not an error:
* a video without a tube file, or with zero tubes: kept (for evaluation: an empty ranking, reason
  "no tubes"), never a training sample;
* a video absent from the feature file: an error naming it, unless ``DATASET.SKIP_MISSING`` (then
  skipped and counted).
What is: RoI features missing for a tube, or a wrong count or shape (names the video and the tube).
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from stvg.data import load_hcstvg_queries
from stvg.ops import tube_viou
from stvg.structures import Tube

from stvg.tube_geometry import TubeLayout, tube_layout, window_mask

__all__ = ["MatcherVideo", "DataReport", "MatcherBatch", "span_viou", "window_viou", "grid_moment",
           "proposal_windows", "load_matcher_split", "make_video", "collate", "read_roi_group"]

log = logging.getLogger(__name__)


def window_viou(tube: Tube, gt: Tube, first: int, last: int) -> float:
    """Official vIoU (:func:`stvg.ops.tube_viou`) with ``gt`` of ``tube`` cut to the window
    ``first..last`` (0-based inclusive frames): the cut tube runs from the tube's first to its last
    frame inside the window, and the union is the cut tube's span together with ``gt``'s, so a window
    off the ground truth lowers the value. 0 when the tube has no frame inside the window or either
    tube is empty."""
    if len(gt) == 0 or len(tube) == 0:
        return 0.0
    part = tube.crop(first, last)
    if len(part) == 0:
        return 0.0
    return float(tube_viou(part, gt))


def span_viou(tube: Tube, gt: Tube) -> float:
    """vIoU of ``tube`` with ``gt`` restricted to the ground-truth span (the tube is cropped to the
    frames ``gt.start_frame .. gt.end_frame`` first): sum of box IoUs on common frames / span length.
    :func:`window_viou` with the ground-truth span as the window."""
    if len(gt) == 0:
        return 0.0
    return window_viou(tube, gt, gt.start_frame, gt.end_frame)  # the union is gt's span


def grid_moment(start_cell: int, end_cell: int, num_frames: int, grid: int) -> Tuple[int, int]:
    """``(first, last)`` 0-based inclusive frames of the moment from cell ``start_cell`` to cell
    ``end_cell`` (inclusive, ``0 <= start_cell <= end_cell < grid``) of the video's ``grid`` equal
    cells; cell ``k`` holds frames ``round(k * n / grid) .. round((k + 1) * n / grid) - 1``. With fewer
    frames than cells a moment keeps at least one frame."""
    if not 0 <= start_cell <= end_cell < grid:
        raise ValueError(f"grid moment: need 0 <= start cell ({start_cell}) <= end cell ({end_cell}) < {grid}")
    if num_frames < 1:
        raise ValueError(f"grid moment: the video has {num_frames} frames")
    first = min(int(round(start_cell * num_frames / grid)), num_frames - 1)
    last = max(int(round((end_cell + 1) * num_frames / grid)) - 1, first)
    return first, last


def proposal_windows(videos: Sequence["MatcherVideo"], generator: Optional[torch.Generator], gt_prob: float,
                     grid: int) -> List[Tuple[Optional[Tuple[int, int]], bool]]:
    """Per video ``(window, is_gt)``: with probability ``gt_prob`` its ground-truth span (``is_gt``
    True; None for a video without ground truth), otherwise a moment of its ``grid`` equal cells,
    uniform over the ``grid * (grid + 1) / 2`` (start cell <= end cell) pairs. Two draws per batch from
    ``generator``: ``rand(B)`` then ``randint(grid * (grid + 1) / 2, (B,))``."""
    b, g = len(videos), int(grid)
    pick = torch.rand(b, generator=generator) < float(gt_prob)
    cell = torch.randint(g * (g + 1) // 2, (b,), generator=generator).tolist()
    pairs = [(i, j) for i in range(g) for j in range(i, g)]
    out: List[Tuple[Optional[Tuple[int, int]], bool]] = []
    for k, v in enumerate(videos):
        if bool(pick[k]):
            out.append((v.gt_window, True))
        else:
            out.append((grid_moment(*pairs[cell[k]], v.num_frames, g), False))
    return out


@dataclass
class MatcherVideo:
    """One video and its sentence, ready for the matcher.

    ``roi`` float32[N, S, C]; ``layout`` (geometry [N, S, G], segment and tube frame spans);
    ``viou`` float32[N] span-restricted vIoU with the ground truth (zeros without one); ``gt_window``
    (first, last) 0-based inclusive frames of the ground-truth tube (None without one); ``reason``
    why the video cannot be ranked ("" when it can)."""

    video_id: str
    sentence: str
    tubes: List[Tube]
    roi: np.ndarray
    layout: TubeLayout
    frame_indices: np.ndarray
    width: int
    height: int
    num_frames: int
    viou: np.ndarray
    gt: Optional[Tube] = None
    gt_window: Optional[Tuple[int, int]] = None
    reason: str = ""

    @property
    def num_tubes(self) -> int:
        return len(self.tubes)

    def has_positive(self, threshold: float) -> bool:
        """True when some tube's span-restricted vIoU exceeds ``threshold`` (``LOSS.POS_VIOU``)."""
        return bool(self.viou.size) and float(self.viou.max()) > threshold


@dataclass
class DataReport:
    """What a split load found (counts; the ids of skipped videos, a few of each)."""

    source: str = ""
    annotated: int = 0
    loaded: int = 0
    no_tube_file: int = 0
    no_tubes: int = 0
    missing_features: int = 0
    skipped_ids: List[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.source}: {self.loaded} of {self.annotated} videos loaded; {self.no_tube_file} without a "
                f"tube file, {self.no_tubes} with zero tubes, {self.missing_features} skipped without features")


def read_roi_group(f, vid: str, num_tubes: int, source: str) -> Tuple[np.ndarray, np.ndarray, dict]:
    """``(roi float32[N, S, C], frame_indices int64[K], attrs)`` of video ``vid`` in the open HDF5 file ``f``."""
    g = f[vid]
    if "frame_indices" not in g:
        raise ValueError(f"{source}: video {vid}: no frame_indices")
    fi = np.asarray(g["frame_indices"][()], np.int64)
    attrs = {k: g.attrs[k] for k in ("fps", "num_frames", "width", "height") if k in g.attrs}
    if num_tubes == 0:
        return np.zeros((0, 0, 0), np.float32), fi, attrs
    if "roi_features" not in g:
        raise ValueError(f"{source}: video {vid}: no roi_features for its {num_tubes} tubes (RoI features "
                         f"missing for tube 0: extract them with tools/extract_features.py --tubes)")
    roi = np.asarray(g["roi_features"][()], np.float32)
    if roi.ndim != 3:
        raise ValueError(f"{source}: video {vid}: roi_features has shape {roi.shape}, expected [N, S, C]")
    if roi.shape[0] < num_tubes:
        raise ValueError(f"{source}: video {vid}: RoI features missing for tube {roi.shape[0]} "
                         f"({roi.shape[0]} rows for {num_tubes} tubes in the tube file)")
    if roi.shape[0] > num_tubes:
        raise ValueError(f"{source}: video {vid}: {roi.shape[0]} rows of RoI features for {num_tubes} tubes "
                         f"(tube {num_tubes} and later are not in the tube file: features of another tube file?)")
    bad = ~np.isfinite(roi).reshape(roi.shape[0], -1).all(1)
    if bad.any():
        raise ValueError(f"{source}: video {vid}: RoI features of tube {int(np.nonzero(bad)[0][0])} are not finite")
    return roi, fi, attrs


def make_video(video_id: str, sentence: str, tubes: Sequence[Tube], roi: np.ndarray, frame_indices,
               width: int, height: int, num_frames: int, num_segments: int, roi_dim: int,
               gt: Optional[Tube] = None, reason: str = "") -> MatcherVideo:
    """A :class:`MatcherVideo` (checks the RoI shape against ``num_segments`` / ``roi_dim``)."""
    tubes = list(tubes)
    fi = np.asarray(frame_indices, np.int64).reshape(-1)
    if tubes:
        if roi is None:  # no RoI features (the CLIP backend reads frames instead)
            roi = np.zeros((len(tubes), num_segments, 0), np.float32)
        elif roi.shape[1:] != (num_segments, roi_dim):
            raise ValueError(f"video {video_id}: RoI features are [N, {roi.shape[1]}, {roi.shape[2]}], the matcher "
                             f"expects [N, {num_segments}, {roi_dim}] (MODEL.NUM_SEGMENTS, MODEL.ROI_DIM)")
        try:
            layout = tube_layout(tubes, fi, num_segments, width, height, num_frames)
        except ValueError as e:
            raise ValueError(f"video {video_id}: {e}") from None
    else:
        reason = reason or "no tubes"
        roi = np.zeros((0, num_segments, roi_dim), np.float32)
        layout = TubeLayout(torch.zeros(0, num_segments, 9), torch.zeros(0, num_segments, 2, dtype=torch.int64),
                            torch.zeros(0, 2, dtype=torch.int64))
    viou = np.array([span_viou(t, gt) for t in tubes], np.float32) if gt is not None \
        else np.zeros(len(tubes), np.float32)
    window = (gt.start_frame, gt.end_frame) if gt is not None and len(gt) else None
    return MatcherVideo(video_id, sentence, tubes, roi, layout, fi, int(width), int(height), int(num_frames),
                        viou, gt, window, reason)


def load_matcher_split(cfg, split: str, with_features: bool = True) -> Tuple[List[MatcherVideo], DataReport]:
    """Videos of ``DATASET.<SPLIT>_ANN`` with their tubes (``DATASET.TUBES``) and RoI features
    (``DATASET.FEATURES``); ``split`` is train, val or test. ``with_features`` False reads no feature
    file (``roi`` is then ``[N, S, 0]`` and the segments partition every frame of the tube)."""
    import h5py

    from spatial.tubes import read_tube_folder

    d = cfg.DATASET
    key = f"{split.upper()}_ANN"
    ann_path = d[key]
    if not ann_path:
        raise ValueError(f"DATASET.{key} is not set")
    for name in ("TUBES", "FEATURES") if with_features else ("TUBES",):
        if not d[name]:
            raise ValueError(f"DATASET.{name} is not set")
    if with_features and not os.path.isfile(d.FEATURES):
        raise FileNotFoundError(f"DATASET.FEATURES: feature file not found: {d.FEATURES}")
    queries, _ = load_hcstvg_queries(ann_path, clip_seconds=float(d.CLIP_SECONDS))
    tubes = read_tube_folder(d.TUBES, list(dict.fromkeys(q.video_id for q in queries)))
    report = DataReport(source=ann_path, annotated=len(queries))
    out: List[MatcherVideo] = []
    s, c = int(cfg.MODEL.NUM_SEGMENTS), int(cfg.MODEL.ROI_DIM)
    with (h5py.File(d.FEATURES, "r") if with_features else contextlib.nullcontext()) as f:
        groups: Dict[str, tuple] = {}     # a video's RoI rows, read once for all its queries
        for ann in queries:
            vid = ann.video_id
            reason = ""
            if vid not in tubes:
                report.no_tube_file += 1
                reason = "no tube file"
            vt = tubes.get(vid, [])
            if with_features:
                if vid not in f:
                    if not d.SKIP_MISSING:
                        raise ValueError(f"{d.FEATURES}: no features for video {vid} (of {ann_path}); set "
                                         f"DATASET.SKIP_MISSING True to skip such videos")
                    report.missing_features += 1
                    report.skipped_ids.append(vid)
                    continue
                if vid not in groups:
                    groups[vid] = read_roi_group(f, vid, len(vt), d.FEATURES)
                roi, fi, attrs = groups[vid]
            else:
                if not ann.num_frames:
                    raise ValueError(f"{ann_path}: video {vid}: frame count unknown")
                roi, fi, attrs = None, np.arange(int(ann.num_frames)), {}
            if not vt and not reason:
                report.no_tubes += 1
                reason = "no tubes"
            width = ann.width or attrs.get("width")
            height = ann.height or attrs.get("height")
            nframes = ann.num_frames or attrs.get("num_frames")
            if not (width and height):
                raise ValueError(f"{ann_path}: video {vid}: frame size unknown (not in the annotation nor the "
                                 f"feature file)")
            out.append(make_video(vid, ann.sentence, vt, roi, fi, int(width), int(height),
                                  int(nframes or fi[-1] + 1), s, c, ann.tube, reason))
    report.loaded = len(out)
    log.info("%s", report.summary())
    return out, report


@dataclass
class MatcherBatch:
    """A training batch of B videos (one sentence each) and their T tubes.

    ``roi`` [T, S, C], ``geometry`` [T, S, G], ``mask`` Bool[T, S] (segments seen), ``tube_video``
    Long[T], ``sent_video`` Long[B], ``viou`` [B, T] (own-video pairs; 0 elsewhere), ``sentences``
    (B strings), ``index`` (B dataset indices), ``same_source`` Bool[B, T]: sentence i and a tube of
    another item of the same video (two queries of one video in a batch: neither positive nor
    negative, see :class:`spatial.matcher.loss.MatcherLoss`)."""

    roi: torch.Tensor
    geometry: torch.Tensor
    mask: torch.Tensor
    tube_video: torch.Tensor
    sent_video: torch.Tensor
    viou: torch.Tensor
    sentences: List[str]
    index: List[int]
    same_source: Optional[torch.Tensor] = None

    def to(self, device) -> "MatcherBatch":
        kw = dict(device=device, non_blocking=True)
        return MatcherBatch(self.roi.to(**kw), self.geometry.to(**kw), self.mask.to(**kw), self.tube_video.to(**kw),
                            self.sent_video.to(**kw), self.viou.to(**kw), self.sentences, self.index,
                            None if self.same_source is None else self.same_source.to(**kw))


def collate(videos: Sequence[MatcherVideo], window: str = "gt", generator: Optional[torch.Generator] = None,
            index: Optional[Sequence[int]] = None, proposal_gt_prob: float = 0.3,
            proposal_grid: int = 16) -> MatcherBatch:
    """Stack videos (each with >= 1 tube) into a :class:`MatcherBatch`. ``window``: "gt" (each video's
    tubes seen through its ground-truth span), "none", "mixed" (one or the other per video, drawn
    from ``generator``), or "proposals" (each video's tubes seen through a window of
    :func:`proposal_windows`, drawn from ``generator``; a drawn grid moment replaces the video's
    ``viou`` by :func:`window_viou` of each tube in that window)."""
    rois, geos, masks, tv = [], [], [], []
    b = len(videos)
    total = sum(v.num_tubes for v in videos)
    viou = torch.zeros(b, total)
    start = 0
    pick = torch.rand(b, generator=generator) < 0.5 if window == "mixed" else None
    drawn = proposal_windows(videos, generator, proposal_gt_prob, proposal_grid) if window == "proposals" else None
    for i, v in enumerate(videos):
        n = v.num_tubes
        if n == 0:
            raise ValueError(f"video {v.video_id}: no tubes to train on")
        values = torch.from_numpy(v.viou)
        if drawn is not None:
            win, is_gt = drawn[i]
            if not is_gt:
                values = torch.tensor([window_viou(t, v.gt, *win) if v.gt is not None else 0.0 for t in v.tubes],
                                      dtype=torch.float32)
        else:
            use_gt = window == "gt" or (window == "mixed" and bool(pick[i]))
            win = v.gt_window if use_gt else None
        mask, _ = window_mask(v.layout, win)
        rois.append(torch.from_numpy(v.roi))
        geos.append(v.layout.geometry)
        masks.append(mask)
        tv.append(torch.full((n,), i, dtype=torch.int64))
        viou[i, start:start + n] = values
        start += n
    tube_video = torch.cat(tv)
    ids = {vid: k for k, vid in enumerate(dict.fromkeys(v.video_id for v in videos))}
    source = torch.tensor([ids[v.video_id] for v in videos], dtype=torch.int64)
    same_source = (source[:, None] == source[tube_video][None, :]) & (torch.arange(b)[:, None] != tube_video[None, :])
    return MatcherBatch(torch.cat(rois), torch.cat(geos), torch.cat(masks), tube_video,
                        torch.arange(b, dtype=torch.int64), viou, [v.sentence for v in videos],
                        list(index) if index is not None else list(range(b)), same_source)
