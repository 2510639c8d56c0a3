"""End to end on a synthetic video with exact ground truth: HOG detection (cached) + linking ->
tubes that follow the people; the tube file; tools/build_tubes.py; contact sheets."""
import json
import os
import pathlib
import sys

import numpy as np
import pytest
import torch

from spatial.defaults import load_spatial_config
from spatial.detectors.hog import HOGDetector
from spatial.tubes import build_video_tubes, read_tubes_json, write_tubes_json
from stvg.config import ConfigError
from stvg.ops import tube_viou
from stvg.structures import Tube
from stvg.visualize import contact_sheet, draw_tubes, save_image, tube_colour


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory):
    from stvg.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(str(out), num_videos=1, seed=3, VIDEO_DURATION=4, VIDEO_FPS=10)
    (name, entry), = json.loads((out / "all_tubes.json").read_text()).items()
    gt = []
    for person in entry["people"].values():  # 1-based frame numbers -> 0-based
        frames = sorted(int(k) for k in person["bbox"])
        gt.append(Tube(np.array(frames) - 1, [person["bbox"][str(f)] for f in frames]))
    return str(out / "videos" / name), gt


class NoDetector(HOGDetector):
    def _detect_batch(self, frames, *args, **kwargs):
        raise AssertionError("detector ran although the cache holds this setting")


def test_hog_tubes_follow_synthetic_people_and_cache_is_reused(synth_video, tmp_path):
    path, gt = synth_video
    cfg = load_spatial_config(None, ["DETECTION.STRIDE", "2", "DETECTION.CACHE_DIR", str(tmp_path / "c"),
                                     "LINKING.MIN_LENGTH", "2"])
    res = build_video_tubes(path, cfg, detector=HOGDetector())
    assert res.num_frames == 40 and res.stride == 2 and res.tubes
    assert all(t.is_dense() for t in res.tubes)
    best = [max(float(tube_viou(t, g)) for t in res.tubes) for g in gt]
    # HOG at native scale finds most synthetic people (docs/synthetic.md): at least half the people
    # are followed by one tube with vIoU >= 0.4 over their whole presence
    assert sum(b >= 0.4 for b in best) >= len(gt) / 2, best
    again = build_video_tubes(path, cfg, detector=NoDetector())
    assert again.tubes == res.tubes
    # a changed setting misses the cache and runs the detector
    with pytest.raises(AssertionError, match="cache holds"):
        build_video_tubes(path, cfg, detector=NoDetector(upscale=1.5))


def test_tube_file_round_trip_and_errors(tmp_path, synth_video):
    path, _ = synth_video
    cfg = load_spatial_config(None, ["DETECTION.STRIDE", "4", "LINKING.MIN_LENGTH", "2"])
    res = build_video_tubes(path, cfg, detector=HOGDetector())
    out = tmp_path / "t.json"
    write_tubes_json(str(out), res)
    back = read_tubes_json(str(out))
    assert len(back.tubes) == len(res.tubes) and back.video_id == res.video_id
    for a, b in zip(back.tubes, res.tubes):
        assert torch.equal(a.frames, b.frames)
        torch.testing.assert_close(a.boxes, b.boxes, atol=0.006, rtol=0)
    obj = json.loads(out.read_text())
    if obj["tubes"]:
        obj["tubes"][0]["boxes"].pop()
        out.write_text(json.dumps(obj))
        with pytest.raises(ValueError, match="t.json.*tube 0"):
            read_tubes_json(str(out))


def test_build_tubes_tool(tmp_path, synth_video):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
    import build_tubes as tool

    path, _ = synth_video
    out, vis = tmp_path / "o" / "tubes.json", tmp_path / "o" / "sheet.png"
    rc = tool.main(["--video", path, "--stride", "4", "--out", str(out), "--vis", str(vis),
                    "--vis-frames", "4", "--no-progress"])
    assert rc == 0 and out.exists() and vis.exists() and (tmp_path / "o" / "tubes.json.config.yaml").exists()
    assert tool.main(["--video", str(tmp_path / "missing.mp4"), "--no-progress"]) == 1
    assert tool.main(["--video", path, "--opts", "LINKING.MAX_GAPP", "2"]) == 1


def test_config_checks():
    with pytest.raises(ConfigError, match="SMOOTH_WINDOW"):
        load_spatial_config(None, ["LINKING.SMOOTH_WINDOW", "2"])
    with pytest.raises(ConfigError, match="MAX_GAPP"):
        load_spatial_config(None, ["LINKING.MAX_GAPP", "2"])


def test_contact_sheet_draws_each_tube_in_its_colour(tmp_path):
    frames = np.zeros((3, 100, 200, 3), np.uint8)
    tubes = [Tube(np.arange(0, 3), [[10, 20, 60, 90]] * 3), Tube(np.arange(1, 3), [[100, 10, 180, 80]] * 2)]
    img = draw_tubes(frames[1], 1, tubes, thickness=2)
    assert tuple(img[50, 10]) == tube_colour(0) and tuple(img[50, 180]) == tube_colour(1)
    assert not img[50, 80].any()
    img0 = draw_tubes(frames[0], 0, tubes)
    assert not img0[50, 180].any()  # tube 1 starts on frame 1
    sheet = contact_sheet(frames, [0, 1, 2], tubes, cols=2, thumb_width=100)
    assert sheet.shape == (100, 200, 3) and sheet.dtype == np.uint8
    save_image(str(tmp_path / "s.png"), sheet)
    assert os.path.getsize(tmp_path / "s.png") > 0
    with pytest.raises(ValueError, match="indices"):
        contact_sheet(frames, [0, 1], tubes)


def test_shipped_configs_load():
    root = pathlib.Path(__file__).resolve().parents[2] / "configs" / "spatial"
    names = sorted(p.name for p in root.glob("hcstvg_*.yaml"))
    assert names
    for name in names:
        cfg = load_spatial_config(str(root / name))
        assert cfg.DETECTOR.NAME in ("hog", "torchvision", "detectron2", "precomputed")
