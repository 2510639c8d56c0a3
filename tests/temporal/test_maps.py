"""temporal.maps against slow, obviously-correct reference loops."""
import pytest
import torch

from temporal.maps import cell_moments, diagonal_cells, iou_map, moment_map, valid_mask


def ref_valid_cells(n, counts):
    """Set of (i, j) filled by the sparse map, written out as plain loops."""
    cells = {(i, i) for i in range(n)}
    offset, stride = 0, 1
    for c in counts:
        for _ in range(c):
            offset += stride
            i = 0
            while i < n - offset:
                cells.add((i, i + offset))
                i += stride
        stride *= 2
    return cells


def ref_moment_map(x, counts):
    """Per-diagonal max-pool chain with explicit windows, cell by cell."""
    b, c, n = x.shape
    out = torch.zeros(b, c, n, n, dtype=x.dtype)
    for i in range(n):
        out[:, :, i, i] = x[:, :, i]
    chain = [(2, 1)] * counts[0]
    for g in counts[1:]:
        chain += [(3, 2)] + [(2, 1)] * (g - 1)
    cur = x
    offset, stride, k = 0, 1, 0
    for g in counts:
        for _ in range(g):
            kernel, st = chain[k]
            length = (cur.shape[-1] - kernel) // st + 1
            nxt = torch.stack([cur[:, :, p * st: p * st + kernel].max(dim=-1).values for p in range(length)], dim=-1)
            offset += stride
            for p, i in enumerate(range(0, n - offset, stride)):
                out[:, :, i, i + offset] = nxt[:, :, p]
            cur = nxt
            k += 1
        stride *= 2
    return out


@pytest.mark.parametrize("n,counts,expected", [(16, [15], 136), (64, [15, 8, 8], 1104), (128, [15, 8, 8, 8], 2548)])
def test_valid_mask_counts_and_positions(n, counts, expected):
    mask = valid_mask(n, counts)
    assert mask.shape == (n, n) and mask.dtype == torch.bool
    assert int(mask.sum()) == expected
    got = {tuple(ij) for ij in torch.nonzero(mask).tolist()}
    assert got == ref_valid_cells(n, counts)


def test_valid_mask_small_explicit():
    # N=8, [3, 2]: offsets 1,2,3 (stride 1) then 5,7 (stride 2) on even rows
    mask = valid_mask(8, [3, 2])
    expected = {(i, i + o) for o in range(4) for i in range(8 - o)} | {(0, 5), (2, 7), (0, 7)}
    assert {tuple(ij) for ij in torch.nonzero(mask).tolist()} == expected


def test_charades_mask_is_full_upper_triangle():
    assert torch.equal(valid_mask(16, [15]), torch.ones(16, 16, dtype=torch.bool).triu())


@pytest.mark.parametrize("n,counts", [(16, [15]), (32, [7, 4, 3]), (64, [15, 8, 8])])
def test_moment_map_matches_reference_loop(n, counts):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(2, 3, n, generator=g)
    got = moment_map(x, counts)
    torch.testing.assert_close(got, ref_moment_map(x, counts), rtol=0, atol=0)
    assert (got[:, :, ~valid_mask(n, counts)] == 0).all()


def test_moment_map_cell_is_max_over_its_clips_for_stride_one():
    x = torch.randn(1, 4, 16)
    m = moment_map(x, [15])
    for i in range(16):
        for j in range(i, 16):
            torch.testing.assert_close(m[0, :, i, j], x[0, :, i:j + 1].max(dim=-1).values)


def test_moment_map_rejects_bad_input():
    with pytest.raises(ValueError, match="B, C, N"):
        moment_map(torch.zeros(3, 16), [15])
    with pytest.raises(ValueError, match="offset"):
        valid_mask(8, [15])
    with pytest.raises(ValueError):
        diagonal_cells(8, [])


def test_iou_map_reference_loop():
    n, duration, seg = 10, 23.7, (3.1, 11.9)
    got = iou_map(seg, duration, n)
    for i in range(n):
        for j in range(n):
            s, e = i * duration / n, (j + 1) * duration / n
            if j < i:
                ref = 0.0
            else:
                inter = max(0.0, min(e, seg[1]) - max(s, seg[0]))
                ref = inter / (max(e, seg[1]) - min(s, seg[0]))
            assert abs(float(got[i, j]) - ref) < 1e-6, (i, j)


def test_iou_map_exact_cell_and_errors():
    m = iou_map((2.0, 4.0), 8.0, 4)      # cells are 2 s long: (1, 1) is exactly [2, 4]
    assert float(m[1, 1]) == 1.0 and float(m[0, 1]) == 0.5 and float(m[2, 3]) == 0.0
    torch.testing.assert_close(cell_moments(4, 8.0)[1, 2], torch.tensor([2.0, 6.0]))
    with pytest.raises(ValueError, match="start < end"):
        iou_map((4.0, 4.0), 8.0, 4)
    with pytest.raises(ValueError, match="duration"):
        iou_map((1.0, 2.0), 0.0, 4)


def test_iou_map_accepts_segment():
    from stvg.structures import Segment
    torch.testing.assert_close(iou_map(Segment(1.0, 3.0), 8.0, 4), iou_map((1.0, 3.0), 8.0, 4))
