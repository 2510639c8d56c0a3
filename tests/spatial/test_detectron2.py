"""detectron2 backend with random weights (plumbing); skipped when detectron2 is not installed
(install it for development with tools/setup_detectron2.sh)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("detectron2", reason="detectron2 not installed (tools/setup_detectron2.sh)")

from spatial.detectors import build_detector  # noqa: E402

ZOO = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"


def test_detectron2_zoo_config_random_weights(pedestrian_image):
    torch.manual_seed(0)
    det = build_detector("detectron2", config=ZOO, weights=None, score_threshold=0.0, top_k=4,
                         min_size=96, max_size=128, batch_size=2, device="cpu")
    assert det.cfg.MODEL.DEVICE == "cpu" and det.cfg.INPUT.MIN_SIZE_TEST == 96
    frames = np.stack([pedestrian_image] * 3)
    out = det(frames, [3, 6, 9])
    assert [d.frame for d in out] == [3, 6, 9]
    h, w = pedestrian_image.shape[:2]
    for d in out:
        assert len(d) <= 4
        assert (d.boxes >= 0).all() and (d.boxes[:, 2] <= w).all() and (d.boxes[:, 3] <= h).all()
    assert det.setting()["config"] == ZOO


def test_detectron2_config_file_and_errors(tmp_path):
    from detectron2 import model_zoo
    path = model_zoo.get_config_file(ZOO)
    det = build_detector("detectron2", config=path, weights=None, min_size=64, max_size=96, device="cpu")
    assert len(det(np.zeros((1, 64, 80, 3), np.uint8))) == 1
    with pytest.raises(ValueError, match="model-zoo config name"):
        build_detector("detectron2", config=path, weights="model_zoo", device="cpu")
    with pytest.raises(FileNotFoundError, match="neither a file nor a model-zoo"):
        build_detector("detectron2", config="COCO-Detection/nope.yaml", weights=None, device="cpu")
