"""Crash-safe storage of extracted features: one part file per video, merged into one HDF5 file.

Layout while running (next to the output ``OUT``, e.g. ``features.h5``):
* ``OUT.parts/<quoted id>.npz``: one video's arrays, written atomically; its presence is the
  video's done marker, so a kill at any moment leaves either the whole video or nothing;
* ``OUT.parts/<quoted id>.failed.json``: why a video could not be read;
* ``OUT.parts/settings.yaml``: the feature settings, checked on resume (a changed setting is an
  error, never a silently mixed file).

Merging (under an exclusive ``flock`` on ``OUT.lock``, released even if the process is killed)
copies the existing ``OUT`` (if any) and every part into a temporary HDF5 file, then renames it over
``OUT``; the failures are written to ``OUT.failures.json`` (``{video_id: reason}``) and the parts
folder is removed. ``OUT`` is therefore always either absent or a complete, readable file.

HDF5 layout of ``OUT`` (what the temporal stage reads, one group per video id)::

    f[vid]["features"]        float32[T, D]   clip features
    f[vid]["frame_indices"]   int64[K]        0-based decoded frames that were sampled
    f[vid]["clip_frames"]     int64[T, 2]     first/last (inclusive) real decoded frame of each clip
    f[vid]["roi_features"]    float32[N, S, C] per-tube features (only when tubes were given)
    f[vid].attrs: fps, num_frames, width, height (of the source video)
    f.attrs: backbone, weights, feature_dim, settings (YAML of the feature settings)
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import tempfile
from typing import Dict, Iterable, Iterator, Optional, Set
from urllib.parse import quote, unquote

import numpy as np

from ..io import atomic_write, atomic_write_json, atomic_write_text
from .extractor import VideoFeatures

__all__ = ["PartStore", "read_output_ids", "merge_parts", "failures_path", "check_video_id"]

_ARRAYS = ("features", "frame_indices", "clip_frames", "roi_features")
_ATTRS = ("fps", "num_frames", "width", "height")


def check_video_id(vid: str) -> None:
    """HDF5 keys cannot hold '/' or be '.'; say which id is unusable."""
    if not vid or "/" in vid or vid in (".", ".."):
        raise ValueError(f"video id {vid!r} cannot be an HDF5 key (empty, '.', or contains '/')")


def failures_path(out: str) -> str:
    return out + ".failures.json"


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


class PartStore:
    """The ``OUT.parts`` folder: per-video part files and failure records."""

    def __init__(self, out: str) -> None:
        self.out = os.fspath(out)
        self.dir = self.out + ".parts"

    def _path(self, vid: str, suffix: str) -> str:
        return os.path.join(self.dir, quote(vid, safe="") + suffix)

    def check_settings(self, settings_yaml: str) -> None:
        """Record the settings, or fail if the parts (or the output) were made with other ones."""
        recorded = None
        path = os.path.join(self.dir, "settings.yaml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                recorded, source = f.read(), path
        elif os.path.exists(self.out):
            import h5py
            with h5py.File(self.out, "r") as f:
                recorded, source = f.attrs.get("settings"), self.out
        if recorded is not None and recorded != settings_yaml:
            raise ValueError(f"{source} was produced with other feature settings "
                             f"({_diff(recorded, settings_yaml)}); use another --out or the same config")
        os.makedirs(self.dir, exist_ok=True)
        if not os.path.isfile(path):
            atomic_write_text(path, settings_yaml)

    def done_ids(self) -> Set[str]:
        return {unquote(os.path.basename(p)[:-4]) for p in glob.glob(os.path.join(self.dir, "*.npz"))}

    def failures(self) -> Dict[str, str]:
        out = {}
        for p in glob.glob(os.path.join(self.dir, "*.failed.json")):
            with open(p, encoding="utf-8") as f:
                out[unquote(os.path.basename(p)[:-len(".failed.json")])] = json.load(f)["reason"]
        return out

    def write(self, vid: str, feats: VideoFeatures) -> None:
        arrays = {k: getattr(feats, k) for k in _ARRAYS if getattr(feats, k) is not None}
        arrays.update({k: np.asarray(getattr(feats, k)) for k in _ATTRS})
        with atomic_write(self._path(vid, ".npz"), "wb") as f:
            np.savez(f, **arrays)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(vid, ".failed.json"))

    def write_failure(self, vid: str, reason: str) -> None:
        atomic_write_json(self._path(vid, ".failed.json"), {"video_id": vid, "reason": reason})

    def read(self, vid: str) -> Dict[str, np.ndarray]:
        with np.load(self._path(vid, ".npz"), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}


def _diff(old_yaml: str, new_yaml: str) -> str:
    import yaml

    def flat(d, prefix=""):
        out = {}
        for k, v in (d or {}).items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
        return out

    a, b = flat(yaml.safe_load(old_yaml)), flat(yaml.safe_load(new_yaml))
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "<unset>") != b.get(k, "<unset>"))
    return ", ".join(f"{k}: {a.get(k, '<unset>')!r} then, {b.get(k, '<unset>')!r} now" for k in keys)


@contextlib.contextmanager
def _lock(path: str, blocking: bool) -> Iterator[bool]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def merge_parts(out: str, all_ids: Iterable[str], attrs: Dict[str, object],
                blocking: bool = False) -> Optional[Dict[str, str]]:
    """Merge when every id is in ``out``, done or failed; returns the failures, or None if not merged
    (ids still missing, or another process holds the merge lock and will do it)."""
    import h5py

    store = PartStore(out)
    all_ids = set(all_ids)
    with _lock(out + ".lock", blocking) as got:
        if not got:
            return None
        have = read_output_ids(out)
        done, failed = store.done_ids(), store.failures()
        if all_ids - have - done - set(failed):
            return None
        failed = {v: r for v, r in failed.items() if v not in done and v not in have}
        folder = os.path.dirname(os.path.abspath(out))
        for stale in glob.glob(os.path.join(folder, f".{os.path.basename(out)}.*.tmp")):
            os.unlink(stale)  # left by a merge that was killed (we hold the lock)
        if done or not os.path.exists(out):
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
        if failed:
            atomic_write_json(failures_path(out), dict(sorted(failed.items())), indent=1)
        elif os.path.exists(failures_path(out)):
            os.unlink(failures_path(out))
        shutil.rmtree(store.dir, ignore_errors=True)
        return failed


def _write_group(dst, vid: str, arrays: Dict[str, np.ndarray]) -> None:
    g = dst.create_group(vid)
    for k in _ARRAYS:
        if k in arrays:
            g.create_dataset(k, data=arrays[k])
    for k in _ATTRS:
        g.attrs[k] = arrays[k].item()
