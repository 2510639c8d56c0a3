"""The model file: layout checks, strict stage configs, stages that disagree, text encoders by identity."""
import copy

import pytest
import torch

from stvg.io import atomic_torch_save
from stvg.model_file import (FORMAT_VERSION, ModelFileError, describe, read_model_file, state_dict_fingerprint,
                             validate_model_file, write_model_file)
from stvg.pipeline import STVGPredictor
from tests.test_pipeline_tiny import OFFLINE, build_model_file, features_cfg, matcher_cfg, temporal_cfg


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = build_model_file(tmp_path_factory.mktemp("mf"))
    return path, read_model_file(path)


def test_round_trip_and_sources(model, tmp_path):
    path, data = model
    assert data["format"] == "stvg-model" and data["format_version"] == FORMAT_VERSION
    assert data["mode"] == "two_stage"
    assert data["temporal"]["text_encoder_stored"] and data["temporal"]["clip_seconds"] == 4.0
    assert data["features"]["backbone"]["weights"] == "random" and "state_dict" not in data["features"]["backbone"]
    assert data["spatial"]["config"]["DETECTION"]["CACHE_DIR"] == ""
    src = data["sources"]["temporal"]
    assert src["path"].endswith("best.pth") and len(src["sha256"]) == 64 and src["epoch"] == 1
    assert src["metrics"] == {"R@1,IoU@0.5": pytest.approx(0.1)}
    again = tmp_path / "again.pth"
    write_model_file(str(again), data)
    back = read_model_file(str(again))
    assert state_dict_fingerprint(back["temporal"]["model"]) == state_dict_fingerprint(data["temporal"]["model"])
    assert "two_stage" in describe(back) and "resnet18" in describe(back)


def _write(tmp_path, data, name="x.pth"):
    p = tmp_path / name
    atomic_torch_save(data, str(p))
    return str(p)


def test_wrong_format_version_and_fields(model, tmp_path):
    _, data = model
    ckpt = _write(tmp_path, {"model": {"w": torch.zeros(1)}, "config": {}})
    with pytest.raises(ModelFileError, match="training checkpoint of one stage"):
        read_model_file(ckpt)
    with pytest.raises(ModelFileError, match="'format' is 'something'"):
        read_model_file(_write(tmp_path, {**data, "format": "something"}))
    with pytest.raises(ModelFileError, match="format_version 2 .*newer version"):
        read_model_file(_write(tmp_path, {**data, "format_version": 2}))
    with pytest.raises(ModelFileError, match="unknown pipeline mode 'one_stage'"):
        validate_model_file({**data, "mode": "one_stage"}, "m.pth")
    broken = copy.deepcopy(data)
    del broken["temporal"]["clip_seconds"]
    with pytest.raises(ModelFileError, match="m.pth: model file field 'temporal.clip_seconds': missing"):
        validate_model_file(broken, "m.pth")
    broken = copy.deepcopy(data)
    broken["matcher"]["model"] = {}
    with pytest.raises(ModelFileError, match="'matcher.model': empty state dict"):
        validate_model_file(broken, "m.pth")
    broken = copy.deepcopy(data)
    broken["features"]["backbone"]["weights"] = "downloaded"
    with pytest.raises(ModelFileError, match="features.backbone.weights"):
        validate_model_file(broken, "m.pth")
    with pytest.raises(FileNotFoundError):
        read_model_file(str(tmp_path / "nope.pth"))


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_objects_are_refused(tmp_path, capsys):
    p = tmp_path / "evil.pth"
    torch.save({"format": "stvg-model", "x": Evil()}, str(p))
    with pytest.raises(ModelFileError, match="refused"):
        read_model_file(str(p))
    assert "must never run" not in capsys.readouterr().out


def test_unknown_config_key_is_named(model, tmp_path):
    _, data = model
    bad = copy.deepcopy(data)
    bad["temporal"]["config"]["MODEL"]["FEAT_DIMS"] = 3
    with pytest.raises(ModelFileError, match="temporal.config.*FEAT_DIMS"):
        STVGPredictor(bad, "m.pth", device="cpu")


def test_stages_that_disagree_are_refused(model, tmp_path):
    _, data = model
    bad = copy.deepcopy(data)
    bad["matcher"]["config"]["MODEL"]["NUM_SEGMENTS"] = 8
    with pytest.raises(ModelFileError, match="NUM_SEGMENTS is 8 but features.config.ROI.NUM_SEGMENTS is 4"):
        STVGPredictor(bad, "m.pth", device="cpu")
    bad = copy.deepcopy(data)
    bad["features"]["config"]["BACKBONE"]["NAME"] = "resnet50"
    with pytest.raises(ModelFileError, match="FEAT_DIM is 512 but the backbone resnet50 .* 2048"):
        STVGPredictor(bad, "m.pth", device="cpu")
    with pytest.raises(ModelFileError, match="FEAT_DIM is 256"):
        build_model_file(tmp_path, tcfg=temporal_cfg(FEAT_DIM=256))
    bad = copy.deepcopy(data)
    bad["temporal"]["text_encoder"]["name"] = "another-encoder"
    with pytest.raises(ModelFileError, match="temporal.text_encoder.name 'another-encoder' differs"):
        STVGPredictor(bad, "m.pth", device="cpu")
    bad = copy.deepcopy(data)
    bad["temporal"]["text_encoder_stored"] = False
    bad["temporal"]["text_encoder"]["fingerprint"] = "0" * 16
    with pytest.raises(ModelFileError, match="randomly initialised encoder cannot be rebuilt"):
        STVGPredictor(bad, "m.pth", device="cpu")


def test_backbone_rebuilt_by_seed_must_match_its_fingerprint(model):
    _, data = model
    bad = copy.deepcopy(data)
    bad["features"]["backbone"]["fingerprint"] = "f" * 16
    with pytest.raises(ModelFileError, match="--store-backbone"):
        STVGPredictor(bad, "m.pth", device="cpu")


def test_stored_backbone_in_float16(tmp_path):
    path = build_model_file(tmp_path, store_backbone=True, dtype=torch.float16)
    data = read_model_file(path)
    bb = data["features"]["backbone"]
    assert bb["weights"] == "stored" and bb["state_dict"]["conv1.weight"].dtype == torch.float16
    assert data["temporal"]["model"]["featpool.conv.weight"].dtype == torch.float16
    pred = STVGPredictor.from_file(path, device="cpu")
    assert pred.extractor.backbone.model.conv1.weight.dtype == torch.float32


def test_frozen_pretrained_text_encoder_is_recorded_by_identity(tmp_path):
    mcfg = matcher_cfg(TEXT_ENCODER=OFFLINE, TOKENIZER="", TEXT_ENCODER_PRETRAINED=True, FREEZE_TEXT=True,
                       TEXT_CONFIG_OVERRIDES=None)
    path = build_model_file(tmp_path, mcfg=mcfg)
    data = read_model_file(path)
    m = data["matcher"]
    assert not m["text_encoder_stored"] and m["text_encoder"]["name"] == OFFLINE
    assert not any(k.startswith("text_encoder.encoder.") for k in m["model"])
    pred = STVGPredictor(data, path, device="cpu")
    assert pred.matcher.text_encoder.encoder.config.hidden_size == 384
    bad = copy.deepcopy(data)
    bad["matcher"]["text_encoder"]["fingerprint"] = "0" * 16
    with pytest.raises(ModelFileError, match="is not the one the model was made with"):
        STVGPredictor(bad, path, device="cpu")


def test_features_overrides_only_run(model):
    path, _ = model
    pred = STVGPredictor.from_file(path, device="cpu", features=["RUN.BATCH_SIZE", "8"],
                                   join={"TUBE_COVERAGE": "cut"}, spatial=["DETECTION.STRIDE", "3"])
    assert pred.configs.features.RUN.BATCH_SIZE == 8 and pred.join.TUBE_COVERAGE == "cut"
    assert pred.spatial_cfg.DETECTION.STRIDE == 3 and pred.spatial_cfg.DETECTOR.DEVICE == "cpu"
    with pytest.raises(Exception, match="only RUN"):
        STVGPredictor.from_file(path, device="cpu", features=["INPUT.SAMPLE_FPS", "2"])
    with pytest.raises(Exception, match="unknown predictor override"):
        STVGPredictor.from_file(path, device="cpu", temporal=["MODEL.HIDDEN", "3"])


def test_fine_tuned_pretrained_encoders_are_stored_and_rebuilt_offline(tmp_path):
    from spatial.matcher import build_matcher
    from stvg.checkpoint import checkpoint_record
    from stvg.pipeline import assemble_model_file
    from temporal.model import MMN
    from tests.test_pipeline_tiny import spatial_cfg

    tcfg = temporal_cfg(TEXT_ENCODER=OFFLINE, TOKENIZER="", TEXT_ENCODER_PRETRAINED=True, TEXT_CONFIG_OVERRIDES=None)
    mcfg = matcher_cfg(TEXT_ENCODER=OFFLINE, TOKENIZER="", TEXT_ENCODER_PRETRAINED=True, FREEZE_TEXT=False,
                       TEXT_CONFIG_OVERRIDES=None)
    mmn, matcher = MMN(tcfg.MODEL), build_matcher(mcfg)
    with torch.no_grad():  # "fine-tuning": one weight of each encoder moves
        mmn.text_encoder.encoder.embeddings.word_embeddings.weight[5] += 1.0
        matcher.text_encoder.encoder.embeddings.word_embeddings.weight[7] += 1.0
    atomic_torch_save(checkpoint_record(mmn, tcfg.to_dict()), str(tmp_path / "t.pth"))
    atomic_torch_save(checkpoint_record(matcher, mcfg.to_dict()), str(tmp_path / "m.pth"))
    data = assemble_model_file(str(tmp_path / "t.pth"), str(tmp_path / "m.pth"), features_cfg(), spatial_cfg(),
                               clip_seconds=20.0)
    for part in ("temporal", "matcher"):
        assert data[part]["text_encoder_stored"] and data[part]["text_encoder"]["config"]["hidden_size"] == 384
    pred = STVGPredictor(data, "m.pth", device="cpu")
    assert torch.equal(pred.mmn.text_encoder.encoder.embeddings.word_embeddings.weight,
                       mmn.text_encoder.encoder.embeddings.word_embeddings.weight)
    assert torch.equal(pred.matcher.text_encoder.encoder.embeddings.word_embeddings.weight,
                       matcher.text_encoder.encoder.embeddings.word_embeddings.weight)
    assert len(pred.matcher.tokenizer) == 30522


def test_parts_of_each_mode(model, tmp_path):
    """A tube_mmn file holding a matcher part, or a two_stage one without, is refused naming the field."""
    from tests.test_pipeline_tube_mmn import build_tube_model_file

    _, data = model
    broken = copy.deepcopy(data)
    del broken["matcher"]
    with pytest.raises(ModelFileError, match="m.pth: model file field 'matcher': missing .mode two_stage needs"):
        validate_model_file(broken, "m.pth")
    tube = read_model_file(build_tube_model_file(tmp_path))
    assert tube["mode"] == "tube_mmn" and "clip_seconds" not in tube["temporal"]
    validate_model_file(tube, "t.pth")
    with pytest.raises(ModelFileError, match="t.pth: model file field 'matcher': a tube_mmn model file holds no "
                                             "matcher part"):
        validate_model_file({**tube, "matcher": data["matcher"]}, "t.pth")
    bad = copy.deepcopy(tube)
    bad["temporal"]["clip_seconds"] = -1.0
    with pytest.raises(ModelFileError, match="temporal.clip_seconds.*must be > 0"):
        validate_model_file(bad, "t.pth")
    # the mode and the temporal model's MODEL.MODE must agree
    with pytest.raises(ModelFileError, match="MODEL.MODE is 'moment' but the model file's mode tube_mmn needs"):
        STVGPredictor(_without(data, "matcher", mode="tube_mmn"), "m.pth", device="cpu")
    with pytest.raises(ModelFileError, match="MODEL.MODE is 'tube' but the model file's mode two_stage needs"):
        STVGPredictor({**copy.deepcopy(tube), "mode": "two_stage", "matcher": data["matcher"],
                       "temporal": {**tube["temporal"], "clip_seconds": 4.0}}, "t.pth", device="cpu")
    bad = copy.deepcopy(tube)
    bad["join"]["TUBE_COVERAGE"] = "cut"
    with pytest.raises(Exception, match="TUBE_COVERAGE = 'cut' has no effect in mode tube_mmn"):
        STVGPredictor(bad, "t.pth", device="cpu")


def _without(data, part, **changes):
    out = {k: v for k, v in copy.deepcopy(data).items() if k != part}
    out.update(changes)
    return out
