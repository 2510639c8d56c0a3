"""Tube-MMN with box geometry (MODEL.TUBE_GEOMETRY) and RoI features of an earlier backbone stage in
stripes (ROI.STAGE, ROI.PARTS), through the real model-file path: the pipeline's maps against a slow
per-tube reference, and the model file's dimension checks."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stvg.model_file import ModelFileError, write_model_file
from tests.test_pipeline_tiny import annotations, features_cfg, spatial_cfg, synth_clips, temporal_cfg  # noqa: F401
from tests.test_pipeline_tube_mmn import reference_maps, save_tube_run

STRIPES = ("ROI.STAGE", "1", "ROI.PARTS", "2")      # resnet18 stage 1: 64 channels x 2 = 128


def _model_file(folder, feat_dim, geometry=True, name="geo.pth"):
    from stvg.pipeline import assemble_model_file

    tcfg = temporal_cfg(MODE="tube", FEAT_DIM=feat_dim, TUBE_GEOMETRY=geometry)
    data = assemble_model_file(str(save_tube_run(folder, tcfg)), None, features_cfg(*STRIPES), spatial_cfg(), None,
                               mode="tube_mmn")
    path = folder / name
    write_model_file(str(path), data)
    return str(path)


def test_geometry_maps_equal_a_per_tube_reference(tmp_path, synth_clips):  # noqa: F811
    from stvg.pipeline import STVGPredictor
    from stvg.tube_geometry import tube_layout
    from temporal.data.features import resample_features

    pred = STVGPredictor.from_file(_model_file(tmp_path, 128 + 9), device="cpu")
    vid, entry = next(iter(annotations(synth_clips).items()))
    prep = pred.prepare(str(synth_clips / "videos" / vid))
    assert prep.roi_features.shape[2] == 128 and len(prep.tubes) >= 2

    def rows(k, tube):   # RoI row (L2-normalised) then the tube's own geometry, resampled together
        geo = tube_layout([tube], prep.frame_indices, prep.roi_features.shape[1], prep.width, prep.height,
                          prep.num_frames).geometry[0]
        out = resample_features(torch.cat([F.normalize(torch.from_numpy(prep.roi_features[k]), dim=1), geo], 1),
                                int(pred.configs.temporal.MODEL.NUM_PRE_CLIPS))
        assert out.shape[1] == 137
        return out

    want = reference_maps(pred, prep, entry["caption"], rows)
    torch.testing.assert_close(pred._tube_maps(prep, [entry["caption"]])[0], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("feat_dim, geometry, match", [
    (128, True, r"128-d RoI features \(resnet18 stage 1 \(64 channels\) x 2 parts\) \+ 9 geometry values"),
    (137, False, r"MODEL.FEAT_DIM is 137 .* gives 128-d RoI features \(resnet18 stage 1"),
])
def test_model_file_checks_the_tube_input_width(tmp_path, feat_dim, geometry, match):
    from stvg.pipeline import STVGPredictor

    with pytest.raises(ModelFileError, match=match):
        STVGPredictor.from_file(_model_file(tmp_path, feat_dim, geometry), device="cpu")


def test_geometry_needs_tube_mode():
    from stvg.config import ConfigError

    with pytest.raises(ConfigError, match="TUBE_GEOMETRY needs MODEL.MODE tube"):
        temporal_cfg(TUBE_GEOMETRY=True)
