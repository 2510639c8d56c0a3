"""link_detections against a slow, obviously-correct re-implementation (plain Python per track)."""
import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from spatial.linking import LinkParams, link_detections
from stvg.ops import tube_viou
from stvg.structures import Detections, Tube


def iou(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def reference_link(dets, p: LinkParams):
    tracks = []
    for t, d in enumerate(dets):
        f = d.frame
        boxes = d.boxes.double().numpy()
        live = [tr for tr in tracks if t - tr["step"] - 1 <= p.max_gap]
        preds = []
        for tr in live:
            dt = f - tr["frame"]
            preds.append(tr["box"] + tr["vel"] * dt if p.motion == "velocity" else tr["box"].copy())
        matched = {}
        if live and len(boxes):
            ious = np.array([[iou(pb, b) for b in boxes] for pb in preds])
            cost = np.where(ious >= p.iou_threshold, 1 - ious, 1e6)
            for r, c in zip(*linear_sum_assignment(cost)):
                if ious[r, c] >= p.iou_threshold:
                    matched[c] = r
        for j, z in enumerate(boxes):
            if j in matched:
                tr, xp = live[matched[j]], preds[matched[j]]
                dv = (z - tr["box"]) / (f - tr["frame"])
                cx, cy = (dv[0] + dv[2]) / 2, (dv[1] + dv[3]) / 2
                first = tr["count"] == 1
                m = 0.0 if first else p.velocity_momentum
                tr["vel"] = m * tr["vel"] + (1 - m) * np.array([cx, cy, cx, cy])
                g = 1.0 if first else p.position_gain
                tr["box"] = xp + g * (z - xp)
                tr["count"] += 1
            else:
                tr = {"vel": np.zeros(4), "box": z.copy(), "count": 1, "dets": []}
                tracks.append(tr)
            tr["frame"], tr["step"] = f, t
            tr["dets"].append((f, z, float(d.scores[j])))
    made = []
    for k, tr in enumerate(tracks):
        n = len(tr["dets"])
        if n < p.min_length:
            continue
        fr = np.array([x[0] for x in tr["dets"]])
        bx = np.array([x[1] for x in tr["dets"]])
        sc = np.array([x[2] for x in tr["dets"]])
        dense = np.arange(fr[0], fr[-1] + 1)
        boxes = np.stack([np.interp(dense, fr, bx[:, c]) for c in range(4)], 1)
        score = sc.mean() * n / (n + p.length_prior)
        made.append((-score, int(fr[0]), k, Tube(dense, boxes, np.interp(dense, fr, sc), score)))
    made.sort(key=lambda x: x[:3])
    kept = []
    for *_, tube in made:
        if all(float(tube_viou(tube, o)) <= p.tube_nms_viou for o in kept):
            kept.append(tube)
    return kept


def random_scene(seed, frames=60, stride=2, people=5):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 300, (people, 2))
    vel = rng.normal(0, 2, (people, 2))
    size = rng.uniform([20, 50], [40, 100], (people, 2))
    out = []
    for f in range(0, frames, stride):
        alive = (np.arange(people) * 7 <= f) & (f <= 40 + np.arange(people) * 5)
        keep = alive & (rng.random(people) > 0.2)
        xy = pos[keep] + vel[keep] * f
        b = np.concatenate([xy, xy + size[keep]], 1) + rng.normal(0, 2, (keep.sum(), 4))
        fp = rng.uniform(0, 300, (rng.poisson(0.5), 2))
        b = np.concatenate([b, np.concatenate([fp, fp + 30], 1)])
        s = np.concatenate([rng.uniform(0.5, 1, keep.sum()), rng.uniform(0.3, 0.6, len(fp))])
        out.append(Detections(torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                              torch.tensor(s, dtype=torch.float32), f))
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kw", [{}, {"motion": "last"}, {"position_gain": 1.0, "max_gap": 1},
                                {"min_length": 1, "tube_nms_viou": 0.3}])
def test_matches_reference(seed, kw):
    p = LinkParams(**kw)
    dets = random_scene(seed)
    fast, _ = link_detections(dets, params=p)
    slow = reference_link(dets, p)
    assert len(fast) == len(slow)
    for a, b in zip(fast, slow):
        assert torch.equal(a.frames, b.frames)
        torch.testing.assert_close(a.boxes, b.boxes, atol=1e-4, rtol=0)
        torch.testing.assert_close(a.scores, b.scores, atol=1e-5, rtol=0)
        assert abs(a.score - b.score) < 1e-6
