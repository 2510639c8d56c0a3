"""temporal.st_iou: st-IoU targets of tube moment maps vs slow loops, a hand example, and tube_viou."""
from fractions import Fraction

import pytest
import torch

from stvg.ops import tube_viou
from stvg.structures import Tube
from temporal import st_iou_map
from temporal.st_iou import cell_box_bounds, cell_sub_tube


def box_iou_loop(a, b, plus_one):
    """Official (no +1) or released (+1 widths/heights) IoU of two boxes, in plain Python floats."""
    e = 1.0 if plus_one else 0.0
    w = min(a[2] + e, b[2] + e) - max(a[0], b[0])
    h = min(a[3] + e, b[3] + e) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    area = lambda x: (x[2] - x[0] + e) * (x[3] - x[1] + e)  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def st_iou_loop(tube, gt, n, plus_one=False):
    """Cell by cell: exact half-to-even bounds, then sum of per-frame IoU / span union."""
    t = len(tube)
    fr, bx = tube.frames.tolist(), tube.boxes.double().tolist()
    gt_box = dict(zip(gt.frames.tolist(), gt.boxes.double().tolist()))
    out = torch.zeros(n, n, dtype=torch.float64)
    for i in range(n):
        for j in range(i, n):
            lo, hi = round(Fraction(i * t, n)), round(Fraction((j + 1) * t, n))
            if lo >= hi or not gt_box:
                continue
            inter = sum(box_iou_loop(bx[k], gt_box[fr[k]], plus_one) for k in range(lo, hi) if fr[k] in gt_box)
            union = max(fr[hi - 1], gt.end_frame) - min(fr[lo], gt.start_frame) + 1
            out[i, j] = inter / union
    return out


def random_tube(g, start, length, dense=True, jitter=8.0):
    frames = torch.arange(start, start + length) if dense else \
        torch.sort(torch.randperm(3 * length, generator=g)[:length]).values + start
    xy = torch.rand(2, generator=g) * 50
    wh = 10 + torch.rand(2, generator=g) * 30
    base = torch.cat([xy, xy + wh])
    boxes = base + (torch.rand(length, 4, generator=g) - 0.5) * jitter
    boxes[:, 2:] = torch.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
    return Tube(frames, boxes)


CASES = [  # (tube start, tube len, gt start, gt len): partial overlaps, inside, containing, disjoint
    (0, 40, 10, 25), (15, 30, 0, 20), (5, 10, 0, 60), (0, 80, 30, 7), (50, 20, 0, 30), (0, 7, 3, 30)]


@pytest.mark.parametrize("plus_one", [False, True])
@pytest.mark.parametrize("n", [16, 8, 12, 5])
def test_matches_slow_loop(plus_one, n):
    g = torch.Generator().manual_seed(n + 100 * plus_one)
    for start, length, gs, gl in CASES:
        tube, gt = random_tube(g, start, length), random_tube(g, gs, gl)
        got = st_iou_map(tube, gt, n, plus_one=plus_one)
        assert got.shape == (n, n) and got.dtype == torch.float32
        torch.testing.assert_close(got.double(), st_iou_loop(tube, gt, n, plus_one), rtol=1e-6, atol=1e-7)
    # non-dense tubes follow the same formula (sum over shared frames / span union)
    tube, gt = random_tube(g, 3, 30, dense=False), random_tube(g, 0, 40, dense=False)
    torch.testing.assert_close(st_iou_map(tube, gt, n, plus_one).double(), st_iou_loop(tube, gt, n, plus_one),
                               rtol=1e-6, atol=1e-7)


def test_dense_official_cell_is_viou_of_sub_tube():
    g = torch.Generator().manual_seed(3)
    n = 16
    for start, length, gs, gl in CASES:
        tube, gt = random_tube(g, start, length), random_tube(g, gs, gl)
        got = st_iou_map(tube, gt, n)
        for i in range(n):
            for j in range(n):
                sub = cell_sub_tube(tube, i, j, n)
                want = tube_viou(sub, gt).float() if i <= j and len(sub) else torch.tensor(0.0)
                torch.testing.assert_close(got[i, j], want, rtol=1e-6, atol=1e-7)


def test_hand_example():
    # tube: frames 0..3, unit boxes at x = 0; gt: frames 2..5, the same boxes on 2 and 3.
    tube = Tube(torch.arange(4), torch.tensor([[0.0, 0.0, 2.0, 2.0]] * 4))
    gt = Tube(torch.arange(2, 6), torch.tensor([[0.0, 0.0, 2.0, 2.0], [1.0, 0.0, 3.0, 2.0]] * 2))
    # gt box IoU with the tube box: frame 2 -> 1, frame 3 -> 2/6 = 1/3 (plus_one: 6/12 = 1/2).
    got = st_iou_map(tube, gt, 2)  # cells: (0,0) rows 0..1, (0,1) rows 0..3, (1,1) rows 2..3
    want = torch.tensor([[0.0, (1 + 1 / 3) / 6], [0.0, (1 + 1 / 3) / 4]])
    torch.testing.assert_close(got, want)
    # plus_one: frame 2: 9/9 = 1, frame 3: inter 2x3 = 6 over 9 + 9 - 6 = 12 -> 1/2
    want1 = torch.tensor([[0.0, 1.5 / 6], [0.0, 1.5 / 4]])
    torch.testing.assert_close(st_iou_map(tube, gt, 2, plus_one=True), want1)
    # 4 cells over 3 boxes: bounds round(k * 3 / 4) = 0, 1 (0.75), 2 (1.5 -> 2), 2 (2.25), 3
    assert cell_box_bounds(3, 4).tolist() == [0, 1, 2, 2, 3]
    short = Tube(torch.arange(3), torch.tensor([[0.0, 0.0, 2.0, 2.0]] * 3))
    m = st_iou_map(short, short, 4)
    assert m[2, 2] == 0 and m[1, 1] > 0 and (m.tril(-1) == 0).all()   # rows 2:2 empty


def test_bounds_half_to_even_and_released_float32_rounding():
    for n in (5, 10, 12, 16, 64):
        for t in range(1, 200):
            exact = [round(Fraction(k * t, n)) for k in range(n + 1)]
            assert cell_box_bounds(t, n).tolist() == exact
            if n in (16, 64):  # the released float32 rule gives the same for power-of-two N
                k = torch.arange(n + 1)
                assert torch.round(k / n * t).long().tolist() == exact
    k = torch.arange(13)
    assert torch.round(k / 12 * 54).long()[7] == 31 and cell_box_bounds(54, 12)[7] == 32


def test_empty_tubes_and_device_follows_input():
    t = Tube(torch.arange(5), torch.rand(5, 4) + torch.tensor([0, 0, 1, 1]))
    empty = Tube(torch.zeros(0, dtype=torch.long), torch.zeros(0, 4))
    assert torch.equal(st_iou_map(empty, t, 4), torch.zeros(4, 4))
    assert torch.equal(st_iou_map(t, empty, 4), torch.zeros(4, 4))
    if torch.cuda.is_available():
        g = torch.Generator().manual_seed(0)
        a, b = random_tube(g, 0, 40), random_tube(g, 10, 25)
        got = st_iou_map(a.to("cuda"), b.to("cuda"), 16)
        assert got.device.type == "cuda"
        torch.testing.assert_close(got.cpu(), st_iou_map(a, b, 16))
