"""The join of the stages (stvg.join) against hand-worked cases."""
import math

import pytest
import torch

from stvg.config import ConfigError
from stvg.join import JOIN_DEFAULTS, coverage, fill_tube, join_config, join_pairs
from stvg.structures import Tube


def box_tube(first, last, x=0.0):
    n = last - first + 1
    boxes = torch.tensor([[x + f, 0.0, x + f + 10.0, 20.0] for f in range(first, last + 1)])
    return Tube(torch.arange(first, last + 1), boxes.reshape(n, 4))


def test_product_picks_the_pair_with_the_best_product():
    moments = torch.tensor([[10, 19], [30, 39]])
    scores = torch.tensor([0.9, 0.5])
    tubes = [box_tube(0, 50), box_tube(30, 39, x=100)]
    matcher = torch.tensor([[0.2, 0.0], [0.1, 0.9]])
    pairs = join_pairs(moments, scores, tubes, matcher, join_config())
    # A0 = 0.9 * 0.2 = 0.18; A1 has no box in 10..19 (dropped); B0 = 0.05; B1 = 0.45
    assert [(p.moment, p.tube_index) for p in pairs] == [(1, 1), (0, 0), (1, 0)]
    assert [p.score for p in pairs] == pytest.approx([0.45, 0.18, 0.05])
    best = pairs[0]
    assert (best.first, best.last) == (30, 39) and best.coverage == 1.0
    assert best.tube == fill_tube(tubes[1], 30, 39)
    assert best.mmn_score == pytest.approx(0.5) and best.matcher_score == pytest.approx(0.9)


def test_temporal_first_ranks_moment_by_moment():
    moments = torch.tensor([[10, 19], [30, 39]])
    tubes = [box_tube(0, 50), box_tube(30, 39, x=100)]
    matcher = torch.tensor([[0.2, 0.0], [0.1, 0.9]])
    pairs = join_pairs(moments, torch.tensor([0.9, 0.5]), tubes, matcher,
                       join_config({"PAIR_SCORE": "temporal_first"}))
    assert [(p.moment, p.tube_index) for p in pairs] == [(0, 0), (1, 1), (1, 0)]
    assert pairs[0].score == pytest.approx(0.18)  # the score stays the product


def test_keep_holds_the_nearest_box_and_cut_cuts_the_interval():
    tube = box_tube(15, 30)
    moments, scores, matcher = torch.tensor([[10, 19]]), torch.tensor([1.0]), torch.tensor([[0.8]])
    keep = join_pairs(moments, scores, [tube], matcher, join_config())[0]
    assert (keep.first, keep.last) == (10, 19) and keep.coverage == pytest.approx(0.5)
    assert keep.tube.frames.tolist() == list(range(10, 20))
    first_box = tube.boxes[0]
    for f in range(10, 15):  # before the tube starts: its first box held
        assert torch.equal(keep.tube.boxes[f - 10], first_box)
    assert torch.equal(keep.tube.boxes[5:], tube.boxes[:5])
    assert keep.score == pytest.approx(1.0 * 0.8 * 0.5)
    cut = join_pairs(moments, scores, [tube], matcher, join_config({"TUBE_COVERAGE": "cut"}))[0]
    assert (cut.first, cut.last) == (15, 19)
    assert torch.equal(cut.tube.boxes, tube.boxes[:5]) and cut.tube.frames.tolist() == list(range(15, 20))


def test_coverage_power_zero_ignores_coverage():
    tubes = [box_tube(0, 9), box_tube(5, 6, x=50)]   # covers all / 2 of 10 frames
    moments, scores = torch.tensor([[0, 9]]), torch.tensor([1.0])
    matcher = torch.tensor([[0.5, 0.6]])
    assert join_pairs(moments, scores, tubes, matcher, join_config())[0].tube_index == 0  # 0.5 vs 0.12
    assert join_pairs(moments, scores, tubes, matcher,
                      join_config({"COVERAGE_POW": 0.0}))[0].tube_index == 1      # 0.5 vs 0.6


def test_moment_power_by_hand():
    tubes = [box_tube(0, 9), box_tube(0, 9, x=50)]
    moments, scores = torch.tensor([[0, 4], [5, 9]]), torch.tensor([0.8, 0.4])
    matcher = torch.tensor([[0.5, 0.1], [0.1, 0.9]])       # coverage 1 everywhere
    first = lambda opts: join_pairs(moments, scores, tubes, matcher, join_config(opts))[0]
    assert (first({}).moment, first({}).score) == (0, pytest.approx(0.8 * 0.5))        # 0.40 vs 0.36
    half = first({"MOMENT_POW": 0.5})
    assert (half.moment, half.tube_index) == (1, 1) and half.score == pytest.approx(0.4 ** 0.5 * 0.9)
    alone = join_pairs(moments, scores, tubes, matcher, join_config({"MOMENT_POW": 0.0}))
    assert [p.score for p in alone] == pytest.approx([0.9, 0.5, 0.1, 0.1])
    with pytest.raises(ConfigError, match="MOMENT_POW"):
        join_config({"MOMENT_POW": -1.0})


def test_softmax_normalisation_by_hand():
    tubes = [box_tube(0, 9), box_tube(0, 9, x=50)]
    pairs = join_pairs(torch.tensor([[0, 9]]), torch.tensor([0.5]), tubes, torch.tensor([[1.0, 0.0]]),
                       join_config({"MATCHER_NORM": "softmax", "MATCHER_TEMPERATURE": 1.0}))
    e = math.e
    assert [p.score for p in pairs] == pytest.approx([0.5 * e / (e + 1), 0.5 / (e + 1)])


def test_negative_raw_scores_are_clamped_to_zero():
    tubes = [box_tube(0, 9)]
    pairs = join_pairs(torch.tensor([[0, 9]]), torch.tensor([0.7]), tubes, torch.tensor([[-0.4]]), join_config())
    assert pairs[0].score == 0.0 and pairs[0].matcher_score == pytest.approx(-0.4)


def test_cut_answers_that_repeat_are_dropped_and_top_k():
    tube = box_tube(15, 30)
    moments = torch.tensor([[10, 19], [12, 19], [40, 45]])
    pairs = join_pairs(moments, torch.tensor([0.9, 0.8, 0.7]), [tube], torch.ones(3, 1),
                       join_config({"TUBE_COVERAGE": "cut"}))
    # moment 0: 0.9 * 5/10 = 0.45; moment 1: 0.8 * 5/8 = 0.5, same cut answer; moment 2: no box inside
    assert [(p.moment, p.first, p.last) for p in pairs] == [(1, 15, 19)]
    two = join_pairs(moments, torch.tensor([0.9, 0.8, 0.7]), [tube], torch.ones(3, 1), join_config(), top_k=1)
    assert len(two) == 1


def test_no_tubes_or_no_moments_give_no_pairs_and_shapes_are_checked():
    assert join_pairs(torch.tensor([[0, 9]]), torch.tensor([1.0]), [], torch.zeros(1, 0), join_config()) == []
    assert join_pairs(torch.zeros(0, 2), torch.zeros(0), [box_tube(0, 3)], torch.zeros(0, 1), join_config()) == []
    with pytest.raises(ValueError, match="expected \\[1, 2\\]"):
        join_pairs(torch.tensor([[0, 9]]), torch.tensor([1.0]), [box_tube(0, 3), box_tube(0, 3)],
                   torch.zeros(2, 1), join_config())


def test_fill_tube_nearest_box_by_hand():
    tube = Tube([2, 6], [[0, 0, 1, 1], [5, 5, 6, 6]])
    filled = fill_tube(tube, 0, 8)
    got = [int(b[0]) for b in filled.boxes]
    assert filled.frames.tolist() == list(range(9))
    assert got == [0, 0, 0, 0, 0, 5, 5, 5, 5]  # frame 4 is equally far: the earlier box
    assert coverage(tube, 0, 8) == pytest.approx(2 / 9) and coverage(tube, 7, 8) == 0.0


def test_join_config_is_strict():
    assert join_config().to_dict() == JOIN_DEFAULTS
    with pytest.raises(ConfigError, match="TUBE_COVERGE"):
        join_config({"TUBE_COVERGE": "cut"})
    with pytest.raises(ConfigError, match="TUBE_COVERAGE must be one of keep, cut"):
        join_config({"TUBE_COVERAGE": "trim"})
    with pytest.raises(ConfigError, match="WINDOW_OVERLAP"):
        join_config(overrides=["WINDOW_OVERLAP", "1.0"])
