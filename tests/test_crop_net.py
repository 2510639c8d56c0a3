"""The crop net: crops, file round trip, training on a planted task, the RoI source in feature
extraction (against a per-box loop) and in a model file (stored, reloaded, predicting)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stvg.features.crop_net import (CROP_SIZE, EMBED_DIM, CropNet, crop_net_identity, load_crop_net,
                                    person_crops, save_crop_net)
from tests.test_pipeline_tiny import (annotations, build_model_file, features_cfg, matcher_cfg,  # noqa: F401
                                      synth_clips)


def _frames(k=4, h=40, w=60):
    """uint8[k, h, w, 3]: frame i is flat grey 20 * (i + 1)."""
    return torch.stack([torch.full((h, w, 3), 20 * (i + 1), dtype=torch.uint8) for i in range(k)])


def test_person_crops_frame_and_difference():
    frames = _frames()
    x = person_crops(frames, torch.tensor([0, 2, 3]), torch.tensor([[5., 5., 25., 35.]] * 3))
    assert x.shape == (3, 6) + CROP_SIZE and x.dtype == torch.float32
    assert torch.allclose(x[:, :3], torch.tensor([20, 60, 80.])[:, None, None, None] / 255, atol=1e-6)
    # difference to the sampled frame before (frame 0 has none: against itself)
    assert torch.allclose(x[:, 3:], torch.tensor([0, 20, 20.])[:, None, None, None] / 255, atol=1e-6)
    assert person_crops(frames, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4)).shape == (0, 6) + CROP_SIZE
    with pytest.raises(ValueError, match="positions"):
        person_crops(frames, torch.tensor([4]), torch.tensor([[0., 0., 5., 5.]]))


def test_file_round_trip_and_tampering(tmp_path):
    from stvg.checkpoint import CheckpointError

    torch.manual_seed(0)
    net = CropNet(["a", "b", "c"])
    path = tmp_path / "net.pth"
    save_crop_net(str(path), net, {"seed": 0})
    back = load_crop_net(str(path))
    assert back.classes == ["a", "b", "c"] and not back.training
    x = torch.randn(5, 6, *CROP_SIZE)
    net.eval()
    assert torch.equal(net(x)[1], back(x)[1]) and back.embed(x).shape == (5, EMBED_DIM)
    rec = torch.load(path, weights_only=True)
    rec["state_dict"]["head.bias"] += 1
    torch.save(rec, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="bad.pth.*fingerprint"):
        load_crop_net(str(tmp_path / "bad.pth"))
    rec["format"] = "other"
    torch.save(rec, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="not a crop net"):
        load_crop_net(str(tmp_path / "other.pth"))


def test_training_learns_a_planted_task_and_flips_swap_classes():
    from stvg.features.crop_train import _flip_map, crop_accuracy, train_crop_net

    g = torch.Generator().manual_seed(0)

    def data(n):  # class 0: bright left half, class 1: bright right half (a flip swaps them)
        y = torch.randint(0, 2, (n,), generator=g)
        x = torch.rand(n, 6, *CROP_SIZE, generator=g) * 0.2
        half = CROP_SIZE[1] // 2
        for i in range(n):
            sl = slice(0, half) if y[i] == 0 else slice(half, None)
            x[i, :3, :, sl] += 0.8
        return x, y

    x, y = data(256)
    xv, yv = data(64)
    assert _flip_map(["left", "right", "other"], [("left", "right")]).tolist() == [1, 0, 2]
    net, hist = train_crop_net(x, y, ["left", "right"], (xv, yv), epochs=3, batch=32, seed=0,
                               flip_pairs=[("left", "right")])
    assert len(hist) == 3 and all("val_accuracy" in h for h in hist)
    assert crop_accuracy(net, xv, yv) > 0.9
    assert crop_accuracy(net, xv, yv) == max(h["val_accuracy"] for h in hist)  # the best epoch is kept


def test_action_crops_label_each_sampled_frame(synth_clips):
    from stvg.data.synthetic.actions import ACTIONS
    from stvg.data.synthetic.crop_labels import action_crops, person_action_frames
    from stvg.video import VideoReader

    cfg = features_cfg()
    x, y, info = action_crops(str(synth_clips), "train", cfg)
    meta = json.loads((synth_clips / "meta.json").read_text())["videos"]
    people = json.loads((synth_clips / "all_tubes.json").read_text())
    want = []
    for vid in sorted(v for v in meta if meta[v]["split"] == "train"):
        nf = people[vid]["img_num"]
        sampled = VideoReader(str(synth_clips / "videos" / vid)).sample_indices(cfg.INPUT.SAMPLE_FPS)
        for pid, p in people[vid]["people"].items():
            lab = person_action_frames(meta[vid]["people"][pid]["actions"], nf)
            want += [int(lab[f]) for f in sampled if str(f + 1) in p["bbox"] and lab[f] >= 0]
    assert info["crops"] == len(want) == x.shape[0] > 0 and y.tolist() == want
    assert x.dtype == torch.float16 and x.shape[1:] == (6,) + CROP_SIZE
    assert set(y.tolist()) <= set(range(len(ACTIONS)))
    with pytest.raises(ValueError, match="unknown action"):
        person_action_frames([{"action": "dance", "st_frame": 1, "ed_frame": 2}], 4)


@pytest.fixture(scope="module")
def crop_net_file(tmp_path_factory):
    from stvg.data.synthetic.actions import ACTIONS

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("crop") / "crop_net.pth"
    save_crop_net(str(path), CropNet(ACTIONS))
    return str(path)


def test_extractor_appends_the_embedding_of_each_box(synth_clips, crop_net_file):
    from spatial.tubes import Tube
    from stvg.features.clips import pool_segments
    from stvg.features.extractor import FeatureExtractor, tube_samples
    from stvg.features.defaults import roi_feature_dim

    vid = sorted(annotations(synth_clips))[0]
    path = str(synth_clips / "videos" / vid)
    plain = FeatureExtractor.from_config(features_cfg())
    with_net = FeatureExtractor.from_config(features_cfg("ROI.CROP_NET", crop_net_file))
    tubes = [Tube(torch.arange(2, 15), torch.tensor([[30., 40., 90., 170.]]).repeat(13, 1)),
             Tube(torch.arange(0, 20), torch.tensor([[150., 20., 200., 160.]]).repeat(20, 1) + torch.arange(20.)[:, None])]
    a, b = plain.extract_video(path, tubes), with_net.extract_video(path, tubes)
    c = roi_feature_dim(plain.cfg)
    assert b.roi_features.shape == (2, 4, c + EMBED_DIM) == (2, 4, roi_feature_dim(with_net.cfg))
    np.testing.assert_allclose(b.roi_features[..., :c], a.roi_features, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(b.features, a.features)
    # reference: each box cut and embedded on its own, then pooled into the segments
    video = with_net.decode(path)
    net = load_crop_net(crop_net_file)
    s = np.array([video.frames.shape[2] / video.width, video.frames.shape[1] / video.height] * 2, np.float32)
    for i, tube in enumerate(tubes):
        pos, boxes = tube_samples(tube, video.frame_indices)
        rows = np.stack([net.embed(person_crops(video.frames, torch.tensor([p]), torch.from_numpy(bx[None] * s)))[0]
                         .numpy() for p, bx in zip(pos, boxes)])
        np.testing.assert_allclose(b.roi_features[i, :, c:], pool_segments(rows, 4), rtol=1e-5, atol=1e-6)


def test_crop_net_needs_its_setting(crop_net_file):
    from stvg.config import ConfigError
    from stvg.features.extractor import FeatureExtractor

    bb = FeatureExtractor.from_config(features_cfg()).backbone
    with pytest.raises(ConfigError, match="no crop net was given"):
        FeatureExtractor(bb, features_cfg("ROI.CROP_NET", crop_net_file))
    with pytest.raises(ConfigError, match="ROI.CROP_NET is not set"):
        FeatureExtractor(bb, features_cfg(), load_crop_net(crop_net_file))


def test_feature_settings_record_the_identity_not_the_path(crop_net_file):
    from stvg.features.run import feature_settings
    from stvg.model_file import state_dict_fingerprint

    fp = state_dict_fingerprint(load_crop_net(crop_net_file).state_dict())
    assert feature_settings(features_cfg("ROI.CROP_NET", crop_net_file))["ROI"]["CROP_NET"] == crop_net_identity(fp)
    assert not feature_settings(features_cfg())["ROI"]["CROP_NET"]


def test_model_file_stores_the_net_and_predicts(tmp_path, synth_clips, crop_net_file):
    from stvg.features.extractor import FeatureExtractor
    from stvg.model_file import ModelFileError, read_model_file, validate_model_file
    from stvg.pipeline import STVGPredictor

    fcfg = features_cfg("ROI.CROP_NET", crop_net_file)
    path = build_model_file(tmp_path, fcfg=fcfg, mcfg=matcher_cfg(ROI_DIM=512 + EMBED_DIM))
    data = read_model_file(path)
    net = load_crop_net(crop_net_file)
    assert data["features"]["config"]["ROI"]["CROP_NET"] == crop_net_identity(data["features"]["crop_net"]["fingerprint"])
    assert "/" not in data["features"]["config"]["ROI"]["CROP_NET"] and data["sources"]["crop_net"]["sha256"]
    pred = STVGPredictor.from_file(path, device="cpu")
    got = pred.extractor.crop_net
    x = torch.randn(3, 6, *CROP_SIZE)
    assert torch.equal(got.embed(x), net.embed(x))
    vid, entry = next(iter(annotations(synth_clips).items()))
    res = pred(str(synth_clips / "videos" / vid), entry["caption"])
    assert res.reason is None and res.tube.frames.numel() > 0
    # the same features as an extractor built from the file the config named
    ref = FeatureExtractor.from_config(fcfg)
    tubes = res.candidates[:2] if res.candidates else []
    if tubes:
        a = pred.extractor.extract_video(str(synth_clips / "videos" / vid), tubes).roi_features
        np.testing.assert_allclose(a, ref.extract_video(str(synth_clips / "videos" / vid), tubes).roi_features,
                                   rtol=1e-5, atol=1e-6)
    bad = dict(data, features=dict(data["features"], crop_net=dict(data["features"]["crop_net"], fingerprint="0" * 16)))
    with pytest.raises(ModelFileError, match="CROP_NET"):
        validate_model_file(bad, "bad")
    gone = dict(data, features={k: v for k, v in data["features"].items() if k != "crop_net"})
    with pytest.raises(ModelFileError, match="crop_net"):
        validate_model_file(gone, "gone")
