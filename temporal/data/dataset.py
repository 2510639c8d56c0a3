"""One moment-retrieval dataset for every annotation format: a video and all its queries per item."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from torch.utils.data import Dataset

from .annotations import AnnotationReport, VideoMoments, load_annotations
from .features import FeatureError, FeatureStore, prepare_features

__all__ = ["MomentDataset", "VideoSample", "MissingFeaturesError"]

log = logging.getLogger(__name__)


class MissingFeaturesError(FeatureError):
    """Videos of the annotation file are absent from the feature file."""


@dataclass
class VideoSample:
    """One video. ``feats``: ``FloatTensor[NUM_PRE_CLIPS, D]``; ``segments``: ``FloatTensor[S, 2]``
    (seconds); ``sentence_index``: position of each query in the video's annotation list."""

    video_id: str
    duration: float
    feats: torch.Tensor
    sentences: List[str]
    segments: torch.Tensor
    sentence_index: List[int]


class MomentDataset(Dataset):
    """Videos of one annotation file with features from one HDF5 file.

    Args:
        videos: parsed annotations (see :func:`temporal.data.load_annotations`).
        features: the feature file.
        num_pre_clips: rows per video after resampling (``MODEL.NUM_PRE_CLIPS``).
        skip_missing: drop videos absent from the feature file (logged with their count) instead of
            raising :class:`MissingFeaturesError`.
        source: annotation file name, for messages.
    """

    def __init__(self, videos: Sequence[VideoMoments], features: FeatureStore, num_pre_clips: int,
                 skip_missing: bool = False, source: str = "annotations",
                 report: Optional[AnnotationReport] = None) -> None:
        ids = [v.video_id for v in videos]
        missing = features.missing(ids)
        if missing:
            head = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            msg = (f"{len(missing)} of {len(ids)} videos of {source} are missing from the feature file "
                   f"{features.path}: {head}")
            if not skip_missing:
                raise MissingFeaturesError(msg + " (pass --skip-missing or DATASET.SKIP_MISSING True to "
                                           "skip them)")
            log.warning(msg + "; skipped (--skip-missing)")
            gone = set(missing)
            videos = [v for v in videos if v.video_id not in gone]
            if not videos:
                raise MissingFeaturesError(msg + "; no video left")
        features.check_shapes([v.video_id for v in videos])
        self.videos: List[VideoMoments] = list(videos)
        self.features = features
        self.num_pre_clips = num_pre_clips
        self.missing: List[str] = missing
        self.report = report

    @classmethod
    def from_files(cls, name: str, ann_path: str, feat_path: str, feature_key: str, feat_dim: int,
                   num_pre_clips: int, skip_missing: bool = False) -> "MomentDataset":
        videos, report = load_annotations(name, ann_path)
        store = FeatureStore(feat_path, feature_key, feat_dim)
        return cls(videos, store, num_pre_clips, skip_missing, source=ann_path, report=report)

    def __len__(self) -> int:
        return len(self.videos)

    @property
    def num_queries(self) -> int:
        return sum(len(v.queries) for v in self.videos)

    def __getitem__(self, i: int) -> VideoSample:
        v = self.videos[i]
        feats = prepare_features(self.features.read(v.video_id), self.num_pre_clips)
        segs = torch.tensor([[q.start, q.end] for q in v.queries], dtype=torch.float32)
        return VideoSample(v.video_id, v.duration, feats, [q.sentence for q in v.queries], segs,
                           [q.index for q in v.queries])
