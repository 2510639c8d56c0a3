"""Ops against slow, obviously-correct reference loops, on random inputs and edge cases; the numpy
fast paths against the same references and bit for bit against their torch twins."""
import numpy as np
import pytest
import torch

from stvg.ops import (best_cut_tube, box_iou, box_iou_aligned, box_iou_aligned_np, box_iou_np, nms_1d,
                      segment_iou, segment_iou_aligned, segment_iou_aligned_np, tube_viou)
from stvg.structures import Segment, Tube
from tests.stvg.official_reference import box_iou_ref

from ..conftest import requires_cuda


def seg_iou_ref(a, b, union="span"):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    if union == "span":
        u = max(a[1], b[1]) - min(a[0], b[0])
    else:
        u = (a[1] - a[0]) + (b[1] - b[0]) - inter
    return inter / u if inter > 0 else 0.0


def random_boxes(n, gen, zero_area_share=0.2):
    xy = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 50
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 30
    wh[torch.rand(n, generator=gen) < zero_area_share, 0] = 0
    return torch.cat([xy, xy + wh], dim=1)


EDGE_BOXES = torch.tensor([
    [0, 0, 10, 10], [10, 0, 20, 10],   # touching
    [30, 30, 40, 40],                  # disjoint
    [0, 0, 10, 10],                    # identical to the first
    [5, 5, 5, 5], [5, 5, 5, 5],        # zero area, identical
    [2, 2, 8, 2],                      # zero height inside the first
], dtype=torch.float64)


def test_box_iou_matches_reference_loop():
    gen = torch.Generator().manual_seed(0)
    a = torch.cat([random_boxes(40, gen), EDGE_BOXES])
    b = torch.cat([random_boxes(30, gen), EDGE_BOXES])
    ref = torch.tensor([[box_iou_ref(x.tolist(), y.tolist()) for y in b] for x in a], dtype=torch.float64)
    torch.testing.assert_close(box_iou(a, b), ref)
    torch.testing.assert_close(box_iou_aligned(a[:, None], b[None]), ref)
    assert box_iou(EDGE_BOXES[:1], EDGE_BOXES[1:2]).item() == 0.0
    assert box_iou(EDGE_BOXES[4:5], EDGE_BOXES[5:6]).item() == 0.0
    assert box_iou(EDGE_BOXES[:1], EDGE_BOXES[3:4]).item() == 1.0


def test_segment_iou_matches_reference_loop():
    gen = torch.Generator().manual_seed(1)
    s = torch.rand(50, 1, generator=gen, dtype=torch.float64) * 10
    a = torch.cat([s, s + torch.rand(50, 1, generator=gen, dtype=torch.float64) * 5], 1)
    edges = torch.tensor([[0, 1], [1, 2], [3, 4], [0, 1], [2, 2], [2, 2]], dtype=torch.float64)
    a = torch.cat([a, edges])
    ref = torch.tensor([[seg_iou_ref(x.tolist(), y.tolist()) for y in a] for x in a], dtype=torch.float64)
    torch.testing.assert_close(segment_iou(a, a), ref)
    # batched: leading dims broadcast
    batched = segment_iou(a.view(4, -1, 2), a.view(4, -1, 2))
    for i in range(4):
        torch.testing.assert_close(batched[i], segment_iou(a.view(4, -1, 2)[i], a.view(4, -1, 2)[i]))
    torch.testing.assert_close(segment_iou_aligned(a, a.flip(0)), ref.diagonal(0).new_tensor(
        [seg_iou_ref(x.tolist(), y.tolist()) for x, y in zip(a, a.flip(0))]))


def random_segments(gen):
    s = torch.rand(50, 1, generator=gen, dtype=torch.float64) * 10
    a = torch.cat([s, s + torch.rand(50, 1, generator=gen, dtype=torch.float64) * 5], 1)
    edges = torch.tensor([[0, 1], [1, 2], [3, 4], [0, 1], [2, 2], [2, 2]], dtype=torch.float64)
    return torch.cat([a, edges])


def test_segment_iou_sum_union_matches_reference_loop():
    a = random_segments(torch.Generator().manual_seed(5))
    ref = torch.tensor([[seg_iou_ref(x, y, "sum") for y in a.tolist()] for x in a.tolist()], dtype=torch.float64)
    torch.testing.assert_close(segment_iou(a, a, union="sum"), ref)
    assert segment_iou(a[-2:], a[-2:], union="sum").eq(0).all()  # zero union (two points): 0, not NaN
    # The two roundings of one union decide an exact tie differently (why both exist: see the docstring).
    tie = torch.tensor([[0.0, 4.2], [2.1, 4.2]], dtype=torch.float64)
    assert segment_iou(tie[:1], tie[1:]).item() == 0.5
    assert segment_iou(tie[:1], tie[1:], union="sum").item() < 0.5
    with pytest.raises(ValueError, match="union"):
        segment_iou(a, a, union="hull")


def test_numpy_fast_paths_equal_torch_bit_for_bit():
    gen = torch.Generator().manual_seed(6)
    a = torch.cat([random_boxes(40, gen), EDGE_BOXES])
    b = torch.cat([random_boxes(30, gen), EDGE_BOXES])
    an, bn = a.numpy(), b.numpy()
    ref = np.array([[box_iou_ref(x, y) for y in bn.tolist()] for x in an.tolist()])
    got = box_iou_np(an, bn)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(got, box_iou(a, b).numpy())
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    np.testing.assert_array_equal(box_iou_np(an, bn, area(an), area(bn)), got)
    # aligned, with NaN rows (a frame where a tube has no box) giving 0
    an2, bn2 = an[:30].copy(), bn[:30].copy()
    an2[::7] = np.nan
    aligned = box_iou_aligned_np(an2, bn2)
    exp = box_iou_aligned(torch.from_numpy(an2), torch.from_numpy(bn2)).numpy()
    np.testing.assert_array_equal(aligned, exp)
    assert (aligned[::7] == 0).all()
    np.testing.assert_allclose(aligned[1:7], [box_iou_ref(x, y) for x, y in zip(an2[1:7].tolist(), bn2[1:7].tolist())])
    s = random_segments(gen)
    sn, rn = s.numpy(), s.flip(0).numpy()
    got = segment_iou_aligned_np(sn, rn)
    np.testing.assert_array_equal(got, segment_iou_aligned(s, s.flip(0)).numpy())
    np.testing.assert_allclose(got, [seg_iou_ref(x, y) for x, y in zip(sn.tolist(), rn.tolist())])


def test_segment_iou_method_is_the_family():
    gen = torch.Generator().manual_seed(7)
    s = random_segments(gen).tolist()
    for x, y in zip(s, s[::-1]):
        got = Segment(*x).iou(Segment(*y))
        assert type(got) is float and got == seg_iou_ref(x, y)
        x64, y64 = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
        assert got == segment_iou_aligned(x64, y64).item()


def tube_viou_ref(p: Tube, g: Tube):
    pb = dict(zip(p.frames.tolist(), p.boxes.double().tolist()))
    gb = dict(zip(g.frames.tolist(), g.boxes.double().tolist()))
    union = max(p.end_frame, g.end_frame) - min(p.start_frame, g.start_frame) + 1
    return sum(box_iou_ref(pb[f], gb[f]) for f in pb if f in gb) / union


def test_tube_viou_matches_reference():
    gen = torch.Generator().manual_seed(2)
    for _ in range(30):
        n, m = (int(x) for x in torch.randint(1, 40, (2,), generator=gen))
        pf = torch.sort(torch.randperm(60, generator=gen)[:n]).values
        gf = torch.sort(torch.randperm(60, generator=gen)[:m]).values
        p = Tube(pf, random_boxes(n, gen).float())
        g = Tube(gf, random_boxes(m, gen).float())
        assert tube_viou(p, g).item() == pytest.approx(tube_viou_ref(p, g), abs=1e-12)
    same = Tube([1, 2, 3], [[0, 0, 4, 4]] * 3)
    assert tube_viou(same, same).item() == 1.0
    far = Tube([10, 11], [[0, 0, 4, 4]] * 2)
    assert tube_viou(same, far).item() == 0.0
    assert tube_viou(Tube([], torch.zeros(0, 4)), same).item() == 0.0


def test_best_cut_tube_is_the_best_of_the_cut_tubes():
    gen = torch.Generator().manual_seed(4)
    g = Tube(torch.arange(20, 40), random_boxes(20, gen).float())
    tubes = []
    for _ in range(6):
        a = int(torch.randint(0, 50, (1,), generator=gen))
        n = int(torch.randint(1, 30, (1,), generator=gen))
        tubes.append(Tube(torch.arange(a, a + n), random_boxes(n, gen).float()))
    cut = [t.crop(20, 39) for t in tubes]
    scored = [(tube_viou_ref(c, g), i) for i, c in enumerate(cut) if len(c)]
    best = best_cut_tube(tubes, g)
    want = cut[max(scored, key=lambda x: (x[0], -x[1]))[1]]
    assert torch.equal(best.frames, want.frames) and torch.equal(best.boxes, want.boxes)
    assert best.start_frame >= 20 and best.end_frame <= 39
    assert best_cut_tube([Tube([0, 1], [[0, 0, 4, 4]] * 2)], g) is None and best_cut_tube([], g) is None


def test_nms_1d_greedy_reference():
    gen = torch.Generator().manual_seed(3)
    s = torch.rand(40, 1, generator=gen) * 10
    segs = torch.cat([s, s + 0.5 + torch.rand(40, 1, generator=gen) * 4], 1)
    scores = torch.rand(40, generator=gen)
    order = sorted(range(40), key=lambda i: -scores[i].item())
    keep = []
    for i in order:
        if all(seg_iou_ref(segs[i].tolist(), segs[k].tolist()) <= 0.5 for k in keep):
            keep.append(i)
    assert nms_1d(segs, scores, 0.5).tolist() == keep
    assert nms_1d(segs, scores, 0.5, top_k=3).tolist() == keep[:3]


@requires_cuda
def test_ops_cuda_same_numbers():
    gen = torch.Generator().manual_seed(4)
    a, b = random_boxes(50, gen), random_boxes(40, gen)
    torch.testing.assert_close(box_iou(a.cuda(), b.cuda()).cpu(), box_iou(a, b))
    torch.testing.assert_close(box_iou_aligned(a.cuda()[:, None], b.cuda()[None]).cpu(),
                               box_iou_aligned(a[:, None], b[None]))
