"""End to end on a synthetic video with exact ground truth: HOG detection (cached) + linking ->
tubes that follow the people; the tube file; tubes for a whole dataset (shards, resume, a broken
video); tools/build_tubes.py; contact sheets."""
import json
import os
import pathlib
import shutil
import sys

import numpy as np
import pytest
import torch

from spatial.defaults import load_spatial_config
from spatial.detectors.hog import HOGDetector
from spatial.run import build_dataset_tubes
from spatial.tubes import VideoTubes, build_video_tubes, read_tubes_json, tubes_to_json, write_tubes_json
from stvg.config import ConfigError
from stvg.data import videos_in_folder
from stvg.ops import tube_viou
from stvg.structures import Tube
from stvg.visualize import contact_sheet, draw_tubes, save_image, tube_colour

from .conftest import synthetic_video


@pytest.fixture(scope="module")
def synth_video(tmp_path_factory):
    return synthetic_video(tmp_path_factory.mktemp("synth"), seed=3)


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
    assert res.tubes and len(back.tubes) == len(res.tubes)
    assert back.video_id == res.video_id == os.path.basename(path)  # the id is the file name
    _assert_same_tubes(back.tubes, res.tubes)
    bad = tubes_to_json(VideoTubes("x.mp4", 10.0, 5, 64, 48, 1, [Tube(range(3), [[0, 0, 4, 4]] * 3)]))
    bad["tubes"][0]["boxes"].pop()
    out.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="t.json.*tube 0"):
        read_tubes_json(str(out))


def _assert_same_tubes(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert torch.equal(a.frames, b.frames)
        torch.testing.assert_close(a.boxes, b.boxes, atol=0.006, rtol=0)


@pytest.fixture
def video_folder(synth_video, tmp_path):
    """a.mp4 and b.mp4 (copies of the synthetic video) and c.mp4, which is not a video."""
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("a.mp4", "b.mp4"):
        shutil.copy(synth_video[0], folder / name)
    (folder / "c.mp4").write_bytes(b"not a video")
    return folder


def test_dataset_tubes_sharded_resumable_with_a_broken_video(video_folder, tmp_path):
    videos = dict(videos_in_folder(str(video_folder)))
    cfg = load_spatial_config(None, ["DETECTION.STRIDE", "4", "LINKING.MIN_LENGTH", "2",
                                     "DETECTION.CACHE_DIR", str(tmp_path / "cache")])
    out = tmp_path / "tubes"
    s0 = build_dataset_tubes(videos, cfg, str(out), detector=HOGDetector(), num_shards=2, shard=0,
                             progress=False)
    assert (s0.num_assigned, s0.num_done, set(s0.failures), s0.finished) == (2, 1, {"c.mp4"}, False)
    s1 = build_dataset_tubes(videos, cfg, str(out), detector=HOGDetector(), num_shards=2, shard=1,
                             progress=False)
    assert (s1.num_assigned, s1.num_done, s1.finished, set(s1.all_failures)) == (1, 1, True, {"c.mp4"})
    # one file per video named by its id, equal to the one-video path; failures listed; no lock left
    assert sorted(os.listdir(out)) == [".store", "a.mp4.json", "b.mp4.json", "config.yaml"]
    assert sorted(os.listdir(tmp_path)) == ["cache", "tubes", "tubes.failures.json", "videos"]
    assert "c.mp4" in json.load(open(s1.failures_file))["c.mp4"]
    single = build_video_tubes(str(video_folder / "a.mp4"), cfg, detector=HOGDetector())
    for vid in ("a.mp4", "b.mp4"):
        back = read_tubes_json(str(out / f"{vid}.json"))
        assert back.video_id == vid and back.stride == 4
        _assert_same_tubes(back.tubes, single.tubes)
    # resume: finished videos are skipped and a lost tube file is rebuilt from the detection cache
    # (the detector never runs); the broken video is tried again and fails again
    os.unlink(out / "b.mp4.json")
    again = build_dataset_tubes(videos, cfg, str(out), detector=NoDetector(), progress=False)
    assert (again.num_skipped, again.num_done, set(again.failures)) == (1, 1, {"c.mp4"})
    assert "1 built, 1 already done, 1 failed of 3" in again.message()
    _assert_same_tubes(read_tubes_json(str(out / "b.mp4.json")).tubes, single.tubes)
    # a repaired video is picked up and the failures list goes away
    shutil.copy(video_folder / "a.mp4", video_folder / "c.mp4")
    fixed = build_dataset_tubes(videos, cfg, str(out), detector=HOGDetector(), progress=False)
    assert fixed.num_done == 1 and fixed.finished and not fixed.failed()
    assert not os.path.exists(fixed.failures_file)
    # other tube settings never mix into the folder
    cfg3 = load_spatial_config(None, ["DETECTION.STRIDE", "4", "LINKING.MIN_LENGTH", "3"])
    with pytest.raises(ValueError, match="linking.min_length: 2 then, 3 now"):
        build_dataset_tubes(videos, cfg3, str(out), detector=HOGDetector(), progress=False)


def test_build_tubes_tool(tmp_path, synth_video):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
    import build_tubes as tool

    path, _ = synth_video
    out, vis = tmp_path / "o" / "tubes.json", tmp_path / "o" / "sheet.png"
    rc = tool.main(["--video", path, "--stride", "4", "--out", str(out), "--vis", str(vis),
                    "--vis-frames", "4", "--no-progress"])
    assert rc == 0 and out.exists() and vis.exists() and (tmp_path / "o" / "tubes.json.config.yaml").exists()
    assert read_tubes_json(str(out)).video_id == os.path.basename(path)
    assert tool.main(["--video", str(tmp_path / "missing.mp4"), "--no-progress"]) == 2
    assert tool.main(["--video", path, "LINKING.MAX_GAPP", "2"]) == 2


def test_build_tubes_tool_dataset(tmp_path, video_folder, capsys):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tools"))
    import build_tubes as tool

    common = ["--stride", "4", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    rc = tool.main(["--videos", str(video_folder), "--out-dir", str(tmp_path / "all")] + common)
    out, err = capsys.readouterr()
    assert rc == 1 and "2 built, 0 already done, 1 failed of 3" in out
    assert f"listed in {tmp_path / 'all'}.failures.json" in err
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"a.mp4": "a person walks", "b.mp4": "a person stands"}))
    rc = tool.main(["--ann", str(ann), "--video-dir", str(video_folder), "--out-dir", str(tmp_path / "ann")]
                   + common)
    assert rc == 0 and sorted(p for p in os.listdir(tmp_path / "ann") if p.endswith(".json")) == \
        ["a.mp4.json", "b.mp4.json"]
    assert tool.main(["--videos", str(video_folder)]) == 2  # no --out-dir
    assert tool.main(["--video", str(video_folder / "a.mp4"), "--out-dir", str(tmp_path / "x")]) == 2
    assert tool.main(["--ann", str(ann), "--out-dir", str(tmp_path / "x")]) == 2  # no --video-dir


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
