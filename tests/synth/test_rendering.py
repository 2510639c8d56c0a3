"""Figure boxes against the drawn pixels, timelines, and the HOG detector finding a rendered person."""
import json

import numpy as np
import pytest
import torch

from stvg.data.synthetic.detectability import match_frame
from spatial.detectors import build_detector
from stvg.ops import box_iou

from stvg.data.synthetic import load_synth_config, render_video, sample_video
from stvg.data.synthetic.actions import ACTIONS, motion_direction, person_states, sample_timeline
from stvg.data.synthetic.figure import Pose, draw_primitives, figure_primitives, primitives_box
from stvg.data.synthetic.palette import sample_appearance
from stvg.video import VideoReader

POSES = [Pose(), Pose(heading=0.6, thigh=(0.35, -0.35), knee=(0.1, 0.5), arm=(-0.3, 0.3), elbow=(0.3, 0.2)),
         Pose(heading=-0.5, thigh=(1.15, 1.05), knee=(1.8, 1.7), arm=(0.8, 0.7), lean=0.35),
         Pose(heading=0.5, arm=(0.05, 2.8), elbow=(0.15, 0.6)), Pose(heading=-0.8, lift=0.2, arm=(1.2, 1.1))]


@pytest.mark.parametrize("k", range(len(POSES)))
def test_box_is_the_extent_of_the_drawn_pixels(k):
    """Reference: the bounding box of every pixel the drawing visibly changed (anti-aliasing
    fringes fainter than about 20% ignored)."""
    rng = np.random.default_rng(k)
    app = sample_appearance(rng, (0.45, 0.45))
    img = np.full((300, 300, 3), 128, np.uint8)
    prims = figure_primitives(app, POSES[k], 150.3, 260.7, 180.0)
    draw_primitives(img, prims)
    ys, xs = np.nonzero(np.abs(img.astype(int) - 128).max(axis=2) > 24)
    drawn = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    np.testing.assert_allclose(primitives_box(prims), drawn, atol=1.6)


def test_timelines_are_back_to_back_and_change_motion():
    rng = np.random.default_rng(0)
    for _ in range(40):
        tr = sample_timeline(rng, 80, 10.0, 480, 120.0, 230.0, enter_prob=0.3, leave_prob=0.2)
        assert tr.spans[0].start == 0 and all(a.end == b.start for a, b in zip(tr.spans, tr.spans[1:]))
        assert all(s.action in ACTIONS and s.end > s.start for s in tr.spans)
        assert tr.spans[-1].end == 80 or tr.spans[-1].action == "leave"
        for a, b in zip(tr.spans, tr.spans[1:]):
            assert a.action != b.action
            assert not (motion_direction(a) and motion_direction(a) == motion_direction(b))
        m = person_states(tr, 80, 10.0)
        present = np.array([p is not None for p in m.poses])
        assert present[:tr.spans[-1].end].all()


def test_hog_finds_a_rendered_person():
    rng = np.random.default_rng(1)
    img = np.full((270, 480, 3), (150, 160, 140), np.uint8)
    img[180:] = (110, 100, 95)
    app = sample_appearance(rng, (0.45, 0.45))
    prims = figure_primitives(app, Pose(heading=0.5, thigh=(0.06, -0.06), knee=(0.04, 0.04),
                                        arm=(0.06, -0.06), elbow=(0.15, 0.15)), 240.0, 240.0, 125.0)
    draw_primitives(img, prims)
    box = primitives_box(prims)
    dets = build_detector("hog")(img[None])[0].boxes.double().numpy()
    assert len(dets) >= 1
    assert box_iou(torch.from_numpy(dets), torch.as_tensor(box[None], dtype=torch.float64)).max() >= 0.5
    s = match_frame(dets, box[None], np.array([True]))
    assert s.found == 1 and s.false_positives == 0


def test_hog_finds_people_in_a_generated_video(tiny_dataset):
    tubes = json.load(open(tiny_dataset / "all_tubes.json"))
    found = visible = 0
    # the tiny clips are 180 px tall: people of 60-90 px need upscaling to reach HOG's ~96 px
    hog = build_detector("hog", upscale=1.6)
    for vid, e in tubes.items():
        r = VideoReader(str(tiny_dataset / "videos" / vid))
        idx = list(range(0, e["img_num"], 5))
        for f, img in zip(idx, r.get_frames(idx)):
            pids = [p for p, t in e["people"].items() if str(f + 1) in t["bbox"]]
            boxes = np.array([e["people"][p]["bbox"][str(f + 1)] for p in pids]).reshape(-1, 4)
            fv = np.array([f + 1 in e["people"][p]["fully_visible"] for p in pids], bool)
            s = match_frame(hog(img[None])[0].boxes.double().numpy(), boxes, fv)
            found, visible = found + s.found, visible + s.visible
    assert visible > 0 and found / visible >= 0.5


def test_rendering_is_deterministic_and_leaves_annotations_alone():
    cfg = load_synth_config(None, ["VIDEO.DURATION", "2", "VIDEO.WIDTH", "160", "VIDEO.HEIGHT", "120"])
    a, b = sample_video(cfg, 0, 0), sample_video(cfg, 0, 0)
    fa, fb = render_video(a), render_video(b)
    assert fa.shape == (20, 120, 160, 3) and fa.dtype == np.uint8
    np.testing.assert_array_equal(fa, fb)
    np.testing.assert_array_equal(a.tube_frames, b.tube_frames)
