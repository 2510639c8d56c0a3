"""temporal.tube_mmn: pairs and scores vs loops, reduction to MMN with one tube per video, and learning
a planted (tube, span) on synthetic features with a tiny random text encoder (CPU, offline)."""
from fractions import Fraction

import torch

from stvg.ops import tube_viou
from stvg.structures import Tube
from temporal import st_iou_map
from temporal.defaults import load_temporal_config
from temporal.losses import MMNLoss
from temporal.st_iou import cell_sub_tube
from temporal.tube_mmn import TubeMMN, TubeMMNLoss, nonempty_cells
from tests.conftest import requires_cuda

TINY = ["MODEL.TEXT_ENCODER_PRETRAINED", "False",
        "MODEL.TEXT_CONFIG_OVERRIDES", "{dim: 16, hidden_dim: 32, n_layers: 1, n_heads: 2, vocab_size: 50}",
        "MODEL.FEAT_DIM", "16", "MODEL.HIDDEN", "16", "MODEL.JOINT_DIM", "16", "MODEL.CONV_LAYERS", "2",
        "MODEL.CONV_KERNEL", "3", "MODEL.NUM_PRE_CLIPS", "16", "MODEL.NUM_CLIPS", "8",
        "MODEL.POOLING_COUNTS", "[7]", "LOSS.MIN_IOU", "0.3", "LOSS.MAX_IOU", "0.9"]


def tiny(*extra, seed=0):
    torch.manual_seed(seed)
    cfg = load_temporal_config(None, TINY + list(extra))
    return TubeMMN(cfg.MODEL), cfg


def test_pairs_and_scores_match_a_loop():
    m, _ = tiny()
    m.eval()
    g = torch.Generator().manual_seed(0)
    tube_video = torch.tensor([0, 0, 0, 1, 2, 2])
    sent_video = torch.tensor([2, 0, 1, 0])
    ids = torch.randint(3, 50, (4, 5), generator=g)
    out = m(torch.rand(6, 16, 16, generator=g), tube_video, ids, torch.ones_like(ids), sent_video)
    pairs = [(s, t) for s in range(4) for t in range(6) if tube_video[t] == sent_video[s]]
    assert list(zip(out.pair_sent.tolist(), out.pair_tube.tolist())) == pairs
    p = out.pairs
    for k, (s, t) in enumerate(pairs):
        cos_i = torch.einsum("c,cij->ij", p.sent_iou[k], p.map_iou[t])
        cos_c = torch.einsum("c,cij->ij", out.sent_con[s], p.map_con[t])
        torch.testing.assert_close(p.iou_scores[k], torch.sigmoid(10 * cos_i) * p.mask)
        torch.testing.assert_close(p.con_scores[k], cos_c * p.mask)
    lengths = [20, 3, 9, 8, 30, 5]
    scores = m.test_scores(out, lengths)
    pred = m.predict(out, lengths)
    bounds = [[round(Fraction(k * t, 8)) for k in range(9)] for t in lengths]
    for s in range(4):
        cands = [(scores[k, i, j].item(), t, i, j) for k, (s2, t) in enumerate(pairs) if s2 == s
                 for i in range(8) for j in range(i, 8) if bounds[t][j + 1] > bounds[t][i]]
        best = max(cands, key=lambda c: c[0])
        assert (int(pred.tube[s]), *pred.cell[s].tolist()) == best[1:]
    got = nonempty_cells([3, 8, 13], 8)
    for k, t in enumerate([3, 8, 13]):
        tube = Tube(torch.arange(t), torch.ones(t, 4))
        want = [[i <= j and len(cell_sub_tube(tube, i, j, 8)) > 0 for j in range(8)] for i in range(8)]
        assert got[k].tolist() == want


def test_one_tube_per_video_is_plain_mmn():
    m, cfg = tiny()
    g = torch.Generator().manual_seed(1)
    feats = torch.rand(3, 16, 16, generator=g)
    sv = torch.tensor([0, 1, 1, 2])
    ids = torch.randint(3, 50, (4, 5), generator=g)
    targets = torch.rand(4, 8, 8, generator=g)
    gt = torch.tensor([[0.0, 4.0], [1.0, 3.0], [2.0, 9.0], [0.0, 1.0]])
    m.train()
    torch.manual_seed(5)
    out = m(feats, torch.arange(3), ids, torch.ones_like(ids), sv)
    got = TubeMMNLoss(cfg.LOSS, m.mmn.mask)(out, targets, gt, epoch=1)
    torch.manual_seed(5)
    ref_out = m.mmn(feats, ids, torch.ones_like(ids), sv)
    ref = MMNLoss(cfg.LOSS, m.mmn.mask)(ref_out, targets, sv, 1, gt)
    for k in ("loss", "loss_iou", "loss_vid", "loss_sent"):
        torch.testing.assert_close(got[k], ref[k])
    assert got["positive_tube"].tolist() == sv.tolist()


def planted(num_videos, seed, words=6, n=8, pre=16, dim=16, boxes=32):
    """Videos of 2-4 tubes; the sentence's word pattern sits on one tube over a span of clips, another
    word's pattern on another tube. Returns per video (feats [K, pre, dim], tubes, word, planted tube,
    gt tube)."""
    g = torch.Generator().manual_seed(seed)
    patterns = torch.randn(words, dim, generator=torch.Generator().manual_seed(99)) * 1.5
    vids = []
    for _ in range(num_videos):
        k = int(torch.randint(2, 5, (1,), generator=g))
        feats = torch.randn(k, pre, dim, generator=g) * 0.5
        tubes = [Tube(torch.arange(boxes), torch.tensor([[40.0 * t, 0, 40.0 * t + 30, 60]]).repeat(boxes, 1))
                 for t in range(k)]
        w, other = torch.randperm(words, generator=g)[:2].tolist()
        pos, neg = torch.randperm(k, generator=g)[:2].tolist()
        a = int(torch.randint(0, n - 2, (1,), generator=g))
        b = int(torch.randint(a + 2, n + 1, (1,), generator=g))            # clips [a, b)
        feats[pos, a * pre // n:b * pre // n] += patterns[w]
        feats[neg, a * pre // n:b * pre // n] += patterns[other]
        gt = cell_sub_tube(tubes[pos], a, b - 1, n)
        vids.append((feats, tubes, w, pos, gt))
    return vids


def collate(vids, n=8):
    feats = torch.cat([v[0] for v in vids])
    tube_video = torch.cat([torch.full((len(v[1]),), i) for i, v in enumerate(vids)])
    ids = torch.tensor([[1, 10 + v[2], 2] for v in vids])
    targets = torch.stack([st_iou_map(t, v[4], n) for v in vids for t in v[1]])  # pairs: one sentence per video
    gt = torch.tensor([[v[4].start_frame, v[4].end_frame + 1.0] for v in vids])
    return feats, tube_video, ids, targets, gt


def test_learns_a_planted_tube_and_span():
    m, cfg = tiny("LOSS.NUM_POSITIVE", "1", "LOSS.MARGIN", "0.2")
    loss_fn = TubeMMNLoss(cfg.LOSS, m.mmn.mask)
    train, test = planted(48, seed=0), planted(24, seed=1)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    m.train()
    for step in range(80):
        batch = [train[i] for i in torch.randperm(len(train), generator=g)[:8].tolist()]
        feats, tv, ids, targets, gt = collate(batch)
        out = m(feats, tv, ids, torch.ones_like(ids), torch.arange(len(batch)))
        loss = loss_fn(out, targets, gt, epoch=1)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    feats, tv, ids, _, _ = collate(test)
    with torch.no_grad():
        out = m(feats, tv, ids, torch.ones_like(ids), torch.arange(len(test)))
    lengths = [len(t) for v in test for t in v[1]]
    pred = m.predict(out, lengths)
    offsets = torch.cumsum(torch.tensor([0] + [len(v[1]) for v in test]), 0)
    right_tube, viou = 0, []
    for s, v in enumerate(test):
        t = int(pred.tube[s] - offsets[s])
        right_tube += t == v[3]
        i, j = pred.cell[s].tolist()
        viou.append(float(tube_viou(cell_sub_tube(v[1][t], i, j, 8), v[4])))
    # untrained: 10 of 24 right tubes, 3 of 24 at vIoU >= 0.5; trained (3 init seeds): 21-24 and 18-22
    assert right_tube >= 0.8 * len(test), (right_tube, viou)
    assert sum(x >= 0.5 for x in viou) >= 0.65 * len(test), viou


@requires_cuda
def test_cuda_matches_cpu():
    m, cfg = tiny()
    m.eval()
    vids = planted(4, seed=2)
    feats, tv, ids, targets, gt = collate(vids)
    lengths = [len(t) for v in vids for t in v[1]]
    res = {}
    for dev in ("cpu", "cuda"):
        m.to(dev)
        with torch.no_grad():
            out = m(feats.to(dev), tv.to(dev), ids.to(dev), torch.ones_like(ids).to(dev), torch.arange(4, device=dev))
            loss = TubeMMNLoss(cfg.LOSS, m.mmn.mask)(out, targets.to(dev), gt.to(dev), epoch=1)
        res[dev] = (loss["loss"].cpu(), m.predict(out, lengths))
    torch.testing.assert_close(res["cuda"][0], res["cpu"][0], rtol=1e-4, atol=1e-5)
    assert torch.equal(res["cuda"][1].tube.cpu(), res["cpu"][1].tube)
