"""R@n,IoU@m: ranking equals nms_1d over all valid cells; recall equals a plain reference loop."""
from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from stvg.ops import nms_1d
from temporal.evaluation import MomentEvaluator, metric_key, rank_moments
from temporal.maps import valid_mask


def _cands(n, duration, mask):
    """(moment in seconds, moment in exact clip units, cell)."""
    return [((i * duration / n, (j + 1) * duration / n), (Fraction(i), Fraction(j + 1)), (i, j))
            for i in range(n) for j in range(n) if mask[i, j]]


@pytest.mark.parametrize("n,counts,quantize", [(16, [15], False), (16, [15], True), (64, [15, 8, 8], False)])
def test_rank_moments_equals_full_nms(n, counts, quantize):
    g = torch.Generator().manual_seed(n)
    mask = valid_mask(n, counts)
    for trial in range(5):
        scores = torch.rand(n, n, generator=g) * mask
        if quantize:  # many ties
            scores = (scores * 4).round() / 4 * mask
        from temporal.maps import cell_moments
        units = cell_moments(n, n)[mask].double()
        keep = nms_1d(units, scores[mask], 0.5, top_k=5)
        moments, sc = rank_moments(scores, mask, 30.0, 0.5, 5)
        torch.testing.assert_close(moments, units[keep] * 30.0 / n)
        torch.testing.assert_close(sc, scores[mask][keep])


def reference_recall(scores, mask, durations, gts, thresholds, ranks, nms):
    hits = {metric_key(r, m): 0 for r in ranks for m in thresholds}
    n = scores.shape[-1]
    for s in range(scores.shape[0]):
        cands = _cands(n, float(durations[s]), mask)
        order = sorted(range(len(cands)), key=lambda k: -float(scores[s][cands[k][2]]))
        kept = []
        for k in order:
            if all(_iou(cands[k][1], cands[q][1]) <= nms for q in kept):
                kept.append(k)
        for r in ranks:
            best = max(_iou(cands[k][0], tuple(gts[s].tolist())) for k in kept[:r])
            for m in thresholds:
                hits[metric_key(r, m)] += best >= m
    return {k: v / scores.shape[0] for k, v in hits.items()}


def _iou(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if inter > 0 else 0.0


def test_recall_matches_reference_loop():
    g = torch.Generator().manual_seed(0)
    n, mask = 16, valid_mask(16, [15])
    s = 40
    scores = torch.rand(s, n, n, generator=g) * mask
    durations = 10 + 30 * torch.rand(s, generator=g)
    a = torch.rand(s, generator=g) * 0.7 * durations
    gts = torch.stack([a, a + (0.05 + 0.3 * torch.rand(s, generator=g)) * durations], 1)
    ev = MomentEvaluator(mask, [0.3, 0.5, 0.7], [1, 5], 0.5)
    ev.process(scores[:17], durations[:17], gts[:17])
    ev.process(scores[17:], durations[17:], gts[17:])
    got = ev.evaluate()
    ref = reference_recall(scores, mask, durations, gts, [0.3, 0.5, 0.7], [1, 5], 0.5)
    assert list(got) == ["R@1,IoU@0.3", "R@1,IoU@0.5", "R@1,IoU@0.7", "R@5,IoU@0.3", "R@5,IoU@0.5",
                         "R@5,IoU@0.7"]
    assert got == pytest.approx(ref)
    assert ev.num_sentences == s


def test_threshold_is_inclusive():
    n, mask = 16, valid_mask(16, [15])
    scores = torch.zeros(1, n, n)
    scores[0, 0, 0] = 1.0  # top moment [0, 1] s with duration 16
    ev = MomentEvaluator(mask, [0.5, 0.51], [1], 0.5)
    ev.process(scores * mask, torch.tensor([16.0]), torch.tensor([[0.0, 2.0]]))  # IoU exactly 0.5
    assert ev.evaluate() == {"R@1,IoU@0.5": 1.0, "R@1,IoU@0.51": 0.0}
