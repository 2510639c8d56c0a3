"""The tools on bad input: clear messages and exit code 2, --skip-missing, foreign checkpoints;
the per-dataset configs reproduce the reference settings table."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from temporal.defaults import load_temporal_config
from temporal.maps import valid_mask
from tests.temporal.temporal_b_helpers import planted_splits, tiny_overrides


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return planted_splits(tmp_path_factory.mktemp("small"), num_train=6, num_test=4)


def _train(args_extra, small, out, capsys, extra=()):
    import tools.train_temporal as train_tool

    train_ann, test_ann, feats = small
    code = train_tool.main(["--config", "configs/temporal/_base.yaml", "--no-progress"] + args_extra
                           + tiny_overrides(train_ann, feats, str(out), test_ann, epochs=1, extra=list(extra)))
    return code, capsys.readouterr()


def test_missing_videos_then_skip_missing(small, tmp_path, capsys):
    train_ann, test_ann, feats = small
    partial = tmp_path / "partial.h5"
    with h5py.File(feats, "r") as src, h5py.File(partial, "w") as dst:
        for vid in [v for v in src if v != "train0000"]:
            src.copy(vid, dst)
    out = tmp_path / "run"
    code, cap = _train([], small, out, capsys, ["DATASET.FEATURES", str(partial)])
    assert code == 2
    assert "1 of 6 videos" in cap.err and "train0000" in cap.err and "--skip-missing" in cap.err
    code, cap = _train(["--skip-missing"], small, out, capsys, ["DATASET.FEATURES", str(partial)])
    assert code == 0 and (out / "last.pth").is_file()

    import tools.test_temporal as test_tool
    with h5py.File(partial, "a") as f:
        del f["test0002"]
    base = ["--config", str(out / "config.yaml"), "--weights", str(out / "last.pth"), "--no-progress"]
    # the saved config.yaml has DATASET.SKIP_MISSING True (from --skip-missing): turn it off again
    assert test_tool.main(base + ["DATASET.SKIP_MISSING", "False"]) == 2
    assert "1 of 4 videos" in capsys.readouterr().err
    m = tmp_path / "m.json"
    assert test_tool.main(base + ["--skip-missing", "--out", str(m), "DATASET.SKIP_MISSING", "False"]) == 0
    metrics = json.loads(m.read_text())
    assert metrics["missing_videos"] == 1 and metrics["num_sentences"] == 6


def test_nan_features_and_dim_mismatch_are_named(small, tmp_path, capsys):
    train_ann, test_ann, feats = small
    bad = tmp_path / "nan.h5"
    with h5py.File(feats, "r") as src, h5py.File(bad, "w") as dst:
        for vid in src:
            src.copy(vid, dst)
        x = dst["train0003"][()]
        x[5, 0] = np.nan
        dst["train0003"][...] = x
    code, cap = _train([], small, tmp_path / "a", capsys, ["DATASET.FEATURES", str(bad)])
    assert code == 2 and "video train0003: 1 of 24 feature rows contain NaN or inf" in cap.err
    code, cap = _train([], small, tmp_path / "b", capsys, ["MODEL.FEAT_DIM", "64"])
    assert code == 2 and "feature dimension 32 does not match MODEL.FEAT_DIM 64" in cap.err


def test_checkpoint_without_config_is_checked_by_keys(small, tmp_path, capsys):
    code, _ = _train([], small, tmp_path / "run", capsys)
    assert code == 0
    ckpt = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    bare = {"model": {k: v for k, v in ckpt["model"].items() if not k.startswith("featpool.")}}
    torch.save(bare, tmp_path / "bare.pth")
    import tools.test_temporal as test_tool
    code = test_tool.main(["--config", str(tmp_path / "run" / "config.yaml"), "--weights",
                           str(tmp_path / "bare.pth"), "--no-progress"])
    assert code == 2 and "featpool" in capsys.readouterr().err
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    code = test_tool.main(["--config", str(tmp_path / "run" / "config.yaml"), "--weights",
                           str(tmp_path / "junk.pth"), "--no-progress"])
    assert code == 2 and "junk.pth: cannot read checkpoint" in capsys.readouterr().err


# --- configs ------------------------------------------------------------------------------------
TABLE = {  # MMN.md reference settings
    "charades": dict(FEAT_DIM=4096, NUM_PRE_CLIPS=32, NUM_CLIPS=16, POOL_KERNEL=2, POOLING_COUNTS=[15],
                     CONV_KERNEL=5, CONV_LAYERS=8, MIN_IOU=0.5, MAX_IOU=1.0, NUM_POSITIVE=1, MARGIN=0.4,
                     CONTRASTIVE_WEIGHT=0.05, LR=1e-4, BATCH_SIZE=48, EPOCHS=18, MILESTONES=[8, 13],
                     FREEZE_TEXT_EPOCHS=4, FULL_CONTRASTIVE_EPOCHS=7, NMS_THRESH=0.5, CONTRASTIVE_SCORE_POW=0.5,
                     IOU_THRESHOLDS=[0.5, 0.7], cells=136),
    "activitynet": dict(FEAT_DIM=500, NUM_PRE_CLIPS=256, NUM_CLIPS=64, POOL_KERNEL=4, POOLING_COUNTS=[15, 8, 8],
                        CONV_KERNEL=9, CONV_LAYERS=4, MIN_IOU=0.5, MAX_IOU=1.0, NUM_POSITIVE=1, MARGIN=0.3,
                        CONTRASTIVE_WEIGHT=0.1, LR=8e-4, BATCH_SIZE=48, EPOCHS=18, MILESTONES=[7, 15],
                        FREEZE_TEXT_EPOCHS=4, FULL_CONTRASTIVE_EPOCHS=6, NMS_THRESH=0.5, CONTRASTIVE_SCORE_POW=0.5,
                        IOU_THRESHOLDS=[0.3, 0.5, 0.7], cells=1104),
    "tacos": dict(FEAT_DIM=4096, NUM_PRE_CLIPS=256, NUM_CLIPS=128, POOL_KERNEL=2, POOLING_COUNTS=[15, 8, 8, 8],
                  CONV_KERNEL=5, CONV_LAYERS=8, MIN_IOU=0.3, MAX_IOU=0.7, NUM_POSITIVE=3, MARGIN=0.1,
                  CONTRASTIVE_WEIGHT=0.1, LR=1.5e-3, BATCH_SIZE=4, EPOCHS=250, MILESTONES=[130, 190],
                  FREEZE_TEXT_EPOCHS=40, FULL_CONTRASTIVE_EPOCHS=100, NMS_THRESH=0.4, CONTRASTIVE_SCORE_POW=0.3,
                  IOU_THRESHOLDS=[0.1, 0.3, 0.5], cells=2548),
}


@pytest.mark.parametrize("name", sorted(TABLE))
def test_configs_reproduce_reference_table(name):
    cfg = load_temporal_config(f"configs/temporal/{name}.yaml")
    flat = {**cfg.TEST, **cfg.MODEL, **cfg.LOSS, **cfg.SOLVER}  # SOLVER.BATCH_SIZE wins
    want = dict(TABLE[name])
    cells = want.pop("cells")
    for k, v in want.items():
        assert flat[k] == pytest.approx(v), k
    assert int(valid_mask(cfg.MODEL.NUM_CLIPS, cfg.MODEL.POOLING_COUNTS).sum()) == cells
    assert (cfg.LOSS.TAU_VIDEO, cfg.LOSS.TAU_SENT, cfg.LOSS.NEGATIVE_VIDEO_IOU, cfg.LOSS.SENT_REMOVAL_IOU) == \
        (0.1, 0.1, 0.5, 0.5)
    assert (list(cfg.SOLVER.BETAS), cfg.SOLVER.WEIGHT_DECAY, cfg.SOLVER.TEXT_LR_FACTOR, cfg.SOLVER.CLIP_GRAD) == \
        ([0.9, 0.99], 1e-5, 0.1, 5.0)
    assert cfg.DATASET.NAME == name and cfg.MODEL.TEXT_ENCODER == "distilbert-base-uncased"


def test_hcstvg_config_covers_whole_clip():
    cfg = load_temporal_config("configs/temporal/hcstvg.yaml")
    n = cfg.MODEL.NUM_CLIPS
    mask = valid_mask(n, cfg.MODEL.POOLING_COUNTS)
    assert bool(mask[0, n - 1]) and bool(mask.diagonal().all())  # the whole clip and every single clip
    assert cfg.DATASET.NAME == "hcstvg" and cfg.DATASET.FEATURE_KEY == "features"


def test_hcstvg_annotations_train_and_test_end_to_end(shared_data, tmp_path, capsys):
    """DATASET.NAME hcstvg: the tube spans of real HC-STVG entries, random clip features."""
    import tools.test_temporal as test_tool
    import tools.train_temporal as train_tool
    from tests.temporal.temporal_b_helpers import write_h5

    raw = json.loads((shared_data / "hcstvg/test_sample.json").read_text())
    sub = dict(list(raw.items())[:12])
    ann = tmp_path / "hc.json"
    ann.write_text(json.dumps(sub))
    rng = np.random.default_rng(0)
    feats = write_h5(tmp_path / "hc.h5", {v: rng.normal(size=(100, 32)).astype(np.float32) for v in sub},
                     key="features")
    out = tmp_path / "run"
    ov = tiny_overrides(str(ann), feats, str(out), str(ann), epochs=1,
                        extra=["DATASET.NAME", "hcstvg", "DATASET.FEATURE_KEY", "features",
                               "TEST.IOU_THRESHOLDS", "[0.3, 0.5]"])
    assert train_tool.main(["--config", "configs/temporal/_base.yaml", "--no-progress"] + ov) == 0
    capsys.readouterr()
    dump = tmp_path / "s.pt"
    assert test_tool.main(["--config", str(out / "config.yaml"), "--weights", str(out / "last.pth"),
                           "--dump-scores", str(dump), "--no-progress"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert set(metrics) == {"R@1,IoU@0.3", "R@1,IoU@0.5", "R@5,IoU@0.3", "R@5,IoU@0.5"}
    assert sorted(torch.load(dump)) == sorted(f"{v}/0" for v in sub)


def test_failing_inputs_leave_no_run_folder(small, tmp_path, capsys):
    """Local inputs are checked before anything is written (no config.yaml, no empty train.log)."""
    code, cap = _train([], small, tmp_path / "run", capsys, extra=["DATASET.FEATURES", str(tmp_path / "nope.h5")])
    assert code == 2 and "nope.h5" in cap.err
    assert not (tmp_path / "run").exists()
