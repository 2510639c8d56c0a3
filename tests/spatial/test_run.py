"""Dataset-level detection: shards, skip finished videos, a broken video does not stop the run;
the config -> detector mapping; the detect_persons tool."""
from __future__ import annotations

import json
import os

import numpy as np

from spatial.defaults import SPATIAL_DEFAULTS, detector_options
from spatial.detectors import build_detector
from spatial.run import detect_dataset
from stvg.config import Config

from .test_cache import _Counting


def _videos(make_video, tmp_path, n=3):
    vids = {f"v{i}": str(make_video(f"v{i}.mp4", num_frames=4 + i)) for i in range(n)}
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    vids["broken"] = str(broken)
    vids["missing"] = str(tmp_path / "missing.mp4")
    return vids


def test_detect_dataset_shards_and_failures(tmp_path, make_video):
    vids = _videos(make_video, tmp_path)
    det = _Counting()
    s0 = detect_dataset(vids, det, str(tmp_path / "cache"), stride=2, num_shards=2, shard=0, progress=False)
    s1 = detect_dataset(vids, det, str(tmp_path / "cache"), stride=2, num_shards=2, shard=1, progress=False)
    assert s0.num_assigned + s1.num_assigned == 5
    assert set(s0.failures) | set(s1.failures) == {"broken", "missing"}
    assert s0.num_done + s1.num_done == 3
    # the last shard to finish lists every failure; no lock file is left behind
    assert not s0.finished and s1.finished and set(s1.all_failures) == {"broken", "missing"}
    assert s1.failures_file == s1.out + ".failures.json"
    assert set(json.load(open(s1.failures_file))) == {"broken", "missing"}
    assert sorted(os.listdir(tmp_path / "cache")) == sorted([os.path.basename(s1.out),
                                                              os.path.basename(s1.failures_file)])
    seen = det.seen
    again = detect_dataset(vids, det, str(tmp_path / "cache"), stride=2, num_shards=1, shard=0, progress=False)
    assert again.num_skipped == 3 and again.num_done == 0 and det.seen == seen
    assert "3 already done, 2 failed of 5" in again.message() and again.failures_file in again.message()


def _build(det_cfg):
    name, opts = detector_options(det_cfg)
    return build_detector(name, **opts)


def test_config_builds_each_backend(tmp_path):
    cfg = Config(SPATIAL_DEFAULTS)
    name, opts = detector_options(cfg.DETECTOR)
    hog = build_detector(name, **opts)
    assert hog.name == "hog" and hog.score_threshold == 0.0 and hog.top_k == cfg.DETECTOR.TOP_K
    d = cfg.DETECTOR.to_dict()
    d.update(NAME="torchvision", SCORE_THRESHOLD=0.3, DEVICE="cpu")
    d["TORCHVISION"].update(WEIGHTS=None, MODEL="fasterrcnn_mobilenet_v3_large_fpn", MIN_SIZE=64, MAX_SIZE=96)
    tv = _build(Config(d))
    assert tv.weights is None and tv.score_threshold == 0.3
    d.update(NAME="detectron2")
    d["DETECTRON2"]["WEIGHTS"] = None
    assert detector_options(Config(d))[1]["weights"] is None
    d.update(NAME="precomputed")
    d["PRECOMPUTED"]["CACHE_DIR"] = str(tmp_path)
    assert _build(Config(d)).cache_dir == str(tmp_path)


def test_detect_persons_tool(tmp_path, make_video, capsys):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "detect_persons", os.path.join(os.path.dirname(__file__), "..", "..", "tools", "detect_persons.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    folder = tmp_path / "videos"
    folder.mkdir()
    frames = np.zeros((3, 140, 80, 3), np.uint8)
    make_video("videos/a.mp4", frames=frames)
    (folder / "b.mp4").write_bytes(b"junk")
    rc = tool.main(["--videos", str(folder), "--cache-dir", str(tmp_path / "c"), "--no-progress",
                    "DETECTION.STRIDE", "2"])
    out, err = capsys.readouterr()
    assert rc == 1 and "1 detected" in out and "1 failed" in out  # exit 1: some videos failed
    sub = [p for p in os.listdir(tmp_path / "c") if (tmp_path / "c" / p).is_dir()]
    assert len(sub) == 1 and os.path.isfile(tmp_path / "c" / sub[0] / "a.mp4.npz")
    assert os.path.isfile(tmp_path / "c" / sub[0] / "config.shard0.yaml")
    assert f"listed in {tmp_path / 'c' / sub[0]}.failures.json" in err
    assert tool.main(["--videos", str(folder), "--no-progress"]) == 2  # no cache folder given
    assert tool.main(["--videos", str(folder), "--cache-dir", str(tmp_path / "c"), "DETECTION.STRIDEE", "2"]) == 2
