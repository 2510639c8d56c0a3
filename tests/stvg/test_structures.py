import math

import numpy as np
import pytest
import torch

from stvg.structures import Detections, Segment, Tube


def test_segment_validates_and_measures():
    s = Segment(1, 3.5)
    assert s.duration == 2.5 and isinstance(s.start, float)
    assert s.iou(Segment(2.5, 4.5)) == pytest.approx(1 / 3.5)
    assert s.iou(Segment(3.5, 5)) == 0.0  # touching, half-open
    with pytest.raises(ValueError, match="after end"):
        Segment(2, 1)
    with pytest.raises(ValueError, match="finite"):
        Segment(0, math.inf)


def test_segment_to_frames_half_open():
    # frame f covers [f/10, (f+1)/10): [0.5, 1.0) holds frames 5..9
    assert Segment(0.5, 1.0).to_frames(10) == (5, 9)
    assert Segment(0.55, 1.01).to_frames(10) == (6, 10)
    assert Segment(0.0, 100.0).to_frames(10, num_frames=30) == (0, 29)


def test_tube_valid_and_derived():
    t = Tube([3, 4, 6], [[0, 0, 2, 2]] * 3, scores=[0.1, 0.2, 0.3], score=0.5)
    assert t.frames.dtype == torch.int64 and t.boxes.dtype == torch.float32
    assert (t.start_frame, t.end_frame, len(t)) == (3, 6, 3)
    assert not t.is_dense()
    assert t.segment(fps=2.0) == Segment(1.5, 3.5)
    c = t.crop(4, 10)
    assert c.frames.tolist() == [4, 6] and c.scores.tolist() == pytest.approx([0.2, 0.3])
    assert t == Tube(np.array([3, 4, 6]), np.array([[0, 0, 2, 2]] * 3, dtype=np.float64),
                     scores=[0.1, 0.2, 0.3], score=0.5)


@pytest.mark.parametrize("frames,boxes,match", [
    ([0, 2, 1], [[0, 0, 1, 1]] * 3, "strictly increasing"),
    ([0, 0], [[0, 0, 1, 1]] * 2, "strictly increasing"),
    ([0, 1], [[0, 0, 1, 1]], "2 frames but 1 boxes"),
    ([0], [[0, 0, 1]], r"shape \[N, 4\]"),
    ([0], [[0, 0, float("nan"), 1]], "non-finite"),
    ([0], [[5, 0, 1, 1]], "x2 < x1"),
    ([-1], [[0, 0, 1, 1]], "negative frame"),
    ([0.5], [[0, 0, 1, 1]], "non-integral"),
])
def test_tube_rejects_bad_input(frames, boxes, match):
    with pytest.raises(ValueError, match=match):
        Tube(frames, boxes)


def test_tube_scores_checked():
    with pytest.raises(ValueError, match="scores"):
        Tube([0, 1], [[0, 0, 1, 1]] * 2, scores=[1.0])
    with pytest.raises(ValueError, match="non-finite tube score"):
        Tube([0], [[0, 0, 1, 1]], score=float("inf"))


def test_detections():
    d = Detections([[0, 0, 10, 10], [5, 5, 6, 7]], [0.9, 0.1], frame=4)
    assert len(d) == 2 and d.frame == 4
    assert len(d.filter(d.scores > 0.5)) == 1
    e = Detections.empty(frame=2)
    assert e.boxes.shape == (0, 4) and len(e) == 0
    assert Detections([], []).boxes.shape == (0, 4)
    with pytest.raises(ValueError, match="2 boxes but 1 scores"):
        Detections([[0, 0, 1, 1]] * 2, [1.0])
    with pytest.raises(ValueError, match="frame"):
        Detections([[0, 0, 1, 1]], [1.0], frame=-2)
