"""Inputs that used to give silent wrong answers or bare library errors (hardening issue)."""
import logging
import urllib.error

import pytest


def test_sampling_above_the_source_fps_warns(caplog):
    from stvg.video import sample_indices

    with caplog.at_level(logging.WARNING, logger="stvg.video"):
        idx = sample_indices(50, 10.0, 25.0)
    assert idx.tolist() == list(range(50))
    assert "25 fps asked for, but the video has only 10 fps" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="stvg.video"):
        sample_indices(50, 10.0, 5.0)
    assert caplog.text == ""


def test_a_text_file_as_features_names_the_file(tmp_path):
    from temporal.data.features import FeatureError, FeatureStore

    bad = tmp_path / "feats.h5"
    bad.write_text("not hdf5")
    with pytest.raises(FeatureError, match=r"feats.h5: cannot open the feature file as HDF5"):
        FeatureStore(str(bad)).file


def test_backbone_weights_offline_name_the_weights_and_the_fix(monkeypatch):
    import torchvision.models

    from stvg.backbones import build_backbone

    def offline(*a, **k):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models, "get_model", offline)
    with pytest.raises(OSError, match=r"backbone resnet18 with weights .*IMAGENET1K_V1.*BACKBONE.WEIGHTS none"):
        build_backbone("resnet18", "IMAGENET1K_V1")


def test_extraction_of_only_broken_videos_leaves_no_output(tmp_path):
    from tools import extract_features

    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.mp4").write_text("not a video")
    out = tmp_path / "f.h5"
    assert extract_features.main(["--videos", str(tmp_path / "v"), "--out", str(out), "--no-progress",
                                  "BACKBONE.WEIGHTS", "none"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.h5.failures.json", "v"]


def test_model_files_record_no_machine_paths(tmp_path, monkeypatch):
    import pathlib

    from stvg.model_file import portable

    monkeypatch.chdir(tmp_path)
    inside, outside = str(tmp_path / "runs" / "best.pth"), "/somewhere/else.pth"
    assert portable({"a": [inside, outside], "b": "rel/x", "c": 3}) == \
        {"a": [str(pathlib.Path("runs") / "best.pth"), outside], "b": "rel/x", "c": 3}
    repo = pathlib.Path(__file__).resolve().parents[2]
    for name in ("stvg_synthetic.pth", "stvg_synthetic_tube_mmn.pth"):
        assert str(repo.parent) + "/" not in (repo / "models" / name).read_bytes().decode("latin-1")
