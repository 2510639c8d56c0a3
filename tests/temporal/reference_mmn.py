"""An independent re-implementation of the reference MMN forward pass, for the checkpoint-import test.

Written for this project from the behaviour stated in docs/temporal.md and the reference's module layout,
so that its ``state_dict`` has the reference key names (``featpool.conv``, ``proposal_conv.convs.{i}``,
``proposal_conv.bn.{i}``, ``proposal_conv.conv1x1_iou``, ``proposal_conv.conv1x1_contrastive``,
``text_encoder.bert``, ``text_encoder.layernorm``, ``text_encoder.fc_out1`` (IoU),
``text_encoder.fc_out2`` (contrastive)). It deliberately computes things the slow way: the mask
propagation at every forward, the moment map cell by cell, the text encoder video by video with word
lengths, the scores per video. Eval mode only.
"""
import torch
import torch.nn.functional as F
from torch import nn


class RefFeatPool(nn.Module):
    def __init__(self, d_in, hidden, kernel, stride):
        super().__init__()
        self.conv = nn.Conv1d(d_in, hidden, 1)
        self.kernel, self.stride = kernel, stride

    def forward(self, x):                      # [B, T, D]
        y = torch.relu(self.conv(x.permute(0, 2, 1)))
        n = (y.shape[-1] - self.kernel) // self.stride + 1
        return torch.stack([y[..., k * self.stride: k * self.stride + self.kernel].mean(-1) for k in range(n)], -1)


def ref_sparse_map(x, counts):
    """Cell by cell: stride-1 cells of the first group are the max over their clips; later groups apply
    the pools one window at a time."""
    b, c, n = x.shape
    out = x.new_zeros(b, c, n, n)
    level = x
    offset, stride = 0, 1
    for gi, g in enumerate(counts):
        for step in range(g):
            kernel, st = (3, 2) if (gi > 0 and step == 0) else (2, 1)
            m = (level.shape[-1] - kernel) // st + 1
            level = torch.stack([level[..., p * st: p * st + kernel].amax(-1) for p in range(m)], -1)
            offset += stride
            for p in range(m):
                out[:, :, p * stride, p * stride + offset] = level[..., p]
        stride *= 2
    for i in range(n):
        out[:, :, i, i] = x[..., i]
    return out


def ref_mask(n, counts):
    m = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        m[i, i] = True
    offset, stride = 0, 1
    for g in counts:
        for _ in range(g):
            offset += stride
            for i in range(0, n - offset, stride):
                m[i, i + offset] = True
        stride *= 2
    return m


class RefProposalConv(nn.Module):
    def __init__(self, hidden, joint, k, layers, mask):
        super().__init__()
        self.k, self.layers, self.mask = k, layers, mask
        pad = (k - 1) * layers // 2
        self.convs = nn.ModuleList([nn.Conv2d(hidden, hidden, k, padding=pad if i == 0 else 0) for i in range(layers)])
        self.bn = nn.ModuleList([nn.BatchNorm2d(hidden) for _ in range(layers)])
        self.conv1x1_iou = nn.Conv2d(hidden, joint, 1)
        self.conv1x1_contrastive = nn.Conv2d(hidden, joint, 1)

    def forward(self, x):
        cur = self.mask.float()[None, None]
        for i in range(self.layers):
            x = torch.relu(self.bn[i](self.convs[i](x)))
            conv = self.convs[i]
            count = F.conv2d(cur, torch.ones(1, 1, self.k, self.k), padding=conv.padding).round()
            weight = torch.zeros_like(count)
            weight[count > 0] = 1.0 / count[count > 0]
            cur = (weight > 0).float()
            x = x * weight
        return self.conv1x1_contrastive(x), self.conv1x1_iou(x)


class RefTextEncoder(nn.Module):
    def __init__(self, bert, joint):
        super().__init__()
        self.bert = bert
        h = bert.config.hidden_size
        self.fc_out1 = nn.Linear(h, joint)
        self.fc_out2 = nn.Linear(h, joint)
        self.layernorm = nn.LayerNorm(h)

    def forward(self, queries, wordlens):
        """queries: list per video of LongTensor[n_v, L_v]; wordlens: list of LongTensor[n_v]."""
        con, iou = [], []
        for q, lens in zip(queries, wordlens):
            att = torch.zeros(q.shape, dtype=torch.float32)
            for r in range(q.shape[0]):
                att[r, : int(lens[r])] = 1
            states = self.bert(q, attention_mask=att)[0]
            pooled = torch.stack([states[r, : int(lens[r])].sum(0) / float(lens[r]) for r in range(q.shape[0])])
            pooled = self.layernorm(pooled)
            iou.append(self.fc_out1(pooled))
            con.append(self.fc_out2(pooled))
        return con, iou


class RefMMN(nn.Module):
    def __init__(self, d_in, hidden, joint, pre, n, pool_kernel, counts, k, layers, bert):
        super().__init__()
        self.counts, self.n = counts, n
        self.mask = ref_mask(n, counts)
        self.featpool = RefFeatPool(d_in, hidden, pool_kernel, pre // n)
        self.proposal_conv = RefProposalConv(hidden, joint, k, layers, self.mask)
        self.text_encoder = RefTextEncoder(bert, joint)

    @torch.no_grad()
    def final_scores(self, feats, queries, wordlens, score_pow):
        """List per video of Tensor[n_v, N, N]: ((con * 0.5 + 0.5) ** pow) * sigmoid(10 * cos_iou), masked."""
        clips = self.featpool(feats)
        map_con, map_iou = self.proposal_conv(ref_sparse_map(clips, self.counts))
        con, iou = self.text_encoder(queries, wordlens)
        result = []
        for v in range(feats.shape[0]):
            vc = F.normalize(map_con[v], dim=0).reshape(map_con.shape[1], -1)
            vi = F.normalize(map_iou[v], dim=0).reshape(map_iou.shape[1], -1)
            s_iou = torch.sigmoid(10 * (F.normalize(iou[v], dim=1) @ vi)).reshape(-1, self.n, self.n) * self.mask
            s_con = (F.normalize(con[v], dim=1) @ vc).reshape(-1, self.n, self.n) * self.mask
            result.append(torch.pow(s_con * 0.5 + 0.5, score_pow) * s_iou)
        return result
