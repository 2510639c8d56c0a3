"""stvg.features: clip layout, features vs reference loops, RoI vs a crop-and-pool reference,
resume after a killed run, sharding + merge, unreadable videos. Random-init backbones, tiny videos."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from stvg.data import videos_from_annotation, videos_in_folder
from stvg.features import extract_features, failures_path, load_features_config
from stvg.features.clips import clip_positions, clip_real_ranges, num_clips, pool_segments, segment_bounds
from stvg.features.extractor import FeatureExtractor
from stvg.structures import Tube
from tests.conftest import requires_cuda

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = ["BACKBONE.WEIGHTS", "none", "INPUT.SAMPLE_FPS", "5", "RUN.NUM_WORKERS", "0"]


def _cfg(*overrides):
    return load_features_config(None, TINY + list(overrides))


# ---- clip arithmetic --------------------------------------------------------------------------
@pytest.mark.parametrize("k, length, stride", [(1, 1, 1), (5, 8, 4), (8, 8, 8), (9, 8, 8), (17, 4, 2),
                                               (10, 3, 5)])
def test_clip_positions_match_a_loop(k, length, stride):
    ref, start = [], 0
    while True:  # regular grid; stop once a clip reaches the last frame
        ref.append([min(start + j, k - 1) for j in range(length)])
        if start + length >= k or start + stride >= k:
            break
        start += stride
    pos = clip_positions(k, length, stride)
    assert pos.tolist() == ref and num_clips(k, length, stride) == len(ref)
    real = clip_real_ranges(k, length, stride)
    assert [list(range(a, b)) for a, b in real] == [sorted(set(r)) for r in ref]


def test_pool_segments_matches_mmn_rule():
    rows = np.arange(10, dtype=np.float64)[:, None] * [1.0, 2.0]
    for s in (1, 3, 4, 10, 16):
        out = pool_segments(rows, s)
        for k in range(s):
            lo = min(int(np.round(k / s * 10)), 9)
            hi = min(int(np.round((k + 1) / s * 10)), 9)
            want = rows[lo:hi].mean(0) if hi > lo else rows[lo]
            np.testing.assert_allclose(out[k], want)
    assert segment_bounds(1, 4).tolist() == [0, 0, 0, 0, 0]


# ---- one video -------------------------------------------------------------------------------
def test_frame_features_shapes_and_reference(make_video):
    path = make_video("a.mp4", fps=10, num_frames=30, size=(96, 64))
    ex = FeatureExtractor.from_config(_cfg("INPUT.RESIZE", "[64, 96]", "CLIPS.LEN", "2"))
    out = ex.extract_video(str(path))
    assert out.frame_indices.tolist() == list(range(0, 30, 2))
    assert out.features.shape == (8, 512) and out.features.dtype == np.float32
    assert out.clip_frames.tolist() == [[4 * t, min(4 * t + 2, 28)] for t in range(8)]
    assert (out.fps, out.num_frames, out.width, out.height) == (10.0, 30, 96, 64)
    frames = ex.decode(str(path)).frames
    _, vec = ex.backbone.encode_frames(frames)
    ref = np.stack([vec[2 * t: 2 * t + 2].mean(0).numpy() for t in range(8)])
    np.testing.assert_allclose(out.features, ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(ex.extract_video(str(path)).features, out.features)  # deterministic


def test_clip_model_features_and_padding(make_video):
    path = make_video("a.mp4", fps=10, num_frames=11, size=(64, 48))
    cfg = _cfg("BACKBONE.NAME", "r2plus1d_18", "INPUT.SAMPLE_FPS", "10", "INPUT.RESIZE", "[32, 40]",
               "INPUT.CROP", "32", "CLIPS.LEN", "4", "CLIPS.STRIDE", "2")
    ex = FeatureExtractor.from_config(cfg)
    out = ex.extract_video(str(path))
    assert out.features.shape == (5, 512)
    assert out.clip_frames.tolist() == [[0, 3], [2, 5], [4, 7], [6, 9], [8, 10]]
    frames = ex.decode(str(path)).frames
    assert frames.shape == (11, 32, 32, 3)
    for t, first in enumerate(range(0, 10, 2)):
        clip = frames[[min(first + j, 10) for j in range(4)]][None]
        np.testing.assert_allclose(out.features[t], ex.backbone.encode_clips(clip)[0].numpy(),
                                   rtol=1e-4, atol=1e-4)
    short = make_video("short.mp4", fps=10, num_frames=3, size=(64, 48))
    s = ex.extract_video(str(short))  # shorter than one clip: padded, not dropped
    assert s.features.shape == (1, 512) and s.clip_frames.tolist() == [[0, 2]]
    with pytest.raises(ValueError, match="frame backbone"):
        ex.extract_video(str(short), tubes=[Tube([0], [[0, 0, 4, 4]])])


def _bilinear(fm, y, x):
    c, h, w = fm.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(c)
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    y1, x1 = y0 + 1, x0 + 1
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * fm[:, y0, x0] + (1 - ly) * lx * fm[:, y0, x1]
            + ly * (1 - lx) * fm[:, y1, x0] + ly * lx * fm[:, y1, x1])


def _crop_and_pool(fm, box, out, ratio):
    """Mean of the box's crop of a feature map, sampled bilinearly on an out*ratio grid (RoIAlign)."""
    x1, y1, x2, y2 = (v - 0.5 for v in box)
    bw, bh = (x2 - x1) / out, (y2 - y1) / out
    acc = [_bilinear(fm, y1 + py * bh + (iy + 0.5) * bh / ratio, x1 + px * bw + (ix + 0.5) * bw / ratio)
           for py in range(out) for px in range(out) for iy in range(ratio) for ix in range(ratio)]
    return np.mean(acc, axis=0)


def test_roi_features_equal_crop_and_pool_reference(make_video):
    path = make_video("a.mp4", fps=10, num_frames=30, size=(128, 96))
    cfg = _cfg("INPUT.RESIZE", "[96, 128]", "ROI.OUTPUT_SIZE", "3", "ROI.NUM_SEGMENTS", "4")
    ex = FeatureExtractor.from_config(cfg)
    frames = np.arange(3, 23)
    boxes = np.stack([[5 + f, 10 + f, 70 + 2 * f, 80] for f in frames]).astype(np.float32)
    tubes = [Tube(frames, boxes), Tube([13], [[0, 0, 128, 96]])]  # the second covers no sampled frame
    out = ex.extract_video(str(path), tubes)
    assert out.roi_features.shape == (2, 4, 512)
    fmap = ex.backbone.encode_frames(ex.decode(str(path)).frames)[0].numpy().astype(np.float64)
    scale = 96 / 96 / 32  # resized / source / stride
    rows = [_crop_and_pool(fmap[k], boxes[frames == 2 * k][0] * scale, 3, 2) for k in range(2, 12)]
    np.testing.assert_allclose(out.roi_features[0], pool_segments(np.stack(rows), 4), rtol=1e-4, atol=1e-5)
    # nearest sampled frame to frame 13 is 12 (position 6); the whole frame
    ref = _crop_and_pool(fmap[6], np.array([0, 0, 128, 96]) * scale, 3, 2)
    np.testing.assert_allclose(out.roi_features[1], np.tile(ref, (4, 1)), rtol=1e-4, atol=1e-5)


def _crop_and_pool_hw(fm, box, out_h, out_w, ratio):
    """:func:`_crop_and_pool` on an out_h x out_w grid (RoIAlign with unequal output sides)."""
    x1, y1, x2, y2 = (v - 0.5 for v in box)
    bw, bh = (x2 - x1) / out_w, (y2 - y1) / out_h
    acc = [_bilinear(fm, y1 + py * bh + (iy + 0.5) * bh / ratio, x1 + px * bw + (ix + 0.5) * bw / ratio)
           for py in range(out_h) for px in range(out_w) for iy in range(ratio) for ix in range(ratio)]
    return np.mean(acc, axis=0)


@pytest.mark.parametrize("stage, parts, size", [(1, 3, 3), (2, 2, 3), (4, 4, 2), (3, 1, 3)])
def test_roi_stage_and_parts_equal_stripe_reference(make_video, stage, parts, size):
    """Stage k's map, P stripes: each stripe pooled by itself (a separate RoIAlign on an r x OUTPUT_SIZE
    grid, r = max(1, round(OUTPUT_SIZE / P))), top first, concatenated; the clip features do not change."""
    from stvg.features.defaults import roi_feature_dim

    path = make_video("a.mp4", fps=10, num_frames=12, size=(128, 96))
    base = ["INPUT.RESIZE", "[96, 128]", "ROI.OUTPUT_SIZE", str(size), "ROI.NUM_SEGMENTS", "2"]
    cfg = _cfg(*base, "ROI.STAGE", str(stage), "ROI.PARTS", str(parts))
    ex = FeatureExtractor.from_config(cfg)
    frames = np.arange(0, 12)
    boxes = np.stack([[10 + f, 8, 60 + 3 * f, 90 - f] for f in frames]).astype(np.float32)
    out = ex.extract_video(str(path), [Tube(frames, boxes)])
    c = ex.backbone.spec.stage_dim(stage)
    assert ex.roi_dim == roi_feature_dim(cfg) == c * parts
    assert out.roi_features.shape == (1, 2, c * parts)
    fmap = ex.backbone.encode_frames(ex.decode(str(path)).frames, stage=stage)[0].numpy().astype(np.float64)
    scale = 1 / ex.backbone.spec.stage_stride(stage)
    rows_per = max(1, round(size / parts))
    rows = []
    for k in range(6):                                   # sampled frames 0, 2, ..., 10 at 5 fps
        x1, y1, x2, y2 = boxes[2 * k] * scale
        h = (y2 - y1) / parts
        rows.append(np.concatenate([_crop_and_pool_hw(fmap[k], (x1, y1 + p * h, x2, y1 + (p + 1) * h),
                                                      rows_per, size, 2) for p in range(parts)]))
    np.testing.assert_allclose(out.roi_features[0], pool_segments(np.stack(rows), 2), rtol=1e-4, atol=1e-5)
    plain = FeatureExtractor.from_config(_cfg(*base)).extract_video(str(path), [Tube(frames, boxes)])
    np.testing.assert_array_equal(out.features, plain.features)


@pytest.mark.parametrize("overrides, match", [
    (["ROI.STAGE", "5"], "ROI.STAGE 5: resnet18 has feature-map stages 1 to 4, not 5"),
    (["ROI.STAGE", "layer1"], "ROI.STAGE must be null or a stage number"),
    (["ROI.PARTS", "0"], "ROI.PARTS must be >= 1"),
    (["BACKBONE.NAME", "r2plus1d_18", "ROI.STAGE", "2"], "clip model"),
])
def test_roi_stage_and_parts_config_errors(overrides, match):
    from stvg.config import ConfigError

    with pytest.raises(ConfigError, match=match):
        _cfg(*overrides)


def test_whole_frame_box_equals_pooled_frame_feature(make_video):
    path = make_video("a.mp4", fps=10, num_frames=10, size=(64, 64))
    cfg = _cfg("INPUT.RESIZE", "[64, 64]", "ROI.OUTPUT_SIZE", "2", "ROI.NUM_SEGMENTS", "5")
    ex = FeatureExtractor.from_config(cfg)
    out = ex.extract_video(str(path), [Tube(np.arange(10), np.tile([[0, 0, 64, 64]], (10, 1)))])
    np.testing.assert_allclose(out.roi_features[0], out.features, rtol=1e-4, atol=1e-5)


# ---- many videos: HDF5, failures, shards, resume ---------------------------------------------
def _content(path):
    def walk(node):
        d = {"attrs": {k: np.asarray(v).tolist() for k, v in node.attrs.items()}}
        for k in node:
            d[k] = walk(node[k]) if isinstance(node[k], h5py.Group) else node[k][()]
        return d
    with h5py.File(path, "r") as f:
        return walk(f)


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _assert_same(a[k], b[k])
        elif isinstance(a[k], np.ndarray):
            np.testing.assert_array_equal(a[k], b[k])
        else:
            assert a[k] == b[k], k


@pytest.fixture
def video_dir(make_video, tmp_path):
    for i in range(5):
        make_video(f"videos/v{i}.mp4", fps=10, num_frames=8 + 4 * i, size=(64, 48))
    return tmp_path / "videos"


def test_folder_to_hdf5_layout_and_failures(video_dir, tmp_path):
    (video_dir / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 500)
    videos = videos_in_folder(str(video_dir), [".mp4"]) + [("gone.mp4", str(video_dir / "gone.mp4"))]
    out = str(tmp_path / "out" / "f.h5")
    s = extract_features(videos, out, _cfg("INPUT.RESIZE", "32", "CLIPS.LEN", "2"), progress=False)
    assert s.finished and s.num_done == 5 and set(s.all_failures) == {"broken.mp4", "gone.mp4"}
    fails = json.load(open(failures_path(out)))
    assert "broken.mp4" in fails["broken.mp4"] and "not found" in fails["gone.mp4"]
    with h5py.File(out, "r") as f:
        assert sorted(f) == [f"v{i}.mp4" for i in range(5)]
        g = f["v4.mp4"]
        k = math.ceil(24 / 2)  # 24 frames at 10 fps sampled at 5 fps
        assert g["features"].shape == (math.ceil(k / 2), 512) and g["frame_indices"].shape == (k,)
        assert g["clip_frames"].shape == (math.ceil(k / 2), 2) and "roi_features" not in g
        assert g.attrs["num_frames"] == 24 and g.attrs["fps"] == 10.0
        assert f.attrs["backbone"] == "resnet18" and f.attrs["feature_dim"] == 512
    # no parts folder and no lock file left behind
    assert sorted(os.listdir(tmp_path / "out")) == ["f.h5", "f.h5.config.yaml", "f.h5.failures.json"]
    # a repaired video is picked up on the next run; the failures file then lists only the rest
    os.replace(video_dir / "v0.mp4", video_dir / "broken.mp4")
    s2 = extract_features(videos, out, _cfg("INPUT.RESIZE", "32", "CLIPS.LEN", "2"), progress=False)
    assert s2.num_done == 1 and set(s2.all_failures) == {"gone.mp4"}
    assert set(json.load(open(failures_path(out)))) == {"gone.mp4"}
    with pytest.raises(ValueError, match="INPUT.RESIZE"):  # changed settings never mix into a file
        extract_features(videos, out, _cfg("INPUT.RESIZE", "48", "CLIPS.LEN", "2"), progress=False)


def test_shards_merge_into_the_same_file(video_dir, tmp_path):
    videos = videos_in_folder(str(video_dir), [".mp4"])
    cfg = _cfg("INPUT.RESIZE", "32")
    single = str(tmp_path / "single.h5")
    extract_features(videos, single, cfg, progress=False)
    out = str(tmp_path / "sharded.h5")
    s0 = extract_features(videos, out, cfg, num_shards=2, shard=0, progress=False)
    assert not s0.finished and not os.path.exists(out) and s0.num_assigned == 3
    s1 = extract_features(videos, out, cfg, num_shards=2, shard=1, progress=False)
    assert s1.finished and s1.num_assigned == 2
    _assert_same(_content(out), _content(single))


def test_torchrun_environment_picks_the_shard(video_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    s = extract_features(videos_in_folder(str(video_dir), [".mp4"]), str(tmp_path / "f.h5"),
                         _cfg("INPUT.RESIZE", "32"), progress=False)
    assert (s.num_shards, s.shard, s.num_done, s.finished) == (2, 1, 2, False)


def test_tubes_give_roi_features_in_the_file(video_dir, tmp_path):
    videos = videos_in_folder(str(video_dir), [".mp4"])[:2]
    tubes = {"v1.mp4": [Tube(np.arange(2, 9), np.tile([[4, 4, 40, 30]], (7, 1))), Tube([0], [[1, 1, 9, 9]])]}
    out = str(tmp_path / "f.h5")
    extract_features(videos, out, _cfg("INPUT.RESIZE", "32", "ROI.NUM_SEGMENTS", "3"), tubes=tubes,
                     progress=False)
    with h5py.File(out, "r") as f:
        assert f["v1.mp4"]["roi_features"].shape == (2, 3, 512)
        assert f["v0.mp4"]["roi_features"].shape == (0, 3, 512)


_DRIVER = """
import runpy, sys, time
sys.path.insert(0, {repo!r})
import stvg.features.store as st
import stvg.store
mode, args = sys.argv[1], sys.argv[2:]
if mode == "slow-parts":
    orig = stvg.store.VideoStore.write
    def write(self, vid, *a, **kw):
        orig(self, vid, *a, **kw)
        print("WROTE", vid, flush=True)
        time.sleep(0.5)
    stvg.store.VideoStore.write = write
else:
    orig = st._write_group
    def write_group(*a):
        orig(*a)
        print("MERGING", flush=True)
        time.sleep(0.5)
    st._write_group = write_group
sys.argv = ["extract_features.py"] + args
runpy.run_path({tool!r}, run_name="__main__")
"""


def _run_and_kill(tmp_path, mode, marker, count, args):
    driver = tmp_path / "driver.py"
    driver.write_text(_DRIVER.format(repo=str(REPO), tool=str(REPO / "tools" / "extract_features.py")))
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    proc = subprocess.Popen([sys.executable, str(driver), mode] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    seen = 0
    try:
        for line in proc.stdout:
            seen += line.startswith(marker)
            if seen == count:
                proc.kill()
                break
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert seen == count, f"the run ended before {count} x {marker}"


@pytest.mark.parametrize("mode, marker, count", [("slow-parts", "WROTE", 2), ("slow-merge", "MERGING", 3)])
def test_resume_after_kill_gives_the_same_file(video_dir, tmp_path, mode, marker, count):
    overrides = ["BACKBONE.WEIGHTS", "none", "INPUT.RESIZE", "32", "INPUT.SAMPLE_FPS", "5",
                 "RUN.NUM_WORKERS", "1"]
    videos = videos_in_folder(str(video_dir), [".mp4"])
    ref = str(tmp_path / "ref.h5")
    extract_features(videos, ref, load_features_config(None, overrides), progress=False)
    out = str(tmp_path / "killed" / "f.h5")
    _run_and_kill(tmp_path, mode, marker, count,
                  ["--videos", str(video_dir), "--out", out, "--device", "cpu", "--no-progress"] + overrides)
    assert not os.path.exists(out)  # killed before the merge finished: no half-written output
    parts = sorted(p for p in os.listdir(out + ".parts") if p.endswith(".npz"))
    assert len(parts) == (2 if mode == "slow-parts" else 5)
    s = extract_features(videos, out, load_features_config(None, overrides), progress=False)
    assert s.finished and s.num_skipped == len(parts) and s.num_done == 5 - len(parts)
    _assert_same(_content(out), _content(ref))
    assert sorted(os.listdir(tmp_path / "killed")) == ["f.h5", "f.h5.config.yaml"]  # no tmp, lock, parts


def test_tool_exit_status_names_failures(video_dir, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("extract_features_tool", REPO / "tools" / "extract_features.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    (video_dir / "broken.mp4").write_bytes(b"garbage" * 100)
    out = str(tmp_path / "f.h5")
    rc = tool.main(["--videos", str(video_dir), "--out", out, "--device", "cpu", "--no-progress"] + TINY
                   + ["INPUT.RESIZE", "32"])
    assert rc == 1 and "1 video(s) failed" in capsys.readouterr().err
    assert tool.main(["--videos", str(video_dir), "--out", out, "BACKBONE.NAMEE", "x"]) == 2
    assert "BACKBONE.NAME" in capsys.readouterr().err


def test_videos_from_annotation(tmp_path):
    (tmp_path / "vids").mkdir()
    for name in ("a.mp4", "b.mkv"):  # only the paths matter here
        (tmp_path / "vids" / name).write_bytes(b"")
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"a.mp4": "a man walks", "b": "a woman sits", "c.mp4": "nobody"}))
    got = dict(videos_from_annotation(str(ann), str(tmp_path / "vids"), [".mp4", ".mkv"]))
    assert got == {"a.mp4": str(tmp_path / "vids" / "a.mp4"), "b": str(tmp_path / "vids" / "b.mkv"),
                   "c.mp4": str(tmp_path / "vids" / "c.mp4")}


def test_videos_from_real_annotation_file(shared_data, tmp_path):
    got = videos_from_annotation(str(shared_data / "hcstvg" / "test_sample.json"), str(tmp_path), [".mp4"])
    assert len(got) == 373 and got[0][0] == "55_vfjywN5CN0Y.mp4"


def test_every_shipped_config_loads_and_names_real_weights():
    from stvg.backbones import resolve_weights

    paths = sorted((REPO / "configs" / "features").glob("hcstvg_*.yaml"))
    assert paths
    for path in paths:
        cfg = load_features_config(str(path))
        enum, local, _ = resolve_weights(cfg.BACKBONE.NAME, cfg.BACKBONE.WEIGHTS)
        assert enum is not None and local is None, path


def _close_fp16(a, b):
    """AMP (float16) vs float32: errors relative to the features' scale."""
    assert a.shape == b.shape and np.abs(a - b).max() <= 2e-2 * np.abs(b).max()


@requires_cuda
def test_cuda_extraction_matches_cpu():
    from stvg.features.decode import DecodedVideo

    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (12, 64, 96, 3), dtype=torch.uint8, generator=g)
    video = DecodedVideo("x", frames, np.arange(0, 24, 2), 10.0, 24, 96, 64)
    tubes = [Tube(np.arange(3, 15), np.tile([[8, 8, 60, 50]], (12, 1)))]
    cfg = _cfg("INPUT.RESIZE", "[64, 96]", "CLIPS.LEN", "3")
    cpu = FeatureExtractor.from_config(cfg, "cpu").extract(video, tubes)
    gpu = FeatureExtractor.from_config(cfg, "cuda").extract(video, tubes)
    _close_fp16(gpu.features, cpu.features)
    _close_fp16(gpu.roi_features, cpu.roi_features)
    cfg = _cfg("BACKBONE.NAME", "r2plus1d_18", "INPUT.RESIZE", "[32, 40]", "INPUT.CROP", "32", "CLIPS.LEN", "4")
    small = DecodedVideo("x", frames[:, :32, :32], np.arange(12), 10.0, 12, 32, 32)
    _close_fp16(FeatureExtractor.from_config(cfg, "cuda").extract(small).features,
                FeatureExtractor.from_config(cfg, "cpu").extract(small).features)
