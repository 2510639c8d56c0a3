"""Tube-mode data (``MODEL.MODE tube``): HC-STVG queries, each video's candidate tubes, per-tube features.

Three files join by video id (:mod:`stvg.data.ids`: annotation key = tube file ``video_id`` = HDF5
group):

* the annotation file, read by :func:`stvg.data.load_hcstvg_queries` (v1, v2 or synthetic, and
  training files with several queries per video; the ground-truth tube of each query, 0-based
  frames, x1, y1, x2, y2). Query-only entries (no tube) cannot be trained or scored: skipped and
  counted;
* ``DATASET.TUBES/<video id>.json``: the video's candidate tubes (:mod:`temporal.data.tube_files`);
* ``DATASET.FEATURES``: ``f[vid][DATASET.FEATURE_KEY]`` = ``float32[N, S, C]``, row ``k`` the RoI
  features of tube ``k`` of the tube file (``roi_features``, docs/features.md: the tube's own frames
  pooled into S segments of its span).

Each tube's ``[S, C]`` rows are L2-normalised and resampled to ``Tensor[NUM_PRE_CLIPS, C]`` by
:func:`temporal.data.tube_sequences` (MMN's rule, the same as for clip features; with
``geometry`` (MODEL.TUBE_GEOMETRY) each row is followed by its segment's box geometry,
:func:`stvg.tube_geometry.tube_layout` on the file's ``frame_indices``, ``width``, ``height`` and
``num_frames``, the matcher's input: ``[NUM_PRE_CLIPS, C + 9]``), so a tube's
feature sequence covers the tube's own span, first box to last box. Its ``N x N`` map is defined on
the tube's boxes: cell ``(i, j)`` is the sub-tube :func:`temporal.st_iou.cell_sub_tube` (boxes
``round(i / N * T)`` to ``round((j + 1) / N * T)``, exclusive), which the features see as the
segments of the same fraction ``[i / N, (j + 1) / N)`` of the span.

Each item also carries the st-IoU targets (:func:`temporal.st_iou_map`) of its (sentence, tube) pairs
in the box convention ``plus_one``; they are computed on first use and kept (per process: each
DataLoader worker keeps those of the items it loaded; ``4 * N * N`` bytes per pair).

Errors (``ValueError`` subclasses, naming the file and the video): a video without a tube file or
without features (unless ``skip_missing``: then dropped and listed in ``missing``), RoI features
whose row count is not the tube file's tube count, a wrong feature width, NaN/inf features. A video
whose tube file holds zero tubes has no candidate: it is left out of the items (never a training
sample) and kept in ``empty``, so an evaluation counts it with vIoU 0.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from stvg.data import group_by_video, load_hcstvg_queries
from stvg.structures import Tube
from stvg.tube_geometry import GEOMETRY_DIM, tube_layout

from ..st_iou import st_iou_map
from .dataset import MissingFeaturesError
from .features import FeatureError, FeatureStore, tube_sequences
from .tube_files import read_video_tubes, tube_file_path

__all__ = ["TubeQuery", "TubeVideo", "TubeSample", "TubeDataset", "RoiFeatureStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TubeQuery:
    """One sentence, its ground-truth tube (0-based frames) and that tube's span ``(start, end)`` in
    seconds; ``index`` = position in the video's annotation list (HC-STVG: always 0; a multi-query
    training file: the entry's position in the video's list)."""

    index: int
    sentence: str
    gt: Tube
    segment: Tuple[float, float]


@dataclass(frozen=True)
class TubeVideo:
    """One video: its queries and its candidate tubes (tube-file order)."""

    video_id: str
    queries: Tuple[TubeQuery, ...]
    tubes: Tuple[Tube, ...]


@dataclass
class TubeSample:
    """One video ready for collation. ``feats``: ``FloatTensor[K, NUM_PRE_CLIPS, C]`` (K tubes);
    ``gt_segments``: ``FloatTensor[S, 2]`` seconds; ``iou_targets``: ``FloatTensor[S, K, N, N]`` st-IoU
    of every tube's cells with each sentence's ground-truth tube."""

    video_id: str
    feats: torch.Tensor
    tubes: List[Tube]
    sentences: List[str]
    gt_tubes: List[Tube]
    gt_segments: torch.Tensor
    sentence_index: List[int]
    iou_targets: torch.Tensor


class RoiFeatureStore(FeatureStore):
    """Per-tube features ``f[vid][key]`` = ``float32[N, S, C]`` (``key`` empty: ``f[vid]`` itself).
    ``dim_source``: where the expected C comes from, for the error (empty: MODEL.FEAT_DIM)."""

    def __init__(self, path: str, feature_key: str = "", feat_dim: Optional[int] = None,
                 dim_source: str = "") -> None:
        super().__init__(path, feature_key, feat_dim)
        self.dim_source = dim_source

    def check(self, video_id: str, num_tubes: int, tube_file: str = "the tube file") -> None:
        """Metadata check: ``[num_tubes, S >= 1, feat_dim]``; the error names the video and both counts."""
        shape = tuple(self._dataset(video_id).shape)
        if len(shape) != 3 or shape[1] < 1:
            raise FeatureError(f"{self.path}: video {video_id}: per-tube features must be [N tubes, S, C], "
                               f"got shape {shape}")
        if shape[0] != num_tubes:
            raise FeatureError(f"{self.path}: video {video_id}: {shape[0]} rows of RoI features for "
                               f"{num_tubes} tubes in {tube_file} (features of another tube file?)")
        if self.feat_dim is not None and shape[2] != self.feat_dim:
            want = self.dim_source or f"MODEL.FEAT_DIM {self.feat_dim}"
            raise FeatureError(f"{self.path}: video {video_id}: feature dimension {shape[2]} does not match "
                               f"{want}")

    def read(self, video_id: str) -> torch.Tensor:
        """Raw ``FloatTensor[N, S, C]``; raises :class:`FeatureError` naming the first tube with NaN/inf."""
        arr = np.asarray(self._dataset(video_id)[()], dtype=np.float32)
        bad = ~np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1)
        if bad.any():
            raise FeatureError(f"{self.path}: video {video_id}: RoI features of tube {int(np.nonzero(bad)[0][0])} "
                               f"contain NaN or inf")
        return torch.from_numpy(arr)

    def layout_inputs(self, video_id: str) -> Tuple[np.ndarray, int, int, int]:
        """``(frame_indices int64[K], width, height, num_frames)`` the RoI rows were sampled on (the
        layout of :mod:`stvg.features.store`), for the tube geometry; errors name the file and video."""
        try:
            group = self.file[video_id]
            fi = np.asarray(group["frame_indices"][()], np.int64)
            attrs = {k: int(group.attrs[k]) for k in ("width", "height", "num_frames")}
        except (KeyError, TypeError) as e:
            raise FeatureError(f"{self.path}: video {video_id}: MODEL.TUBE_GEOMETRY needs the feature file's "
                               f"frame_indices and width/height/num_frames attributes (a file of "
                               f"tools/extract_features.py --tubes): {e}") from None
        return fi, attrs["width"], attrs["height"], attrs["num_frames"]


def _head(ids: Sequence[str]) -> str:
    return ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")


class TubeDataset(Dataset):
    """Videos with at least one tube; item ``i`` is a :class:`TubeSample`.

    Attributes: ``videos`` (the items), ``empty`` (videos whose tube file has no tube), ``missing``
    (ids dropped by ``skip_missing``), ``no_ground_truth`` (query-only entries skipped).
    """

    def __init__(self, videos: Sequence[TubeVideo], features: RoiFeatureStore, num_pre_clips: int,
                 num_clips: int, plus_one: bool = False, empty: Sequence[TubeVideo] = (),
                 missing: Sequence[str] = (), no_ground_truth: Sequence[str] = (),
                 source: str = "annotations", geometry: bool = False) -> None:
        if not videos:
            raise ValueError(f"{source}: no video with both a ground-truth tube and a candidate tube")
        self.videos, self.empty = list(videos), list(empty)
        self.features, self.num_pre_clips = features, int(num_pre_clips)
        self.num_clips, self.plus_one = int(num_clips), bool(plus_one)
        self.missing, self.no_ground_truth, self.source = list(missing), list(no_ground_truth), source
        self.geometry = bool(geometry)
        self._targets: Dict[int, torch.Tensor] = {}
        self._geometry: Dict[int, torch.Tensor] = {}

    @classmethod
    def from_files(cls, ann_path: str, tubes_dir: str, feat_path: str, feature_key: str, feat_dim: int,
                   num_pre_clips: int, num_clips: int, plus_one: bool = False,
                   skip_missing: bool = False, geometry: bool = False) -> "TubeDataset":
        """``feat_dim``: MODEL.FEAT_DIM, the RoI width plus GEOMETRY_DIM with ``geometry``."""
        if not tubes_dir:
            raise ValueError("MODEL.MODE tube needs DATASET.TUBES: the folder of tube files (<video id>.json)")
        if not os.path.isdir(tubes_dir):
            raise FileNotFoundError(f"DATASET.TUBES: tube folder not found: {tubes_dir}")
        queries, report = load_hcstvg_queries(ann_path)
        records = group_by_video(queries)     # several queries per video in a multi-query file
        no_gt = list(dict.fromkeys(r.video_id for r in queries if r.tube is None))
        if no_gt:
            log.warning("%s: %d entries without a ground-truth tube (query-only) cannot be trained or scored "
                        "in tube mode: skipped (%s)", ann_path, len(no_gt), _head(no_gt))
        recs = [[r for r in rs if r.tube is not None] for rs in records.values()]
        recs = [rs for rs in recs if rs]
        if not recs:
            raise ValueError(f"{ann_path}: no entry with a ground-truth tube ({report.summary()})")
        roi_dim = feat_dim - GEOMETRY_DIM if geometry else feat_dim
        if roi_dim < 1:
            raise ValueError(f"MODEL.FEAT_DIM {feat_dim} with MODEL.TUBE_GEOMETRY leaves no room for RoI features "
                             f"(FEAT_DIM = RoI width + {GEOMETRY_DIM})")
        store = RoiFeatureStore(feat_path, feature_key, roi_dim, dim_source=(
            f"the RoI width {roi_dim} = MODEL.FEAT_DIM {feat_dim} - {GEOMETRY_DIM} geometry values "
            "(MODEL.TUBE_GEOMETRY)" if geometry else ""))
        ids = [rs[0].video_id for rs in recs]
        no_file = [v for v in ids if not os.path.isfile(tube_file_path(tubes_dir, v))]
        no_feat = store.missing(ids)
        missing = list(dict.fromkeys(no_file + no_feat))
        if missing:
            parts = []
            if no_file:
                parts.append(f"{len(no_file)} have no tube file in {tubes_dir} ({_head(no_file)})")
            if no_feat:
                parts.append(f"{len(no_feat)} are missing from the feature file {feat_path} ({_head(no_feat)})")
            msg = f"of {len(ids)} videos of {ann_path}, " + "; ".join(parts)
            if not skip_missing:
                raise MissingFeaturesError(msg + " (pass --skip-missing or DATASET.SKIP_MISSING True to skip them)")
            log.warning(msg + "; skipped (--skip-missing)")
        gone = set(missing)
        videos, empty = [], []
        for rs in recs:
            vid = rs[0].video_id
            if vid in gone:
                continue
            path = tube_file_path(tubes_dir, vid)
            tubes = tuple(read_video_tubes(path, vid))
            segs = [r.tube.segment(r.fps) for r in rs]
            video = TubeVideo(vid, tuple(TubeQuery(k, r.sentence, r.tube, (seg.start, seg.end))
                                         for k, (r, seg) in enumerate(zip(rs, segs))), tubes)
            if tubes:
                store.check(vid, len(tubes), path)
                videos.append(video)
            else:
                empty.append(video)
        if empty:
            log.warning("%s: %d videos have no candidate tube (%s): never trained on, scored vIoU 0",
                        ann_path, len(empty), _head([v.video_id for v in empty]))
        return cls(videos, store, num_pre_clips, num_clips, plus_one, empty, missing, no_gt, source=ann_path,
                   geometry=geometry)

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def num_queries(self) -> int:
        """Queries of every video kept, those without a candidate tube included."""
        return sum(len(v.queries) for v in self.videos + self.empty)

    def targets(self, i: int) -> torch.Tensor:
        """``FloatTensor[S, K, N, N]``: st-IoU targets of video ``i`` (computed once, then kept)."""
        if i not in self._targets:
            v = self.videos[i]
            self._targets[i] = torch.stack([torch.stack([st_iou_map(t, q.gt, self.num_clips, self.plus_one)
                                                         for t in v.tubes]) for q in v.queries])
        return self._targets[i]

    def tube_geometry(self, i: int, num_segments: int) -> torch.Tensor:
        """``FloatTensor[K, S, 9]``: video ``i``'s tube geometry on its RoI segments (computed once, then kept)."""
        if i not in self._geometry:
            v = self.videos[i]
            fi, w, h, nf = self.features.layout_inputs(v.video_id)
            try:
                self._geometry[i] = tube_layout(v.tubes, fi, num_segments, w, h, nf).geometry
            except ValueError as e:
                raise FeatureError(f"{self.features.path}: video {v.video_id}: {e}") from None
        return self._geometry[i]

    def __getitem__(self, i: int) -> TubeSample:
        v = self.videos[i]
        roi = self.features.read(v.video_id)
        geo = self.tube_geometry(i, roi.shape[1]) if self.geometry else None
        feats = tube_sequences(roi, self.num_pre_clips, geo)
        segs = torch.tensor([q.segment for q in v.queries], dtype=torch.float32)
        return TubeSample(v.video_id, feats, list(v.tubes), [q.sentence for q in v.queries],
                          [q.gt for q in v.queries], segs, [q.index for q in v.queries], self.targets(i))
