"""Moment-retrieval data: annotation adapters, HDF5 clip features, the dataset and its collate;
tube mode: tube files, per-tube RoI features, their dataset and collate."""
from .annotations import ADAPTERS, AnnotationReport, Query, VideoMoments, load_annotations
from .collate import MomentBatch, MomentCollator
from .dataset import MissingFeaturesError, MomentDataset, VideoSample
from .features import FeatureError, FeatureStore, prepare_features, resample_features
from .tube_collate import TubeBatch, TubeCollator
from .tube_dataset import RoiFeatureStore, TubeDataset, TubeQuery, TubeSample, TubeVideo
from .tube_files import read_video_tubes, tube_file_path

__all__ = ["ADAPTERS", "AnnotationReport", "Query", "VideoMoments", "load_annotations",
           "MomentBatch", "MomentCollator", "MissingFeaturesError", "MomentDataset", "VideoSample",
           "FeatureError", "FeatureStore", "prepare_features", "resample_features",
           "TubeBatch", "TubeCollator", "RoiFeatureStore", "TubeDataset", "TubeQuery", "TubeSample",
           "TubeVideo", "read_video_tubes", "tube_file_path"]
