"""Crash-safe storage of extracted features: one part file per video (a :class:`stvg.store.VideoStore`
under ``OUT.parts``), merged into one HDF5 file ``OUT``.

While running: ``OUT.parts/<id>.npz`` (one video's arrays, the video's done marker),
``OUT.parts/.store/`` (the feature settings, checked on resume, and failure records). The process
that finds every video done or failed merges, under the store's lock: it copies the existing ``OUT``
(if any) and every part into a temporary HDF5 file, renames it over ``OUT``, lists the failures in
``OUT.failures.json`` (``{video_id: reason}``) and removes the parts folder and the lock file.
``OUT`` is therefore always either absent or a complete, readable file.

HDF5 layout of ``OUT`` (what the temporal stage reads, one group per video id, :mod:`stvg.data.ids`)::

    f[vid]["features"]        float32[T, D]   clip features
    f[vid]["frame_indices"]   int64[K]        0-based decoded frames that were sampled
    f[vid]["clip_frames"]     int64[T, 2]     first/last (inclusive) real decoded frame of each clip
    f[vid]["roi_features"]    float32[N, S, C] per-tube features (only when tubes were given)
    f[vid].attrs: fps, num_frames, width, height (of the source video); sample_fps (the rate asked
                  for, INPUT.SAMPLE_FPS) and sample_fps_actual (frames sampled per second of video:
                  lower when the video has fewer frames per second than asked for); salvaged
                  int64[2] (frames kept, frames in the header) only for a file cut short that was
                  read with --salvage. Readers take the attributes they need and ignore the others.
    f.attrs: backbone, weights, feature_dim, settings (YAML of the feature settings)
"""
from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from typing import Dict, Iterable, Optional, Set

import numpy as np

from ..store import VideoStore
from .extractor import VideoFeatures

__all__ = ["feature_store", "feature_arrays", "read_output_ids", "recorded_settings", "merge_into_hdf5",
           "failures_path"]

_ARRAYS = ("features", "frame_indices", "clip_frames", "roi_features")
_ATTRS = ("fps", "num_frames", "width", "height")
_OPTIONAL_ATTRS = ("sample_fps", "sample_fps_actual", "salvaged")  # absent from files of older versions


def failures_path(out: str) -> str:
    return os.fspath(out) + ".failures.json"


def feature_store(out: str, settings: Dict[str, object]) -> VideoStore:
    """The part store of the output ``out``."""
    out = os.fspath(out)
    return VideoStore(out + ".parts", settings, "features", suffix=".npz", failures_file=failures_path(out))


def feature_arrays(feats: VideoFeatures) -> Dict[str, np.ndarray]:
    """One video's part-file payload: its arrays and attributes."""
    arrays = {k: getattr(feats, k) for k in _ARRAYS if getattr(feats, k) is not None}
    arrays.update({k: np.asarray(getattr(feats, k)) for k in _ATTRS})
    arrays["sample_fps"] = np.asarray(float(feats.sample_fps))
    arrays["sample_fps_actual"] = np.asarray(float(feats.sample_fps_actual))
    if feats.salvaged is not None:
        arrays["salvaged"] = np.asarray(feats.salvaged, np.int64)
    return arrays


def read_output_ids(out: str) -> Set[str]:
    """Video ids already in a merged output file (empty set when it does not exist)."""
    if not os.path.exists(out):
        return set()
    import h5py
    try:
        with h5py.File(out, "r") as f:
            return set(f.keys())
    except OSError as e:
        raise OSError(f"existing output {out} is not a readable HDF5 file ({e}); move it away") from None


def recorded_settings(out: str) -> Optional[Dict[str, object]]:
    """The feature settings a merged output was made with (None when there is no output)."""
    if not os.path.exists(out):
        return None
    import h5py
    import yaml
    with h5py.File(out, "r") as f:
        text = f.attrs.get("settings")
    return None if text is None else yaml.safe_load(text)


def merge_into_hdf5(out: str, store: VideoStore, done: Iterable[str], attrs: Dict[str, object]) -> None:
    """Write ``out`` atomically from the existing ``out`` and the parts ``done`` (a part replaces an
    existing group of the same id). Called by :meth:`VideoStore.merge` under its lock."""
    import h5py

    done = set(done)
    have = read_output_ids(out)
    folder = os.path.dirname(os.path.abspath(out))
    for stale in glob.glob(os.path.join(folder, f".{os.path.basename(out)}.*.tmp")):
        os.unlink(stale)  # left by a merge that was killed (we hold the lock)
    if not done and (os.path.exists(out) or not have):
        return  # nothing new; with no video extracted at all, no (empty) output is written
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as dst:
            for k, v in attrs.items():
                dst.attrs[k] = v
            old = h5py.File(out, "r") if have else None
            try:
                for vid in sorted(have | done):
                    if vid in done:
                        _write_group(dst, vid, store.read(vid))
                    else:
                        old.copy(old[vid], dst, name=vid)
            finally:
                if old is not None:
                    old.close()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_group(dst, vid: str, arrays: Dict[str, np.ndarray]) -> None:
    g = dst.create_group(vid)
    for k in _ARRAYS:
        if k in arrays:
            g.create_dataset(k, data=arrays[k])
    for k in _ATTRS:
        g.attrs[k] = arrays[k].item()
    for k in _OPTIONAL_ATTRS:
        if k in arrays:
            v = np.asarray(arrays[k])
            g.attrs[k] = v.item() if v.ndim == 0 else v
