"""Visual features from raw video: clip features for the temporal stage, RoI features for tubes.

See ``docs/features.md``. Library entry points:
* :class:`FeatureExtractor` (one video, in memory);
* :func:`extract_features` (many videos -> one HDF5 file; sharded, resumable, failures recorded;
  returns a :class:`stvg.store.JobSummary`; which videos: :mod:`stvg.data.ids`);
* :func:`load_features_config` and :data:`FEATURES_DEFAULTS`.
"""
from .defaults import FEATURES_DEFAULTS, load_features_config
from .extractor import FeatureExtractor, VideoFeatures
from .run import extract_features
from .store import failures_path

__all__ = ["FEATURES_DEFAULTS", "load_features_config", "FeatureExtractor", "VideoFeatures",
           "extract_features", "failures_path"]
