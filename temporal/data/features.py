"""Clip features from an HDF5 file keyed by video id, L2-normalised and resampled as MMN does.

Layouts (``DATASET.FEATURE_KEY``):

* ``""``: ``f[video_id]`` is the ``[T, D]`` dataset (Charades VGG, TACoS C3D files);
* ``"name"``: ``f[video_id]`` is a group holding ``f[video_id][name]`` (ActivityNet's C3D file:
  ``"c3d_features"``).
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence

import h5py
import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FeatureStore", "FeatureError", "resample_features", "prepare_features", "tube_sequences"]


class FeatureError(ValueError):
    """A feature file does not fit the annotations or the config (names file, video, numbers)."""


def resample_features(feats: torch.Tensor, num: int) -> torch.Tensor:
    """Average ``Tensor[T, D]`` rows into ``Tensor[num, D]`` (MMN's resampling).

    Boundaries ``idx_k = round(k / num * T)`` (float32, round half to even as ``torch.round``) clamped
    to ``T - 1``; row k is the mean of rows ``[idx_k, idx_{k+1})``, or row ``idx_k`` alone where that
    range is empty. Sums use float64 prefix sums.
    """
    if feats.dim() != 2 or feats.shape[0] < 1:
        raise ValueError(f"features must be [T >= 1, D], got shape {tuple(feats.shape)}")
    t = feats.shape[0]
    idx = (torch.arange(0, num + 1, 1.0) / num * t).round().long().clamp(max=t - 1)
    start, end = idx[:-1], idx[1:]
    csum = torch.cat([feats.new_zeros(1, feats.shape[1], dtype=torch.float64),
                      feats.double().cumsum(0)])
    count = (end - start).clamp(min=1).unsqueeze(1).double()
    mean = (csum[end] - csum[start]) / count
    out = torch.where((end > start).unsqueeze(1), mean, feats[start].double())
    return out.to(feats.dtype)


def prepare_features(raw: torch.Tensor, num_pre_clips: int) -> torch.Tensor:
    """``Tensor[T, D]`` -> L2-normalised rows -> ``Tensor[num_pre_clips, D]``."""
    return resample_features(F.normalize(raw.float(), dim=1), num_pre_clips)


def tube_sequences(roi: torch.Tensor, num_pre_clips: int, geometry: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Tube mode's input: ``roi Tensor[K, S, C]`` (and ``geometry Tensor[K, S, G]``, MODEL.TUBE_GEOMETRY)
    -> ``Tensor[K, num_pre_clips, C (+ G)]``: each tube's L2-normalised RoI rows, its geometry rows
    appended as they are, resampled by MMN's rule (:func:`prepare_features` without geometry)."""
    if roi.shape[0] == 0:
        return torch.zeros(0, num_pre_clips, roi.shape[2] + (0 if geometry is None else geometry.shape[2]))
    rows = F.normalize(roi.float(), dim=2)
    if geometry is not None:
        if geometry.shape[:2] != roi.shape[:2]:
            raise ValueError(f"tube geometry {list(geometry.shape)} does not match RoI features {list(roi.shape)}")
        rows = torch.cat([rows, geometry.float()], 2)
    return torch.stack([resample_features(r, num_pre_clips) for r in rows])


class FeatureStore:
    """Read-only access to one HDF5 feature file.

    Args:
        path: the ``.h5``/``.hdf5`` file. feature_key: see the module docstring.
        feat_dim: the expected D (``MODEL.FEAT_DIM``).
    The file is opened lazily once per process (safe with DataLoader workers).
    """

    def __init__(self, path: str, feature_key: str = "", feat_dim: Optional[int] = None) -> None:
        if not path:
            raise FeatureError("no feature file given (set DATASET.FEATURES)")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"feature file not found: {path}")
        self.path, self.key, self.feat_dim = path, feature_key, feat_dim
        self._file: Optional[h5py.File] = None
        self._pid: Optional[int] = None

    @property
    def file(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            try:
                self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
            except OSError as e:  # not an HDF5 file, truncated, or locked
                raise FeatureError(f"{self.path}: cannot open the feature file as HDF5 ({e})") from None
        return self._file

    def __getstate__(self) -> dict:  # h5py handles do not pickle (spawned workers)
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, None
        return state

    def _dataset(self, video_id: str) -> h5py.Dataset:
        node = self.file[video_id]
        if self.key:
            if not isinstance(node, h5py.Group) or self.key not in node:
                have = list(node.keys()) if isinstance(node, h5py.Group) else "a dataset, not a group"
                raise FeatureError(f"{self.path}: video {video_id}: no dataset {self.key!r} "
                                   f"(DATASET.FEATURE_KEY); found {have}")
            node = node[self.key]
        elif isinstance(node, h5py.Group):
            raise FeatureError(f"{self.path}: video {video_id} is a group holding {list(node.keys())}; "
                               f"set DATASET.FEATURE_KEY to one of them")
        return node

    def missing(self, video_ids: Sequence[str]) -> List[str]:
        """The ids that the file does not hold, in the given order."""
        f = self.file
        return [v for v in video_ids if v not in f]

    def check_shapes(self, video_ids: Sequence[str]) -> None:
        """Check (metadata only) that each video's features are ``[T >= 1, feat_dim]``."""
        for vid in video_ids:
            shape = self._dataset(vid).shape
            if len(shape) != 2 or shape[0] < 1:
                raise FeatureError(f"{self.path}: video {vid}: features must be [T >= 1, D], got shape "
                                   f"{tuple(shape)}")
            if self.feat_dim is not None and shape[1] != self.feat_dim:
                raise FeatureError(f"{self.path}: video {vid}: feature dimension {shape[1]} does not "
                                   f"match MODEL.FEAT_DIM {self.feat_dim}")

    def read(self, video_id: str) -> torch.Tensor:
        """Raw ``FloatTensor[T, D]``; raises :class:`FeatureError` on NaN or inf values."""
        arr = np.asarray(self._dataset(video_id)[()], dtype=np.float32)
        bad = ~np.isfinite(arr)
        if bad.any():
            rows = int(bad.any(axis=1).sum())
            raise FeatureError(f"{self.path}: video {video_id}: {rows} of {arr.shape[0]} feature rows "
                               f"contain NaN or inf")
        return torch.from_numpy(arr)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
