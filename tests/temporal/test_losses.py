"""temporal.losses: hand-computed values on tiny inputs and a slow reference loop."""
import math

import pytest
import torch
import torch.nn.functional as F

from stvg.config import Config
from temporal.defaults import TEMPORAL_DEFAULTS
from temporal.losses import MMNLoss, mutual_matching_loss, scaled_iou_bce
from temporal.maps import valid_mask
from temporal.model import MMNOutput


def loss_cfg(**kw):
    c = dict(TEMPORAL_DEFAULTS["LOSS"])
    c.update(kw)
    return Config(c).freeze()


def tiny_two_videos():
    """N=2, pooling [1]: cells (0,0), (0,1), (1,1). C=2, one sentence per video (see test docstrings)."""
    mask = valid_mask(2, [1])
    maps = torch.zeros(2, 2, 2, 2)
    # video 0: (0,0)=[1,0], (0,1)=[0,1], (1,1)=[-1,0]; video 1: (0,0)=[0,1], (0,1)=[1,0], (1,1)=[0,-1]
    maps[0, :, 0, 0] = torch.tensor([1.0, 0.0]); maps[0, :, 0, 1] = torch.tensor([0.0, 1.0])
    maps[0, :, 1, 1] = torch.tensor([-1.0, 0.0])
    maps[1, :, 0, 0] = torch.tensor([0.0, 1.0]); maps[1, :, 0, 1] = torch.tensor([1.0, 0.0])
    maps[1, :, 1, 1] = torch.tensor([0.0, -1.0])
    sent = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    iou = torch.tensor([[[1.0, 0.5], [0.0, 0.0]]] * 2)
    sv = torch.tensor([0, 1])
    gts = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    return maps, sent, iou, sv, gts, mask


def test_hand_computed_one_video():
    maps, sent, iou, sv, gts, mask = tiny_two_videos()
    kw = dict(num_positive=1, margin=0.4, tau_video=0.1, tau_sent=0.1, negative_video_iou=0.5, sent_removal_iou=0.5)
    lv, ls = mutual_matching_loss(maps[:1], sent[:1], iou[:1], sv[:1], gts[:1], mask, **kw)
    # one sentence: the video->sentence softmax holds only the anchor -> 0
    assert abs(float(lv)) < 1e-6
    # positive cos 1 - 0.4 -> logit 6; own cell (1,1) cos -1 -> e^-10; two excluded cells add 1 each; + 1e-6
    expected = -(6 - math.log(math.exp(6) + math.exp(-10) + 2 + 1e-6))
    assert abs(float(ls) - expected) < 1e-5
    lv, ls = mutual_matching_loss(maps[:1], sent[:1], iou[:1], sv[:1], gts[:1], mask,
                                  excluded_cells_in_denominator=False, **kw)
    expected = -(6 - math.log(math.exp(6) + math.exp(-10) + 1e-6))
    assert abs(float(ls) - expected) < 1e-6


def test_hand_computed_two_videos():
    maps, sent, iou, sv, gts, mask = tiny_two_videos()
    kw = dict(num_positive=1, margin=0.4, tau_video=0.1, tau_sent=0.1, negative_video_iou=0.5, sent_removal_iou=0.5)
    lv, ls = mutual_matching_loss(maps, sent, iou, sv, gts, mask, **kw)
    # each positive cell: anchor logit (1 - 0.4) / 0.1 = 6, the other sentence cos 0 -> 0
    assert abs(float(lv) - math.log(1 + math.exp(-6))) < 1e-6
    # sentence->video: + the other video's 3 cells with cos 0, 1, 0
    expected = -(6 - math.log(math.exp(6) + math.exp(-10) + 2 + 2 + math.exp(10) + 1e-6))
    assert abs(float(ls) - expected) < 1e-5


def test_hand_computed_bce_and_total_schedule():
    maps, sent, iou, sv, gts, mask = tiny_two_videos()
    scores = torch.tensor([[[0.9, 0.5], [0.0, 0.2]]] * 2)
    # targets scaled with MIN 0.5 / MAX 1.0: 1, 0, 0
    bce = scaled_iou_bce(scores, iou, mask, 0.5, 1.0)
    expected = (-math.log(0.9) - math.log(0.5) - math.log(0.8)) / 3
    assert abs(float(bce) - expected) < 1e-6
    out = MMNOutput(maps, maps, sent, sent, scores, torch.zeros(2, 2, 2), mask, sv)
    crit = MMNLoss(loss_cfg(CONTRASTIVE_WEIGHT=0.05, FULL_CONTRASTIVE_EPOCHS=7), mask)
    early = crit(out, iou, sv, 7, gts)
    late = crit(out, iou, sv, 8, gts)
    contrast = float(early["loss_vid"] + early["loss_sent"])
    assert abs(float(early["loss"]) - (expected + 0.05 * contrast)) < 1e-5
    assert abs(float(late["loss"]) - (expected + 0.0005 * contrast)) < 1e-5
    assert abs(float(early["loss_iou"]) - expected) < 1e-6


def ref_mutual_matching(maps, sent, iou, sv, gts, mask, k, margin, tv, ts, neg_iou, rem_iou, excluded):
    """Slow loops over sentences, positives, sentences and cells (float64)."""
    maps, sent, iou, gts = maps.double(), sent.double(), iou.double(), gts.double()
    cells = [tuple(c) for c in torch.nonzero(mask).tolist()]
    s_count, b_count = sent.shape[0], maps.shape[0]

    def seg_iou(a, b):
        inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
        return inter / ((a[1] - a[0]) + (b[1] - b[0]) - inter)

    lv_terms, ls_terms = [], []
    for s in range(s_count):
        v = int(sv[s])
        order = sorted(range(len(cells)), key=lambda c: -float(iou[s][cells[c]]))
        for p in order[:k]:
            f = maps[v, :, cells[p][0], cells[p][1]]
            pos = float(f @ sent[s]) - margin
            total = 0.0
            for t in range(s_count):
                if t != s and int(sv[t]) == v and seg_iou(gts[s].tolist(), gts[t].tolist()) >= rem_iou:
                    continue
                total += math.exp((float(f @ sent[t]) - (margin if t == s else 0.0)) / tv)
            lv_terms.append(-(pos / tv - math.log(total)))
            total = math.exp(pos / ts)
            for c in cells:
                val = float(maps[v, :, c[0], c[1]] @ sent[s])
                if float(iou[s][c]) < neg_iou:
                    total += math.exp(val / ts)
                elif excluded:
                    total += 1.0
            for b in range(b_count):
                if b == v:
                    continue
                for c in cells:
                    total += math.exp(float(maps[b, :, c[0], c[1]] @ sent[s]) / ts)
            ls_terms.append(-(pos / ts - math.log(total + 1e-6)))
    return sum(lv_terms) / len(lv_terms), sum(ls_terms) / len(ls_terms)


@pytest.mark.parametrize("excluded", [True, False])
@pytest.mark.parametrize("k,margin", [(1, 0.4), (3, 0.1)])
def test_mutual_matching_matches_reference_loop(excluded, k, margin):
    g = torch.Generator().manual_seed(k)
    n, counts = 8, [3, 2]
    mask = valid_mask(n, counts)
    b, c = 3, 5
    sv = torch.tensor([0, 0, 0, 1, 2, 2])
    maps = F.normalize(torch.randn(b, c, n, n, generator=g), dim=1)
    sent = F.normalize(torch.randn(len(sv), c, generator=g), dim=1)
    iou = torch.rand(len(sv), n, n, generator=g)           # continuous: no ties in the top-k
    # sentences 0 and 1 overlap (IoU 0.8 -> removed from each other's denominators), 2 does not
    gts = torch.tensor([[0.0, 10.0], [0.0, 8.0], [20.0, 30.0], [1.0, 2.0], [0.0, 5.0], [1.0, 5.0]])
    kw = dict(num_positive=k, margin=margin, tau_video=0.1, tau_sent=0.07, negative_video_iou=0.5,
              sent_removal_iou=0.5, excluded_cells_in_denominator=excluded)
    lv, ls = mutual_matching_loss(maps, sent, iou, sv, gts, mask, **kw)
    rv, rs = ref_mutual_matching(maps, sent, iou, sv, gts, mask, k, margin, 0.1, 0.07, 0.5, 0.5, excluded)
    assert abs(float(lv) - rv) < 1e-5 and abs(float(ls) - rs) < 1e-5


def test_loss_gradients_flow_and_shape_errors():
    maps, sent, iou, sv, gts, mask = tiny_two_videos()
    maps = maps.clone().requires_grad_(True)
    scores = torch.full((2, 2, 2), 0.5, requires_grad=True)
    out = MMNOutput(maps, maps, sent, sent, scores, torch.zeros(2, 2, 2), mask, sv)
    crit = MMNLoss(loss_cfg(), mask)
    res = crit(out, iou, sv, 1, gts)
    res["loss"].backward()
    assert maps.grad is not None and torch.isfinite(maps.grad).all() and scores.grad is not None
    with pytest.raises(ValueError, match="gt_segments"):
        crit(out, iou, sv, 1, gts[:1])
    with pytest.raises(ValueError, match="MAX_IOU"):
        MMNLoss(loss_cfg(MIN_IOU=0.7, MAX_IOU=0.5), mask)
