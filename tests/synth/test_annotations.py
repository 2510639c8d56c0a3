"""Determinism, loader/evaluator round trip, boxes inside frames, resume and failure isolation."""
import json
import os

import numpy as np
import pytest

from stvg.data.hcstvg import load_hcstvg
from stvg.evaluation import evaluate, ground_truth_entries
from stvg.data.synthetic import dataset as ds
from stvg.data.synthetic import generate
from stvg.video import VideoReader

FILES = ("train.json", "val.json", "test.json", "all_tubes.json", "meta.json")


def _bytes(folder):
    return {f: open(os.path.join(folder, f), "rb").read() for f in FILES}


def test_same_seed_same_annotation_bytes(tmp_path):
    a = generate(str(tmp_path / "a"), 4, seed=3, write_videos=False)
    b = generate(str(tmp_path / "b"), 4, seed=3, write_videos=False, workers=2)
    c = generate(str(tmp_path / "c"), 4, seed=4, write_videos=False)
    assert not (a.failures or b.failures or c.failures)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert _bytes(tmp_path / "a")["all_tubes.json"] != _bytes(tmp_path / "c")["all_tubes.json"]


def test_same_seed_same_video_bytes(tmp_path):
    """Two runs of one seed (one and two worker processes): every file byte-identical, videos included."""
    from tests.synth.conftest import TINY
    a = generate(str(tmp_path / "a"), 2, seed=8, **TINY)
    b = generate(str(tmp_path / "b"), 2, seed=8, workers=2, **TINY)
    assert a.rendered == b.rendered == 2 and not (a.failures or b.failures)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == len(FILES) + 1 + 2  # + config.yaml + 2 videos
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_splits_partition_the_videos(tiny_annotations):
    keys = [set(json.load(open(tiny_annotations / f"{s}.json"))) for s in ("train", "val", "test")]
    assert sum(map(len, keys)) == 24 and len(set.union(*keys)) == 24 and all(keys)
    meta = json.load(open(tiny_annotations / "meta.json"))
    for s, k in zip(("train", "val", "test"), keys):
        assert all(meta["videos"][v]["split"] == s for v in k)


def test_loader_and_evaluator_round_trip(tiny_annotations):
    tubes = json.load(open(tiny_annotations / "all_tubes.json"))
    for split in ("train", "val", "test"):
        path = str(tiny_annotations / f"{split}.json")
        videos, report = load_hcstvg(path, strict=True)
        raw = json.load(open(path))
        assert report.num_loaded == len(raw)
        for vid, ann in videos.items():
            assert ann.fps == pytest.approx(10.0) and ann.duration == pytest.approx(raw[vid]["duration"])
            # the annotated tube is the target's tube restricted to the described span
            target = tubes[vid]["people"][tubes[vid]["target"]]["bbox"]
            for f, box in zip(ann.tube.frames.tolist(), ann.tube.boxes.tolist()):
                np.testing.assert_allclose(box, target[str(f + 1)], atol=0.011)
        gt = ground_truth_entries(raw)
        res = evaluate(gt, raw)
        assert res["m_vIoU"] == pytest.approx(1.0) and res["m_tIoU"] == pytest.approx(1.0)
        assert res["num_videos"] == len(raw)


def test_boxes_inside_frames(tiny_annotations):
    tubes = json.load(open(tiny_annotations / "all_tubes.json"))
    for split in ("train", "val", "test"):
        for vid, e in json.load(open(tiny_annotations / f"{split}.json")).items():
            b = np.asarray(e["bbox"], np.float64)
            assert (b[:, :2] >= 0).all() and (b[:, 2:] > 0).all()
            assert (b[:, 0] + b[:, 2] <= e["width"]).all() and (b[:, 1] + b[:, 3] <= e["height"]).all()
            assert e["st_frame"] + len(b) - 1 <= e["img_num"]
    for vid, e in tubes.items():
        for p in e["people"].values():
            b = np.asarray(list(p["bbox"].values()), np.float64)
            assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
            assert (b[:, 2] <= e["width"]).all() and (b[:, 3] <= e["height"]).all()
            assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
            frames = sorted(int(f) for f in p["bbox"])
            assert frames == list(range(p["st_frame"], p["ed_frame"] + 1))  # nobody comes back
            assert set(p["fully_visible"]) <= set(frames)


def test_videos_decode_with_the_annotated_size_and_length(tiny_dataset):
    for vid, e in json.load(open(tiny_dataset / "all_tubes.json")).items():
        r = VideoReader(str(tiny_dataset / "videos" / vid))
        assert r.num_frames == e["img_num"] and r.size == (e["width"], e["height"])
        assert r.fps == pytest.approx(e["fps"])


def test_resume_reuses_videos_and_refuses_another_seed(tiny_dataset):
    from tests.synth.conftest import TINY
    before = {f: os.path.getmtime(tiny_dataset / "videos" / f) for f in os.listdir(tiny_dataset / "videos")}
    rep = generate(str(tiny_dataset), 3, seed=11, **TINY)
    assert rep.rendered == 0 and rep.reused == 3
    assert {f: os.path.getmtime(tiny_dataset / "videos" / f) for f in before} == before
    with pytest.raises(ValueError, match="another seed or config"):
        generate(str(tiny_dataset), 3, seed=12, **TINY)


def test_one_broken_video_does_not_abort_the_batch(tmp_path, monkeypatch):
    real = ds.sample_video

    def flaky(cfg, seed, index):
        if index == 1:
            raise RuntimeError("boom")
        return real(cfg, seed, index)

    monkeypatch.setattr(ds, "sample_video", flaky)
    rep = generate(str(tmp_path / "d"), 3, seed=2, write_videos=False)
    assert list(rep.failures) == ["synth2_00001"] and "boom" in rep.failures["synth2_00001"]
    tubes = json.load(open(tmp_path / "d" / "all_tubes.json"))
    assert sorted(tubes) == ["synth2_00000.mp4", "synth2_00002.mp4"]


def test_unknown_option_is_an_error(tmp_path):
    from stvg.config import ConfigError
    with pytest.raises(ConfigError):
        generate(str(tmp_path / "e"), 1, seed=0, write_videos=False, VIDEO_FSP=3)
    with pytest.raises(ValueError, match="even"):
        generate(str(tmp_path / "f"), 1, seed=0, write_videos=False, VIDEO_WIDTH=321)
