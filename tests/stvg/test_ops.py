"""Ops against slow, obviously-correct reference loops, on random inputs and edge cases."""
import pytest
import torch

from stvg.ops import box_iou, box_iou_aligned, nms_1d, segment_iou, segment_iou_aligned, tube_viou
from stvg.structures import Tube
from tests.stvg.official_reference import box_iou_ref

from ..conftest import requires_cuda


def seg_iou_ref(a, b):
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if inter > 0 else 0.0


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
