"""Person detectors: the shared post-processing, HOG on a real pedestrian image, torchvision with
random weights (plumbing), precomputed detections, the registry and bad inputs."""
from __future__ import annotations

import json
import sys

import cv2
import numpy as np
import pytest
import torch

from spatial.detectors import DETECTORS, PersonDetector, build_detector, finalize_frame
from stvg.ops import box_iou
from stvg.structures import Detections

from tests.conftest import requires_cuda

from .conftest import PEDESTRIANS


class _Fixed(PersonDetector):
    """Returns the same raw boxes on every frame (to test the base class)."""
    name = "fixed"

    def __init__(self, boxes, scores, **kw):
        super().__init__(**kw)
        self.boxes, self.scores, self.calls = np.asarray(boxes, float), np.asarray(scores, float), []

    def _detect_batch(self, frames, frame_indices, video_id):
        self.calls.append(len(frames))
        return [(self.boxes, self.scores) for _ in frames]


def test_finalize_frame_clips_drops_sorts_and_caps():
    boxes = [[-10, -5, 20, 30],    # 0.9: clipped to [0, 0, 20, 30]
             [5, 5, 15, 15],       # 0.2: under the threshold
             [np.nan, 0, 4, 4],    # 0.99: non-finite -> dropped and counted
             [50, 50, 80, 90],     # 0.8: below the frame (y1 50 > 48): no area after clipping
             [30, 20, 10, 40],     # 0.6: x1 > x2 -> reordered to [10, 20, 30, 40]
             [10, 10, 30, 30],     # 0.95
             [40, 0, 70, 10]]      # 0.55: clipped to [40, 0, 64, 10], cut by top-k
    scores = [0.9, 0.2, 0.99, 0.8, 0.6, 0.95, 0.55]
    det, dropped = finalize_frame(np.array(boxes), np.array(scores), width=64, height=48,
                                  score_threshold=0.5, top_k=3, frame=7)
    assert dropped == 1 and det.frame == 7
    torch.testing.assert_close(det.scores, torch.tensor([0.95, 0.9, 0.6]))
    torch.testing.assert_close(det.boxes, torch.tensor([[10., 10, 30, 30], [0, 0, 20, 30], [10, 20, 30, 40]]))
    det, _ = finalize_frame(np.array(boxes), np.array(scores), 64, 48, 0.5, 0, 7)  # no cap
    assert len(det) == 4
    empty, _ = finalize_frame(np.zeros((0, 4)), np.zeros(0), 64, 48, 0.5, 3, 1)
    assert len(empty) == 0 and empty.boxes.shape == (0, 4)


def test_base_batches_and_frame_indices():
    det = _Fixed([[1, 1, 10, 10]], [0.9], batch_size=3)
    out = det(np.zeros((7, 16, 16, 3), np.uint8), frame_indices=range(10, 17))
    assert det.calls == [3, 3, 1]
    assert [d.frame for d in out] == list(range(10, 17))
    assert all(isinstance(d, Detections) and len(d) == 1 for d in out)


@pytest.mark.parametrize("frames, err", [
    (np.zeros((2, 16, 16, 3), np.float32), "uint8"),
    (np.zeros((16, 16, 3), np.uint8), r"\[T, H, W, 3\]"),
    (np.zeros((2, 16, 16, 4), np.uint8), r"\[T, H, W, 3\]"),
    ([[1, 2]], "uint8 array"),
])
def test_bad_frames(frames, err):
    with pytest.raises((ValueError, TypeError), match=err):
        _Fixed([[1, 1, 4, 4]], [1.0])(frames)


def test_frame_indices_must_match():
    with pytest.raises(ValueError, match="2 frames but 3 frame indices"):
        _Fixed([[1, 1, 4, 4]], [1.0])(np.zeros((2, 8, 8, 3), np.uint8), [0, 1, 2])


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown detector 'yolo'"):
        build_detector("yolo")
    with pytest.raises(TypeError, match="'hog'.*upscael"):
        build_detector("hog", upscael=2.0)
    assert set(DETECTORS) >= {"hog", "torchvision", "detectron2", "precomputed"}


def _best_iou(found: torch.Tensor, truth: np.ndarray) -> np.ndarray:
    return box_iou(torch.from_numpy(truth), found.double()).max(1).values.numpy() if len(found) else np.zeros(len(truth))


def test_hog_detects_real_pedestrians(pedestrian_image):
    det = build_detector("hog", upscale=1.5)
    out = det(pedestrian_image[None])
    assert len(out) == 1 and out[0].frame == 0
    ious = _best_iou(out[0].boxes, PEDESTRIANS)
    assert (ious > 0.5).all(), f"HOG missed a person: IoUs {ious}, boxes {out[0].boxes.tolist()}"


def test_hog_upscale_finds_small_people(pedestrian_image):
    small = cv2.resize(pedestrian_image, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)  # 80 x 105
    assert len(build_detector("hog")(small[None])[0]) == 0  # smaller than the 64 x 128 window
    out = build_detector("hog", upscale=3.0)(small[None])[0]
    assert (_best_iou(out.boxes, PEDESTRIANS / 2) > 0.4).any(), out.boxes.tolist()
    assert out.boxes[:, 2].max() <= 80 and out.boxes[:, 3].max() <= 105  # original pixels


def test_hog_order_is_canonical_whatever_the_opencv_threads(pedestrian_image):
    """OpenCV's threads append windows in a run-dependent order; the backend sorts them (best
    first, ties by box), so one frame gives one list with 1 or 2 threads, run after run."""
    frame = np.concatenate([np.concatenate([pedestrian_image] * 3, 1)] * 2, 0)  # 6 copies, many windows
    det = build_detector("hog", upscale=1.5, score_threshold=-1.0)
    before = cv2.getNumThreads()
    try:
        runs = []
        for n in (1, 2, 2, 2):
            cv2.setNumThreads(n)
            runs.append(det._detect_one(frame))
    finally:
        cv2.setNumThreads(before)
    boxes, scores = runs[0]
    assert len(scores) >= 6
    assert (np.diff(scores) <= 0).all()
    for b, s in runs[1:]:
        np.testing.assert_array_equal(b, boxes)
        np.testing.assert_array_equal(s, scores)


def test_hog_without_hogdescriptor_says_why(monkeypatch):
    monkeypatch.delattr(cv2, "HOGDescriptor")  # OpenCV 5 has no HOG people detector
    with pytest.raises(ImportError, match="opencv-python-headless<5"):
        build_detector("hog")


def test_hog_blank_and_tiny_frames_are_empty():
    det = build_detector("hog")
    out = det(np.zeros((2, 40, 30, 3), np.uint8))
    assert [len(d) for d in out] == [0, 0]
    with pytest.raises(ValueError, match="upscale"):
        build_detector("hog", upscale=0)


@pytest.fixture(scope="module")
def tv_mobilenet():
    torch.manual_seed(0)
    return build_detector("torchvision", model="fasterrcnn_mobilenet_v3_large_fpn", weights=None,
                          score_threshold=0.0, top_k=5, min_size=96, max_size=128, device="cpu")


def test_torchvision_random_weights_plumbing(tv_mobilenet, make_video):
    from stvg.video import VideoReader
    frames = VideoReader(str(make_video(num_frames=3))).get_frames([0, 1, 2])
    out = tv_mobilenet(frames, [4, 5, 6])
    assert [d.frame for d in out] == [4, 5, 6]
    for d in out:
        assert len(d) <= 5
        assert (d.boxes[:, 2] <= 64).all() and (d.boxes[:, 3] <= 48).all() and (d.boxes >= 0).all()
        assert torch.all(d.scores[:-1] >= d.scores[1:])


def test_torchvision_fasterrcnn_v2_random_weights(pedestrian_image):
    torch.manual_seed(0)
    det = build_detector("torchvision", weights=None, score_threshold=0.0, top_k=3, min_size=64,
                         max_size=96, batch_size=2, device="cpu")
    assert det.setting()["model"] == "fasterrcnn_resnet50_fpn_v2"
    out = det(np.stack([pedestrian_image] * 3))
    assert len(out) == 3 and all(len(d) <= 3 for d in out)


def test_torchvision_local_weights_file(tv_mobilenet, tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"model": tv_mobilenet.net.state_dict()}, path)
    det = build_detector("torchvision", model="fasterrcnn_mobilenet_v3_large_fpn", weights=str(path),
                         score_threshold=0.0, min_size=96, max_size=128, device="cpu")
    for k, v in tv_mobilenet.net.state_dict().items():
        torch.testing.assert_close(det.net.state_dict()[k], v)
    assert det.setting()["weights"]["file"] == str(path)
    bad = tmp_path / "bad.pth"
    state = dict(tv_mobilenet.net.state_dict())
    state.pop(next(iter(state)))
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, bad)
    with pytest.raises(ValueError, match=r"(?s)1 missing key\(s\).*1 unexpected key\(s\): extra.weight"):
        build_detector("torchvision", model="fasterrcnn_mobilenet_v3_large_fpn", weights=str(bad), device="cpu")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        build_detector("torchvision", weights=str(tmp_path / "nope.pth"), device="cpu")
    with pytest.raises(ValueError, match="unknown model 'resnet9'"):
        build_detector("torchvision", model="resnet9", weights=None)


def _coco_files(tmp_path):
    images = {"images": [{"id": 1, "file_name": "vidA/00001.jpg", "width": 64, "height": 48},
                         {"id": 2, "file_name": "vidA/00003.jpg", "width": 64, "height": 48},
                         {"id": 3, "video_id": "vidB", "frame_id": 1, "width": 64, "height": 48}],
              "annotations": [], "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}]}
    results = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 30], "score": 0.9},
               {"image_id": 1, "category_id": 1, "bbox": [50, 40, 30, 30], "score": 0.6},
               {"image_id": 1, "category_id": 3, "bbox": [0, 0, 5, 5], "score": 0.99},
               {"image_id": 3, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.3}]
    (tmp_path / "images.json").write_text(json.dumps(images))
    (tmp_path / "res.json").write_text(json.dumps(results))
    return str(tmp_path / "res.json"), str(tmp_path / "images.json")


def test_precomputed_coco_results(tmp_path):
    res, imgs = _coco_files(tmp_path)
    det = build_detector("precomputed", coco_results=res, coco_images=imgs, frame_base=1)
    assert not det.needs_frames
    out = det(np.zeros((3, 48, 64, 3), np.uint8), [0, 1, 2], video_id="vidA")
    assert [len(d) for d in out] == [2, 0, 0]  # frame 2 (00003.jpg) has no person result
    torch.testing.assert_close(out[0].boxes, torch.tensor([[10., 10, 30, 40], [50, 40, 64, 48]]))  # clipped
    b = det(np.zeros((1, 48, 64, 3), np.uint8), [0], video_id="vidB")[0]
    torch.testing.assert_close(b.boxes, torch.tensor([[1., 2, 4, 6]]))
    with pytest.raises(KeyError, match="vidC"):
        det(np.zeros((1, 48, 64, 3), np.uint8), [0], video_id="vidC")
    with pytest.raises(ValueError, match="video_id"):
        det(np.zeros((1, 48, 64, 3), np.uint8), [0])


def test_precomputed_bad_sources(tmp_path):
    res, imgs = _coco_files(tmp_path)
    with pytest.raises(ValueError, match="either coco_results"):
        build_detector("precomputed")
    with pytest.raises(ValueError, match="needs coco_images"):
        build_detector("precomputed", coco_results=res)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_detector("precomputed", coco_results=str(tmp_path / "missing.json"), coco_images=imgs)
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ValueError, match="broken.json"):
        build_detector("precomputed", coco_results=str(tmp_path / "broken.json"), coco_images=imgs)


def test_detectron2_absent_gives_install_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "detectron2", None)  # import detectron2 -> ImportError
    with pytest.raises(ImportError, match="setup_detectron2.sh"):
        build_detector("detectron2", weights=None)


@requires_cuda
def test_torchvision_on_cuda_returns_cpu_detections(pedestrian_image):
    torch.manual_seed(0)
    det = build_detector("torchvision", model="fasterrcnn_mobilenet_v3_large_fpn", weights=None,
                         score_threshold=0.0, min_size=96, max_size=128, device="cuda")
    assert next(det.net.parameters()).device.type == "cuda"
    out = det(np.stack([pedestrian_image] * 2))
    assert all(d.boxes.device.type == "cpu" for d in out)
