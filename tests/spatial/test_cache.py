"""Detection cache: keyed by setting and stride, never stale, atomic files, resume, bad ids."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from spatial.cache import DetectionCache, detect_video, detection_frames, load_detections, setting_key
from spatial.detectors import PersonDetector


class _Counting(PersonDetector):
    """One box per frame whose x1 is the frame's mean intensity; counts the frames it saw."""
    name = "counting"

    def __init__(self, offset=0.0, fail_after=None, **kw):
        super().__init__(**kw)
        self.offset, self.seen, self.fail_after = offset, 0, fail_after

    def setting(self):
        return {**super().setting(), "offset": self.offset}

    def _detect_batch(self, frames, frame_indices, video_id):
        if self.fail_after is not None and self.seen >= self.fail_after:
            raise RuntimeError("simulated crash")
        self.seen += len(frames)
        return [(np.array([[f.mean() / 10 + self.offset, 1, 20, 30]]), np.array([0.9])) for f in frames]


def test_detection_frames():
    assert detection_frames(10, 1).tolist() == list(range(10))
    assert detection_frames(10, 4).tolist() == [0, 4, 8, 9]
    assert detection_frames(9, 4).tolist() == [0, 4, 8]
    assert detection_frames(0, 3).tolist() == []
    with pytest.raises(ValueError, match="stride"):
        detection_frames(5, 0)


def test_key_depends_on_setting_and_stride():
    a = _Counting().setting()
    assert setting_key(a, 2) == setting_key(dict(reversed(list(a.items()))), 2)
    assert setting_key(a, 2) != setting_key(a, 3)
    assert setting_key(a, 2) != setting_key(_Counting(score_threshold=0.4).setting(), 2)


def test_cache_hit_and_invalidation(tmp_path, make_video):
    video = str(make_video("v1.mp4", num_frames=12))
    det = _Counting()
    cache = DetectionCache(tmp_path / "c", det.setting(), stride=3)
    first, reader = detect_video(det, video, cache=cache, stride=3)
    assert [d.frame for d in first] == [0, 3, 6, 9, 11] and det.seen == 5 and reader.num_frames == 12
    # the id is the file name (stvg.data.ids); the setting is recorded in the store
    assert cache.path("v1.mp4") == os.path.join(cache.dir, "v1.mp4.npz") and os.path.isfile(cache.path("v1.mp4"))
    assert json.load(open(cache.store.settings_path))["settings"]["key"] == cache.key
    again, _ = detect_video(det, video, cache=cache, stride=3)
    assert det.seen == 5  # served from the cache
    for a, b in zip(first, again):
        assert a.frame == b.frame
        torch.testing.assert_close(a.boxes, b.boxes)
    # A changed setting gets its own folder and recomputes (never the stale file).
    changed = _Counting(offset=1.0)
    cache2 = DetectionCache(tmp_path / "c", changed.setting(), stride=3)
    assert cache2.dir != cache.dir
    moved, _ = detect_video(changed, video, cache=cache2, stride=3)
    assert changed.seen == 5
    torch.testing.assert_close(moved[0].boxes[:, 0], first[0].boxes[:, 0] + 1)
    # A file whose recorded key / frame count disagrees is recomputed, not trusted.
    assert cache.load("v1.mp4", num_frames=13) is None
    with pytest.raises(ValueError, match="stride 3"):
        detect_video(det, video, cache=cache, stride=2)


def test_corrupt_file_is_recomputed(tmp_path, make_video):
    video = str(make_video("v2.mp4", num_frames=6))
    det = _Counting()
    cache = DetectionCache(tmp_path, det.setting(), stride=2)
    detect_video(det, video, cache=cache, stride=2)
    with open(cache.path("v2.mp4"), "wb") as f:
        f.write(b"garbage")
    with pytest.raises(ValueError, match="v2.mp4.npz"):
        load_detections(cache.path("v2.mp4"))
    detect_video(det, video, cache=cache, stride=2)
    assert det.seen == 8 and len(load_detections(cache.path("v2.mp4"))[0]) == 4


def test_resume_after_crash(tmp_path, make_video):
    video = str(make_video("v3.mp4", num_frames=20))
    crashing = _Counting(fail_after=8)
    cache = DetectionCache(tmp_path, crashing.setting(), stride=1)
    with pytest.raises(RuntimeError, match="simulated"):
        detect_video(crashing, video, cache=cache, stride=1, chunk=4, save_every=4)
    partial = cache.load("v3.mp4", 20, partial=True)
    assert [d.frame for d in partial] == list(range(8))
    fresh = _Counting()
    dets, _ = detect_video(fresh, video, cache=cache, stride=1, chunk=4, save_every=4)
    assert fresh.seen == 12 and [d.frame for d in dets] == list(range(20))
    assert not os.path.exists(cache.path("v3.mp4", partial=True))
    reference, _ = detect_video(_Counting(), video, stride=1)  # no cache
    for a, b in zip(dets, reference):
        torch.testing.assert_close(a.boxes, b.boxes)


def test_bad_video_ids_and_missing_video(tmp_path):
    cache = DetectionCache(tmp_path, _Counting().setting())
    for bad in ("../x", "a/b", "", ".."):
        with pytest.raises(ValueError, match="cannot name a file"):
            cache.path(bad)
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        detect_video(_Counting(), str(tmp_path / "missing.mp4"), cache=cache)


def test_precomputed_reads_cache_folder(tmp_path, make_video):
    from spatial.detectors import build_detector
    video = str(make_video("v4.mp4", num_frames=5))
    det = _Counting()
    cache = DetectionCache(tmp_path, det.setting(), stride=2)
    dets, _ = detect_video(det, video, cache=cache, stride=2)
    pre = build_detector("precomputed", cache_dir=cache.dir)
    again, _ = detect_video(pre, video, stride=2)
    assert [d.frame for d in again] == [d.frame for d in dets]
    for a, b in zip(dets, again):
        torch.testing.assert_close(a.boxes, b.boxes)
