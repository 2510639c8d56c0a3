"""Moment-retrieval data: annotation adapters, HDF5 clip features, the dataset and its collate."""
from .annotations import ADAPTERS, AnnotationReport, Query, VideoMoments, load_annotations
from .collate import MomentBatch, MomentCollator
from .dataset import MissingFeaturesError, MomentDataset, VideoSample
from .features import FeatureError, FeatureStore, prepare_features, resample_features

__all__ = ["ADAPTERS", "AnnotationReport", "Query", "VideoMoments", "load_annotations",
           "MomentBatch", "MomentCollator", "MissingFeaturesError", "MomentDataset", "VideoSample",
           "FeatureError", "FeatureStore", "prepare_features", "resample_features"]
