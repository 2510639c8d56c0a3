"""Temporal data side: real annotation files, resampling vs a reference loop, HDF5 layouts, bad inputs,
collate."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from temporal.data import (FeatureError, FeatureStore, MissingFeaturesError, MomentCollator,
                           MomentDataset, load_annotations, resample_features)
from temporal.maps import iou_map
from tests.temporal.temporal_b_helpers import minilm_dir, write_h5


# --- real annotation files --------------------------------------------------------------------
@pytest.mark.parametrize("name,rel,videos,queries", [
    ("charades", "temporal/charades-sta/charades_test.json", 1334, 3720),
    ("activitynet", "temporal/activitynet/val.json", 4917, 17505),
    ("tacos", "temporal/tacos/test.json", 25, 4001),
])
def test_real_annotation_files(shared_data, name, rel, videos, queries):
    path = shared_data / rel
    vids, report = load_annotations(name, str(path))
    raw = json.loads(path.read_text())
    assert len(vids) == videos
    skipped = sum(n for r, n in report.counts.items() if "skipped" in r or "empty" in r)
    assert sum(len(v.queries) for v in vids) + skipped == queries
    for v in vids:
        assert v.duration > 0
        for q in v.queries:
            assert 0 <= q.start < q.end <= v.duration
    # spot-check the unit conversion of the first video
    vid0 = vids[0]
    entry = raw[vid0.video_id]
    q0 = vid0.queries[0]
    if name == "tacos":
        assert vid0.duration == pytest.approx(entry["num_frames"] / entry["fps"])
        assert q0.start == pytest.approx(entry["timestamps"][q0.index][0] / entry["fps"])
    else:
        assert vid0.duration == pytest.approx(entry["duration"])
        assert q0.start == pytest.approx(max(0.0, entry["timestamps"][q0.index][0]))
    assert q0.sentence == entry["sentences"][q0.index]


def test_activitynet_train_counts_start_after_end(shared_data):
    vids, report = load_annotations("activitynet", str(shared_data / "temporal/activitynet/train.json"))
    assert report.counts["start >= end (skipped)"] == 4
    raw = json.loads((shared_data / "temporal/activitynet/train.json").read_text())
    assert sum(len(v.queries) for v in vids) + sum(report.counts.values()) - \
        report.counts["moment beyond the duration (clamped)"] == sum(len(e["sentences"]) for e in raw.values())


def test_hcstvg_adapter(shared_data):
    from stvg.data import load_hcstvg

    path = str(shared_data / "hcstvg/test_sample.json")
    records, _ = load_hcstvg(path)
    vids, report = load_annotations("hcstvg", path)
    assert len(vids) == len(records) == 373
    for v in vids:
        rec = records[v.video_id]
        seg = rec.tube.segment(rec.fps)
        assert v.duration == pytest.approx(rec.num_frames / rec.fps) == pytest.approx(20.0)
        (q,) = v.queries
        assert (q.start, q.end, q.sentence, q.index) == (pytest.approx(seg.start), pytest.approx(seg.end),
                                                         rec.sentence, 0)


# --- bad annotations --------------------------------------------------------------------------
def test_bad_queries_are_skipped_or_clamped_and_counted(tmp_path, caplog):
    ann = {"a": {"duration": 10.0, "timestamps": [[2, 2], [3, 1], [-1, 4], [8, 12], [11, 13], [1, 2]],
                 "sentences": ["x", "y", "z", "w", "v", "  "]},
           "b": {"duration": 0, "timestamps": [[0, 1]], "sentences": ["q"]},
           "c": {"duration": 5, "timestamps": [[0, 1]], "sentences": ["q", "r"]},
           "d": {"duration": 5, "timestamps": [[0, 1]], "sentences": ["fine"]}}
    p = tmp_path / "a.json"
    p.write_text(json.dumps(ann))
    with caplog.at_level(logging.WARNING):
        vids, report = load_annotations("charades", str(p))
    assert [v.video_id for v in vids] == ["a", "d"]
    qa = vids[0].queries
    assert [(q.index, q.start, q.end) for q in qa] == [(2, 0.0, 4.0), (3, 8.0, 10.0)]
    assert report.counts["start >= end (skipped)"] == 2
    assert report.counts["moment beyond the duration (clamped)"] == 2
    assert report.counts["moment outside the video (skipped)"] == 1
    assert report.counts["empty sentence"] == 1
    assert any("'duration' must be positive" in r for r in report.counts)
    assert any("1 timestamps but 2 sentences" in r for r in report.counts)
    assert "start >= end" in caplog.text


def test_unknown_dataset_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_annotations("kinetics", "x.json")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_annotations("tacos", str(tmp_path / "nope.json"))


# --- resampling ---------------------------------------------------------------------------------
def reference_resample(feats: torch.Tensor, num: int) -> torch.Tensor:
    """MMN.md, literally: boundaries round(k / num * T) clamped to T - 1, mean of [idx_k, idx_k+1)."""
    t = feats.shape[0]
    idx = [min(int(torch.round(torch.tensor(k / num * t, dtype=torch.float32))), t - 1)
           for k in range(num + 1)]
    rows = []
    for k in range(num):
        s, e = idx[k], idx[k + 1]
        rows.append(feats[s:e].mean(0) if s < e else feats[s])
    return torch.stack(rows)


@pytest.mark.parametrize("t", [1, 3, 16, 31, 32, 33, 47, 64, 100, 257])
@pytest.mark.parametrize("num", [16, 32])
def test_resample_matches_reference_loop(t, num):
    x = torch.randn(t, 7, generator=torch.Generator().manual_seed(t * 100 + num))
    torch.testing.assert_close(resample_features(x, num), reference_resample(x, num))


def test_resample_half_to_even_boundaries():
    # T = 6, num = 4: boundaries 0, 1.5 -> 2, 3, 4.5 -> 4 (half to even), 6 -> clamped to 5, so
    # rows [0, 2), [2, 3), [3, 4), [4, 5): the last source row is never used (as in the reference)
    x = torch.arange(6.0)[:, None]
    assert resample_features(x, 4).flatten().tolist() == [0.5, 2.0, 3.0, 4.0]


# --- HDF5 features ------------------------------------------------------------------------------
def test_feature_layouts_and_normalisation(tmp_path):
    arr = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    flat = FeatureStore(write_h5(tmp_path / "a.h5", {"v": arr}), "", 6)
    grouped = FeatureStore(write_h5(tmp_path / "b.h5", {"v": arr}, key="c3d_features"), "c3d_features", 6)
    for store in (flat, grouped):
        store.check_shapes(["v"])
        np.testing.assert_array_equal(store.read("v").numpy(), arr)
    with pytest.raises(FeatureError, match=r"group holding \[.c3d_features.\]; set DATASET.FEATURE_KEY"):
        FeatureStore(str(tmp_path / "b.h5"), "", 6).read("v")
    with pytest.raises(FeatureError, match="no dataset 'feats'"):
        FeatureStore(str(tmp_path / "b.h5"), "feats", 6).read("v")
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"v": {"duration": 5.0, "timestamps": [[1, 2]], "sentences": ["s"]}}))
    ds = MomentDataset.from_files("charades", str(ann), str(tmp_path / "a.h5"), "", 6, 4)
    expected = reference_resample(F.normalize(torch.from_numpy(arr), dim=1), 4)
    torch.testing.assert_close(ds[0].feats, expected)


def _ann(tmp_path, vids):
    p = tmp_path / "ann.json"
    p.write_text(json.dumps({v: {"duration": 5.0, "timestamps": [[1, 2], [0, 3]], "sentences": ["a b", "c"]}
                             for v in vids}))
    return str(p)


def test_missing_videos_named_and_counted(tmp_path, caplog):
    ann = _ann(tmp_path, ["v1", "v2", "v3"])
    h5 = write_h5(tmp_path / "f.h5", {"v2": np.ones((4, 3), np.float32)})
    with pytest.raises(MissingFeaturesError, match=r"2 of 3 videos .* v1, v3 \(pass --skip-missing"):
        MomentDataset.from_files("charades", ann, h5, "", 3, 4)
    with caplog.at_level(logging.WARNING):
        ds = MomentDataset.from_files("charades", ann, h5, "", 3, 4, skip_missing=True)
    assert [v.video_id for v in ds.videos] == ["v2"] and ds.missing == ["v1", "v3"]
    assert "2 of 3 videos" in caplog.text


def test_feature_dim_mismatch_names_both_numbers(tmp_path):
    ann = _ann(tmp_path, ["v1"])
    h5 = write_h5(tmp_path / "f.h5", {"v1": np.ones((4, 500), np.float32)})
    with pytest.raises(FeatureError, match="v1: feature dimension 500 does not match MODEL.FEAT_DIM 4096"):
        MomentDataset.from_files("charades", ann, h5, "", 4096, 4)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_features_rejected(tmp_path, bad):
    arr = np.ones((5, 3), np.float32)
    arr[2, 1] = bad
    ds = MomentDataset.from_files("charades", _ann(tmp_path, ["v1"]),
                                  write_h5(tmp_path / "f.h5", {"v1": arr}), "", 3, 4)
    with pytest.raises(FeatureError, match="f.h5: video v1: 1 of 5 feature rows contain NaN or inf"):
        ds[0]


# --- collate ------------------------------------------------------------------------------------
def test_collate_shapes_targets_and_tokens(tmp_path):
    from transformers import AutoTokenizer

    ann = _ann(tmp_path, ["v1", "v2"])
    h5 = write_h5(tmp_path / "f.h5", {v: np.random.rand(7, 3).astype(np.float32) for v in ["v1", "v2"]})
    ds = MomentDataset.from_files("charades", ann, h5, "", 3, 8)
    tok = AutoTokenizer.from_pretrained(minilm_dir())
    batch = MomentCollator(tok, num_clips=4, max_len=16)([ds[0], ds[1]])
    assert batch.feats.shape == (2, 8, 3)
    assert batch.sent_video.tolist() == [0, 0, 1, 1]
    assert batch.sentence_index.tolist() == [0, 1, 0, 1]
    assert batch.iou_targets.shape == (4, 4, 4)
    torch.testing.assert_close(batch.iou_targets[1], iou_map((0.0, 3.0), 5.0, 4))
    assert batch.input_ids.shape[0] == 4 and batch.attention_mask.sum(1).tolist()[1] == 3  # [CLS] c [SEP]
    assert batch.input_ids[0, :4].tolist() == tok("a b")["input_ids"]
    assert batch.durations.tolist() == [5.0, 5.0] and batch.video_ids == ["v1", "v2"]
    torch.testing.assert_close(batch.gt_segments[0], torch.tensor([1.0, 2.0]))
