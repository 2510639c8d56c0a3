"""Tube matcher: geometry on the RoI-feature partition, window masking, loss vs a float64 loop,
padding invariance, bad inputs."""
from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from spatial.matcher import build_matcher, tube_geometry, tube_layout, window_mask
from spatial.matcher.data import collate, make_video, read_roi_group, span_viou
from spatial.matcher.evaluate import MatcherEvaluator
from spatial.matcher.loss import MatcherLoss
from stvg.features.clips import pool_segments
from stvg.features.extractor import tube_samples
from stvg.ops import tube_viou
from stvg.structures import Tube

from .test_matcher_helpers import C, S, planted_videos, random_tubes, tiny_cfg


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_matcher(tiny_cfg()).eval()


def _slow_geometry(tube, fi, s, w, h, nf):
    pos, boxes = tube_samples(tube, fi)
    frames = fi[pos].astype(np.float64)
    rows = []
    n = len(pos)
    for i in range(n):
        b = boxes[i].astype(np.float64)
        cx, cy = (b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h
        if n > 1:
            i0, i1 = max(i - 1, 0), min(i + 1, n - 1)
            c0 = ((boxes[i0][0] + boxes[i0][2]) / 2 / w, (boxes[i0][1] + boxes[i0][3]) / 2 / h)
            c1 = ((boxes[i1][0] + boxes[i1][2]) / 2 / w, (boxes[i1][1] + boxes[i1][3]) / 2 / h)
            vx, vy = [(c1[k] - c0[k]) / (frames[i1] - frames[i0]) * nf for k in range(2)]
        else:
            vx = vy = 0.0
        rows.append([cx, cy, (b[2] - b[0]) / w, (b[3] - b[1]) / h, vx, vy, frames[i] / nf, frames[i]])
    pooled = pool_segments(np.array(rows), s)          # the RoI features' own pooling rule
    bounds = np.minimum(np.round(np.arange(s + 1) / s * n).astype(int), n - 1)
    out = []
    for k in range(s):
        lo, hi = bounds[k], bounds[k + 1]
        idx = list(range(lo, hi)) if hi > lo else [lo]
        dt = (frames[idx[-1]] - frames[idx[0]] + 1) / nf
        out.append(list(pooled[k, :7]) + [dt, float(hi > lo)])
    return np.array(out)


def test_geometry_matches_pooling_of_the_roi_features():
    rng = np.random.default_rng(0)
    tubes = random_tubes(rng, 12) + [Tube([5], [[10, 10, 30, 50]]), Tube([1, 2], [[0, 0, 5, 5], [1, 1, 6, 6]]),
                                     Tube([31, 32], [[0, 0, 5, 5], [1, 1, 6, 6]]),          # no sampled frame
                                     Tube([0, 3, 9, 20, 21], np.tile([[0, 0, 5, 5]], (5, 1)) * [1, 1, 2, 3])]  # gaps
    fi = np.arange(0, 60, 3)
    geo = tube_geometry(tubes, fi, S, 200, 150, 60)
    assert geo.shape == (len(tubes), S, 9)
    for i, t in enumerate(tubes):
        np.testing.assert_allclose(geo[i].numpy(), _slow_geometry(t, fi, S, 200.0, 150.0, 60.0), rtol=1e-5, atol=1e-6)


def test_window_mask_rule():
    fi = np.arange(0, 100, 5)
    tubes = [Tube(np.arange(0, 100), np.tile([0, 0, 10, 10], (100, 1))),     # whole video
             Tube(np.arange(70, 100), np.tile([0, 0, 10, 10], (30, 1))),    # after the window
             Tube(np.arange(31, 34), np.tile([0, 0, 10, 10], (3, 1)))]      # no sampled frame: uses frame 30
    lay = tube_layout(tubes, fi, 4, 100, 100, 100)
    mask, inside = window_mask(lay, (20, 44))
    # tube 0: rows 0..19 (frames 0..95) in 4 segments of 5 rows: [0,20], [25,45], [50,70], [75,95]
    assert mask[0].tolist() == [True, True, False, False] and inside.tolist() == [True, False, True]
    assert mask[1].all()                      # outside: all segments, ranked below (inside False)
    assert mask[2].all()                      # its one row (frame 30) is inside
    between, _ = window_mask(lay, (48, 49))   # between tube 0's segments [25, 45] and [50, 70]
    assert between[0].tolist() == [False, False, True, False]   # the nearest segment only
    full, ins = window_mask(lay, None)
    assert full.all() and ins.all()


def test_span_viou_is_official_viou_on_the_gt_span():
    gt = Tube(np.arange(10, 20), np.tile([0, 0, 10, 10], (10, 1)))
    t = Tube(np.arange(0, 15), np.tile([0, 0, 10, 5], (15, 1)))       # IoU 0.5 on frames 10..14
    assert span_viou(t, gt) == pytest.approx(5 * 0.5 / 10)
    assert float(tube_viou(t, gt)) == pytest.approx(5 * 0.5 / 20)    # whole-tube vIoU differs
    assert span_viou(Tube(np.arange(30, 40), np.tile([0, 0, 10, 10], (10, 1))), gt) == 0.0


def _slow_loss(sent, tubes, viou, sv, tv, c, j, scale, src=None):
    """``src``: each batch video's source video (two batch videos of one source: neither positives
    nor negatives of each other)."""
    src = src if src is not None else list(range(max(max(sv), max(tv)) + 1))
    sent, tubes, viou = sent.double(), tubes.double(), viou.double()
    q_n, t_n = viou.shape
    cos = lambda q, t: float(sent[q, :j] @ tubes[t, :j])  # noqa: E731
    ls, lt = [], []
    for q in range(q_n):
        pos = [t for t in range(t_n) if tv[t] == sv[q] and viou[q, t] > c.POS_VIOU]
        if not pos:
            continue
        a_s, a_t = [], []
        for p in pos:
            a = cos(q, p) - c.MARGIN
            den = [a / c.TAU_SENT] + [cos(q, t) / c.TAU_SENT for t in range(t_n)
                                      if (tv[t] == sv[q] and viou[q, t] < c.NEG_VIOU)
                                      or (c.CROSS_VIDEO and tv[t] != sv[q] and src[tv[t]] != src[sv[q]])]
            a_s.append(math.log(sum(math.exp(x) for x in den)) - a / c.TAU_SENT)
            den = [a / c.TAU_TUBE] + [cos(r, p) / c.TAU_TUBE for r in range(q_n)
                                      if (sv[r] == tv[p] and viou[r, p] < c.NEG_VIOU)
                                      or (c.CROSS_VIDEO and sv[r] != tv[p] and src[sv[r]] != src[tv[p]])]
            a_t.append(math.log(sum(math.exp(x) for x in den)) - a / c.TAU_TUBE)
        ls.append(sum(a_s) / len(a_s))
        lt.append(sum(a_t) / len(a_t))
    bce = []
    for q in range(q_n):
        for t in range(t_n):
            if tv[t] != sv[q]:
                continue
            z = scale * float(sent[q, j:] @ tubes[t, j:])
            y = min(max((float(viou[q, t]) - c.MIN_IOU) / (c.MAX_IOU - c.MIN_IOU), 0.0), 1.0)
            p = 1 / (1 + math.exp(-z))
            bce.append(-(y * math.log(p) + (1 - y) * math.log(1 - p)))
    mean = lambda x: sum(x) / len(x) if x else 0.0  # noqa: E731
    return mean(ls), mean(lt), mean(bce)


@pytest.mark.parametrize("cross", [True, False])
def test_loss_terms_match_a_float64_loop(cross):
    g = torch.Generator().manual_seed(3)
    j = 8
    sv = torch.tensor([0, 0, 1, 2, 3])                        # video 0 has two sentences
    tv = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    sent = torch.nn.functional.normalize(torch.randn(5, 2 * j, generator=g), dim=1)
    tubes = torch.nn.functional.normalize(torch.randn(10, 2 * j, generator=g), dim=1)
    viou = torch.rand(5, 10, generator=g)
    viou[3] = 0.1                                             # sentence 3: no positive tube
    cfg = tiny_cfg("LOSS.CROSS_VIDEO", str(cross), "LOSS.MARGIN", "0.3", "LOSS.TAU_TUBE", "0.2")
    out = MatcherLoss(cfg.LOSS, j, 10.0)(sent, tubes, viou, sv, tv)
    ref = _slow_loss(sent, tubes, viou, sv.tolist(), tv.tolist(), cfg.LOSS, j, 10.0)
    got = (float(out["loss_sent"]), float(out["loss_tube"]), float(out["loss_iou"]))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    w = cfg.LOSS
    assert float(out["loss"]) == pytest.approx(w.W_SENT * ref[0] + w.W_TUBE * ref[1] + w.W_IOU * ref[2], rel=1e-5)
    assert out["num_sentences"] == 5 and out["num_with_positive"] == int((viou.max(1).values > 0.5).sum())


def test_two_queries_of_one_video_are_not_each_others_negatives():
    """Batch videos 0 and 2 are two queries of one source video (a multi-query training file): the
    loss leaves their cross pairs out of the negatives, as the float64 loop does."""
    g = torch.Generator().manual_seed(5)
    j = 8
    sv = torch.tensor([0, 1, 2, 3])
    tv = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3])
    src = [0, 1, 0, 2]
    same = torch.tensor([[src[a] == src[b] and a != b for b in tv.tolist()] for a in sv.tolist()])
    sent = torch.nn.functional.normalize(torch.randn(4, 2 * j, generator=g), dim=1)
    tubes = torch.nn.functional.normalize(torch.randn(9, 2 * j, generator=g), dim=1)
    viou = torch.rand(4, 9, generator=g)
    cfg = tiny_cfg("LOSS.MARGIN", "0.3")
    out = MatcherLoss(cfg.LOSS, j, 10.0)(sent, tubes, viou, sv, tv, same)
    ref = _slow_loss(sent, tubes, viou, sv.tolist(), tv.tolist(), cfg.LOSS, j, 10.0, src)
    np.testing.assert_allclose((float(out["loss_sent"]), float(out["loss_tube"]), float(out["loss_iou"])), ref,
                               rtol=1e-5, atol=1e-6)
    plain = MatcherLoss(cfg.LOSS, j, 10.0)(sent, tubes, viou, sv, tv)
    assert float(plain["loss_sent"]) != pytest.approx(ref[0])      # the exclusion changes the loss


def test_collate_marks_items_of_the_same_video():
    a, b = planted_videos(2, seed=4)
    a2 = replace(a, sentence="another sentence")                       # a second query of video a
    batch = collate([a, b, a2], "gt")
    want = torch.zeros(3, batch.roi.shape[0], dtype=torch.bool)
    tv = batch.tube_video
    want[0] = tv == 2
    want[2] = tv == 0
    assert torch.equal(batch.same_source, want)
    assert not collate([a, b], "gt").same_source.any()


def test_loss_without_any_positive_is_finite_and_has_gradients():
    sent = torch.nn.functional.normalize(torch.randn(2, 16), dim=1).requires_grad_()
    tubes = torch.nn.functional.normalize(torch.randn(3, 16), dim=1)
    out = MatcherLoss(tiny_cfg().LOSS, 8, 10.0)(sent, tubes, torch.zeros(2, 3), torch.tensor([0, 1]),
                                                torch.tensor([0, 1, 1]))
    assert out["num_with_positive"] == 0 and float(out["loss_sent"].detach()) == 0.0
    out["loss"].backward()
    assert torch.isfinite(sent.grad).all() and sent.grad.abs().sum() > 0   # the IoU head still trains


def _roi(n, seed=0):
    return torch.randn(n, S, C, generator=torch.Generator().manual_seed(seed))


def test_padding_tubes_and_outside_segments_never_change_a_score(model):
    rng = np.random.default_rng(1)
    tubes = random_tubes(rng, 6)
    fi = np.arange(0, 60, 2)
    roi = _roi(6)
    sents = ["the person in red", "a man walks left"]
    full = model.score(tubes, roi, sents, fi, 200, 150, num_frames=60)
    assert full.shape == (2, 6)
    sub = model.score(tubes[:3], roi[:3], sents, fi, 200, 150, num_frames=60)
    torch.testing.assert_close(sub, full[:, :3], rtol=1e-5, atol=1e-6)
    # segments outside the window: their features do not reach the score
    window = (20, 40)
    lay = tube_layout(tubes, fi, S, 200, 150, 60)
    mask, inside = window_mask(lay, window)
    noisy = roi.clone()
    noisy[~mask] += 100.0 * torch.randn(int((~mask).sum()), C)
    a = model.score(tubes, roi, sents, fi, 200, 150, window=window, num_frames=60)
    b = model.score(tubes, noisy, sents, fi, 200, 150, window=window, num_frames=60)
    torch.testing.assert_close(a[:, inside], b[:, inside], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(a, model.score(tubes, roi, sents, fi, 200, 150, num_frames=60))
    # a tube that does not overlap the window ranks below every tube that does
    if (~inside).any():
        assert a[:, ~inside].max() < a[:, inside].min()


def test_window_context_sees_the_whole_tube_and_pools_the_window(tmp_path):
    """MODEL.WINDOW_CONTEXT: segments outside the window reach the score through the layers, flagged
    as outside; the mean is over the window's segments, by hand on a model with no layers."""
    torch.manual_seed(0)
    ctx = build_matcher(tiny_cfg("MODEL.WINDOW_CONTEXT", "True")).eval()
    rng = np.random.default_rng(1)
    tubes, fi, roi, window = random_tubes(rng, 6), np.arange(0, 60, 2), _roi(6), (20, 40)
    lay = tube_layout(tubes, fi, S, 200, 150, 60)
    mask, inside = window_mask(lay, window)
    cut = inside & (~mask).any(1)           # tubes the window cuts: they have segments outside it
    assert cut.any()
    noisy = roi.clone()
    noisy[~mask] += 10.0 * torch.randn(int((~mask).sum()), C)
    a = ctx.score(tubes, roi, ["the person in red"], fi, 200, 150, window=window, num_frames=60)
    b = ctx.score(tubes, noisy, ["the person in red"], fi, 200, 150, window=window, num_frames=60)
    assert not torch.allclose(a[:, cut], b[:, cut])
    # no layers: each segment's input alone, flagged, averaged over the window
    flat = build_matcher(tiny_cfg("MODEL.WINDOW_CONTEXT", "True", "MODEL.TEMPORAL_LAYERS", "0")).eval()
    enc = flat.tube_encoder
    with torch.no_grad():
        con, _ = enc(roi, lay.geometry, mask)
        for n in range(6):
            rows = [torch.nn.functional.gelu(enc.roi_proj(enc.roi_norm(roi[n, k])) + enc.geo_proj(lay.geometry[n, k])
                                             + enc.window_flag.weight[1])
                    for k in range(S) if mask[n, k]]
            torch.testing.assert_close(con[n], enc.head_con(torch.stack(rows).mean(0)), rtol=1e-5, atol=1e-6)


def test_score_encoded_reuses_the_text_and_is_deterministic(model):
    tubes = random_tubes(np.random.default_rng(2), 4)
    fi = np.arange(0, 60, 2)
    sent = model.encode_sentences(["the person in red"])
    assert sent.shape == (1, model.encoded_dim)
    a = model.score_encoded(sent, tubes, _roi(4), fi, 200, 150, (10, 30), 60)
    b = model.score(tubes, _roi(4), ["the person in red"], fi, 200, 150, (10, 30), 60)
    torch.testing.assert_close(a, b)
    assert ((a >= -model.outside_penalty) & (a <= 1)).all()


def test_outside_window_tube_ranks_last(model):
    fi = np.arange(0, 60, 2)
    tubes = [Tube(np.arange(0, 20), np.tile([0, 0, 10, 10], (20, 1))),
             Tube(np.arange(30, 60), np.tile([50, 0, 90, 60], (30, 1)))]
    s = model.score(tubes, _roi(2), ["x y"], fi, 200, 150, window=(35, 50), num_frames=60)
    assert s[0, 1] > s[0, 0] and float(s[0, 0]) < 0


def test_zero_tubes_and_bad_inputs(model, caplog):
    fi = np.arange(0, 60, 2)
    assert model.score([], torch.zeros(0, S, C), ["a man", "a woman"], fi, 200, 150).shape == (2, 0)
    tubes = random_tubes(np.random.default_rng(3), 3)
    with pytest.raises(ValueError, match=r"vid\.mp4: RoI features missing for tube 2"):
        model.score(tubes, _roi(2), ["a man"], fi, 200, 150, video_id="vid.mp4")
    with pytest.raises(ValueError, match=r"vid\.mp4: .*shape"):
        model.score(tubes, torch.zeros(3, S, C + 1), ["a man"], fi, 200, 150, video_id="vid.mp4")
    bad = _roi(3)
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="tube 1 are not finite"):
        model.score(tubes, bad, ["a man"], fi, 200, 150, video_id="vid.mp4")
    for empty in ("", "   "):
        with pytest.raises(ValueError, match="empty"):
            model.score(tubes, _roi(3), ["ok", empty], fi, 200, 150)
    long = " ".join(["walking"] * 200)
    with caplog.at_level(logging.WARNING, logger="stvg.text"):
        s = model.score(tubes, _roi(3), [long], fi, 200, 150)
    assert s.shape == (1, 3) and "truncated" in caplog.text


def test_video_without_tubes_gets_an_empty_ranking_with_the_reason():
    v = make_video("empty.mp4", "a man", [], None, np.arange(10), 100, 100, 10, S, C)
    ev = MatcherEvaluator()
    ev.process(v, None)
    m = ev.evaluate()
    assert ev.predictions[0]["ranking"] == [] and ev.predictions[0]["reason"] == "no tubes"
    assert m["top1_acc"] == 0.0 and m["no_tubes"] == 1


def test_feature_file_rows_must_match_the_tubes(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "f.h5", "w") as f:
        g = f.create_group("a.mp4")
        g["frame_indices"] = np.arange(10)
        g["roi_features"] = np.zeros((2, S, C), np.float32)
        f.create_group("b.mp4")["frame_indices"] = np.arange(10)
    with h5py.File(tmp_path / "f.h5", "r") as f:
        assert read_roi_group(f, "a.mp4", 2, "f.h5")[0].shape == (2, S, C)
        with pytest.raises(ValueError, match=r"a\.mp4: RoI features missing for tube 2"):
            read_roi_group(f, "a.mp4", 3, "f.h5")
        with pytest.raises(ValueError, match=r"a\.mp4: 2 rows .* for 1 tubes"):
            read_roi_group(f, "a.mp4", 1, "f.h5")
        with pytest.raises(ValueError, match=r"b\.mp4: no roi_features .* tube 0"):
            read_roi_group(f, "b.mp4", 1, "f.h5")


def test_evaluator_metrics_by_hand():
    tubes = [Tube(np.arange(10), np.tile([0, 0, 10 * (k + 1), 10], (10, 1))) for k in range(3)]
    gt = tubes[1]
    v = make_video("x.mp4", "s", tubes, None, np.arange(10), 100, 100, 10, S, C, gt=gt)
    np.testing.assert_allclose(v.viou, [0.5, 1.0, 2 / 3], rtol=1e-6)
    ev = MatcherEvaluator(ks=(1, 2))
    ev.process(v, torch.tensor([0.9, 0.1, 0.5]))     # ranks tube 0 (vIoU 0.5: not > 0.5), then 2, then 1
    m = ev.evaluate()
    assert m["top1_acc"] == 0.0 and m["mean_viou"] == pytest.approx(0.5)
    assert m["recall@2"] == 1.0 and m["oracle_acc"] == 1.0 and m["oracle_mean_viou"] == pytest.approx(1.0)
    assert m["random_acc"] == pytest.approx(2 / 3) and m["random_mean_viou"] == pytest.approx((0.5 + 1 + 2 / 3) / 3)
    assert m["largest_mean_viou"] == pytest.approx(2 / 3)  # the widest tube is tube 2
