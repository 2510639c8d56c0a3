"""Visual features from raw video: clip features for the temporal stage, RoI features for tubes.

See ``docs/features.md``. Library entry points:
* :class:`FeatureExtractor` (one video, in memory);
* :func:`extract_features` (many videos -> one HDF5 file; sharded, resumable, failures recorded);
* :func:`load_features_config` and :data:`FEATURES_DEFAULTS`.
"""
from .defaults import FEATURES_DEFAULTS, load_features_config
from .extractor import FeatureExtractor, VideoFeatures
from .run import ExtractionSummary, extract_features
from .sources import videos_from_annotation, videos_in_folder
from .store import failures_path

__all__ = ["FEATURES_DEFAULTS", "load_features_config", "FeatureExtractor", "VideoFeatures",
           "ExtractionSummary", "extract_features", "videos_from_annotation", "videos_in_folder",
           "failures_path"]
