"""Join option SPAN_MODE runs: each tube's span-head run as the candidates (stvg.join.join_runs and the
pipeline's inputs to it), against hand-worked cases and a slow loop over the moment-map cells."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from stvg.config import ConfigError
from stvg.join import join_config, join_runs

from tests.test_pipeline_join import box_tube
from tests.test_pipeline_tiny import annotations, build_model_file, matcher_cfg, synth_clips  # noqa: F401


def test_join_runs_scores_and_orders_each_tube_with_its_run():
    tubes = [box_tube(0, 50), box_tube(30, 39, x=100), box_tube(60, 70)]
    runs = torch.tensor([[10, 19], [28, 39], [0, 5]])
    values, matcher, mmn = torch.tensor([0.5, 0.6, 0.9]), torch.tensor([0.4, 0.5, 0.9]), torch.tensor([0.2, 0.8, 1.0])
    pairs = join_runs(runs, values, matcher, mmn, tubes, join_config({"SPAN_MODE": "runs"}))
    # 0.5 * 0.4 = 0.2; 0.6 * 0.5 = 0.3; tube 2 has no box in its run: dropped
    assert [p.tube_index for p in pairs] == [1, 0] and [p.moment for p in pairs] == [-1, -1]
    assert [p.score for p in pairs] == pytest.approx([0.3, 0.2])
    assert (pairs[0].first, pairs[0].last) == (28, 39) and pairs[0].coverage == pytest.approx(10 / 12)
    assert pairs[0].tube.frames.tolist() == list(range(28, 40))        # keep: nearest box held
    cut = join_runs(runs, values, matcher, mmn, tubes, join_config({"SPAN_MODE": "runs", "TUBE_COVERAGE": "cut"}))
    assert (cut[0].first, cut[0].last) == (30, 39)
    alone = join_runs(runs, values, matcher, mmn, tubes,
                      join_config({"SPAN_MODE": "runs", "SPAN_MATCHER_POW": 0, "SPAN_MOMENT_POW": 1}))
    assert [p.score for p in alone] == pytest.approx([0.48, 0.1])     # value x MMN
    assert len(join_runs(runs, values, matcher, mmn, tubes, join_config({"SPAN_MODE": "runs"}), top_k=1)) == 1
    with pytest.raises(ValueError, match="3 tubes, 2 runs"):
        join_runs(runs[:2], values, matcher, mmn, tubes, join_config())
    for bad in ({"SPAN_MODE": "spans"}, {"SPAN_MATCHER_POW": -1}, {"SPAN_MOMENT_POW": -0.5}):
        with pytest.raises(ConfigError):
            join_config(bad)


def test_runs_mode_needs_a_span_head(tmp_path):
    from stvg.pipeline import STVGPredictor

    plain = build_model_file(tmp_path / "a", join={"SPAN_MODE": "runs"})
    with pytest.raises(ConfigError, match="SPAN_MODE runs needs a matcher with a span head"):
        STVGPredictor.from_file(plain, device="cpu")


def _slow_mmn_of_run(res, a, b):
    """MMN's score of the cell (any window) of highest temporal IoU with frames a..b, by a loop."""
    s, e = a / res.fps, (b + 1) / res.fps
    g = res.score_mask.shape[0]
    best, score = -1.0, None
    for wi, (ws, we) in enumerate(res.windows):
        step = (we - ws) / g
        for i in range(g):
            for j in range(g):
                if not bool(res.score_mask[i, j]):
                    continue
                cs, ce = ws + i * step, ws + (j + 1) * step
                iou = max(0.0, min(e, ce) - max(s, cs)) / (max(e, ce) - min(s, cs))
                if iou > best + 1e-12:
                    best, score = iou, float(res.score_map[wi, i, j])
    return score


def test_runs_mode_end_to_end(tmp_path, synth_clips):
    from stvg.pipeline import STVGPredictor
    from stvg.tube_geometry import tube_layout

    model = build_model_file(tmp_path, join={"SPAN_MODE": "runs"}, mcfg=matcher_cfg(SPAN_HEAD=True, SPAN_HEADS=2))
    pred = STVGPredictor.from_file(model, device="cpu")
    ann = annotations(synth_clips)
    vid, entry = next(iter(ann.items()))
    prep = pred.prepare(str(synth_clips / "videos" / vid))
    assert prep.tubes
    queries = [entry["caption"], "a person waves"]
    results = pred.ground(prep, queries, top_k=3)
    m = pred.matcher
    layout = tube_layout(prep.tubes, prep.frame_indices, m.num_segments, prep.width, prep.height, prep.num_frames)
    roi = torch.from_numpy(np.ascontiguousarray(prep.roi_features))
    frames, values = m.span_answers(m.encode_tokens(queries), roi, layout)
    sent = m.encode_sentences(queries)
    for qi, res in enumerate(results):
        assert res.reason is None and res.tube_index >= 0
        j = res.tube_index
        a, b = (int(x) for x in frames[qi, j])
        tube = prep.tubes[j]
        assert res.frames == (a, b) and res.tube.frames.tolist() == list(range(a, b + 1))
        assert tube.start_frame <= a <= b <= tube.end_frame           # a run lies inside its tube
        t = float(m.score_layout(sent[qi:qi + 1], roi, layout, window=(a, b))[0, j])
        assert res.matcher_score == pytest.approx(t, abs=1e-5)
        assert res.mmn_score == pytest.approx(_slow_mmn_of_run(res, a, b), abs=1e-6)
        assert res.score == pytest.approx(float(values[qi, j]) * max(t, 0.0), rel=1e-5)
        # the answer is the best of all tubes' runs; the alternatives follow in order
        scores = [res.score] + [alt.score for alt in res.alternatives]
        assert scores == sorted(scores, reverse=True)
        assert all(alt.moment == -1 for alt in res.alternatives)
