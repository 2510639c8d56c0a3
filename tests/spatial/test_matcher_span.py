"""The matcher's span head (spatial/matcher/span.py): the segments' frame partition, the per-segment
targets and the best-run decoding against slow loops, and the head's shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spatial.matcher.span import SpanHead, best_runs, segment_frames, segment_targets, span_loss
from stvg.structures import Tube
from stvg.tube_geometry import tube_layout

from .test_matcher_helpers import random_tubes, tiny_cfg


def _box_iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def _sparse(rng, tube: Tube) -> Tube:
    keep = rng.random(len(tube)) < 0.6
    keep[0] = keep[-1] = True
    return Tube(tube.frames[torch.from_numpy(keep)], tube.boxes[torch.from_numpy(keep)])


def test_segment_frames_partition_each_tube_span():
    rng = np.random.default_rng(0)
    for trial in range(40):
        tubes = [_sparse(rng, t) if trial % 2 else t for t in random_tubes(rng, 4)]
        fi = np.arange(0, 60, int(rng.integers(1, 4)))
        tubes = [t for t in tubes if ((t.frames.numpy()[:, None] == fi[None]).any())] or \
            [Tube(np.arange(0, 30), np.tile([0, 0, 10, 10], (30, 1)))]
        layout = tube_layout(tubes, fi, 16, 200, 150, 60)
        fr = segment_frames(layout).numpy()
        for i, tube in enumerate(tubes):
            covered = []
            for s in range(16):
                a, b = fr[i, s]
                assert b >= a - 1
                covered += list(range(a, b + 1))
            # every frame of the tube's span exactly once, in order
            assert covered == list(range(tube.start_frame, tube.end_frame + 1))
            # a non-empty segment starts at its first sampled frame (segment 0: the tube's start)
            seg = layout.seg_frames.numpy()[i]
            for s in range(1, 16):
                if fr[i, s, 1] >= fr[i, s, 0]:
                    assert fr[i, s, 0] == seg[s, 0]


def test_segment_targets_match_a_slow_loop():
    rng = np.random.default_rng(1)
    for _ in range(30):
        gt, *tubes = [_sparse(rng, t) for t in random_tubes(rng, 5)]
        tubes.append(Tube(gt.frames, gt.boxes + 1.0))     # nearly the ground truth
        layout = tube_layout(tubes, np.arange(60), 16, 200, 150, 60)
        got = segment_targets(tubes, layout, gt)
        fr = segment_frames(layout).numpy()
        ref = {int(f): b for f, b in zip(gt.frames.tolist(), gt.boxes.tolist())}
        for i, tube in enumerate(tubes):
            own = {int(f): b for f, b in zip(tube.frames.tolist(), tube.boxes.tolist())}
            for s in range(16):
                a, b = fr[i, s]
                if b < a:
                    assert got[i, s] == 0
                    continue
                hits = sum(1 for f in range(a, b + 1) if f in own and f in ref and _box_iou(own[f], ref[f]) >= 0.5)
                assert got[i, s] == pytest.approx(hits / (b - a + 1), abs=1e-6)
        assert got[-1].max() == pytest.approx(1.0)
    assert segment_targets(tubes, layout, None).sum() == 0


def _slow_best(p, length):
    best, arg = -1.0, (0, 0)
    s = len(p)
    for a in range(s):
        for b in range(a, s):
            frames = sum(length[a:b + 1])
            if frames <= 0:
                continue
            inter = sum(p[k] * length[k] for k in range(a, b + 1))
            union = frames + sum(p[k] * length[k] for k in range(s) if k < a or k > b)
            v = inter / union
            if v > best + 1e-12:
                best, arg = v, (a, b)
    return arg, max(best, 0.0)


def test_best_runs_match_a_slow_loop():
    rng = np.random.default_rng(2)
    p = rng.random((50, 16))
    p[::3] **= 4                                  # peaked rows
    length = rng.integers(0, 6, size=(50, 16)).astype(np.float64)
    length[0] = 0
    a, b, v = best_runs(torch.from_numpy(p), torch.from_numpy(length))
    for r in range(50):
        (ra, rb), rv = _slow_best(p[r], length[r])
        assert v[r].item() == pytest.approx(rv, abs=1e-9)
        if rv > 0:
            assert (a[r].item(), b[r].item()) == (ra, rb)
    assert (a[0].item(), b[0].item(), v[0].item()) == (0, 0, 0.0)
    # a clean step: the run is exactly the segments with p = 1
    step = torch.zeros(1, 16)
    step[0, 4:9] = 1.0
    a, b, v = best_runs(step, torch.ones(1, 16))
    assert (a.item(), b.item(), v.item()) == (4, 8, 1.0)
    assert best_runs(torch.zeros(0, 16), torch.zeros(0, 16))[0].shape == (0,)


def test_span_head_shapes_and_loss_weights():
    from spatial.matcher.span import pad_tokens
    cfg = tiny_cfg("MODEL.SPAN_HEAD", "true")
    torch.manual_seed(0)
    head = SpanHead(cfg.MODEL, 16).eval()
    roi = torch.randn(5, cfg.MODEL.NUM_SEGMENTS, cfg.MODEL.ROI_DIM)
    geo = torch.randn(5, cfg.MODEL.NUM_SEGMENTS, 9)
    toks, tmask = pad_tokens([torch.randn(3, 16), torch.randn(6, 16)])
    assert toks.shape == (2, 6, 16) and tmask.sum(1).tolist() == [3, 6] and toks[0, 3:].abs().sum() == 0
    ps, pt = torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 2, 3, 4])
    out = head(roi, geo, toks, tmask, ps, pt)
    assert out.shape == (5, cfg.MODEL.NUM_SEGMENTS)
    # a pair's logits depend on its own tube and sentence only, not on padding or the other pairs
    alone = head(roi[[2]], geo[[2]], toks[1:, :6], tmask[1:, :6], torch.tensor([0]), torch.tensor([0]))[0]
    assert torch.allclose(out[2], alone, atol=1e-5)
    short = head(roi[[0]], geo[[0]], toks[:1, :3], tmask[:1, :3], torch.tensor([0]), torch.tensor([0]))[0]
    assert torch.allclose(out[0], short, atol=1e-5)
    target = torch.rand(5, cfg.MODEL.NUM_SEGMENTS)
    length = torch.ones(5, cfg.MODEL.NUM_SEGMENTS)
    length[:, 0] = 0                              # empty segments do not count
    changed = out.detach().clone()
    changed[:, 0] += 100.0
    assert span_loss(out.detach(), target, length) == pytest.approx(float(span_loss(changed, target, length)))


def _acting_videos(n: int, seed: int, num_frames: int = 40):
    """4 side-by-side tubes over the whole clip; each person 'acts' (carries its colour's feature
    prototype) on a run of segments only; the sentence names the target's colour and the ground truth
    is the target's tube cut to its acting frames."""
    from spatial.matcher.data import make_video
    from .test_matcher_helpers import C, S, WORDS
    rng = np.random.default_rng(seed)
    proto = np.random.default_rng(123).normal(size=(len(WORDS), C)).astype(np.float32)
    fi = np.arange(0, num_frames, 2)
    out = []
    for i in range(n):
        concepts = rng.choice(len(WORDS), 4, replace=False)
        tubes = [Tube(np.arange(num_frames), np.tile([10 + 60 * k, 10, 50 + 60 * k, 90], (num_frames, 1)))
                 for k in range(4)]
        roi = rng.normal(size=(4, S, C)).astype(np.float32) * 0.5
        runs = []
        for k in range(4):
            a = int(rng.integers(0, S - 2))
            b = int(rng.integers(a + 1, S))
            roi[k, a:b + 1] += 2.0 * proto[concepts[k]]
            runs.append((a, b))
        target = int(rng.integers(4))
        a, b = runs[target]
        per = num_frames // S                     # 5 frames per segment (20 rows, 8 segments)
        gt = tubes[target].crop(a * per, (b + 1) * per - 1)
        out.append(make_video(f"a{seed}_{i}.mp4", f"the person in {WORDS[concepts[target]]}", tubes, roi, fi,
                              320, 100, num_frames, S, C, gt=gt))
    return out


def test_span_head_learns_who_and_when(tmp_path):
    from spatial.matcher.train import train_videos
    cfg = tiny_cfg("MODEL.SPAN_HEAD", "true", "MODEL.USE_GEOMETRY", "false", "SOLVER.EPOCHS", "25",
                   "SOLVER.LR", "3e-3", "MODEL.DROPOUT", "0.0", out=tmp_path / "run")
    torch.manual_seed(0)
    summary = train_videos(cfg, _acting_videos(160, 0), _acting_videos(40, 1), progress=False)
    m = summary["last_metrics"]
    assert {"span_m_viou", "span_m_tiou", "span_best_tube_viou"} <= set(m)
    # the whole target tube would score about 0.45 here (runs cover ~45% of the clip), a random
    # person's run far less: the head finds both the person and the run
    assert m["span_m_viou"] > 0.7, m
    assert m["span_best_tube_viou"] >= m["span_m_viou"] - 1e-9
