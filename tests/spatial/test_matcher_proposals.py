"""SOLVER.TRAIN_WINDOW proposals: the vIoU of a tube cut to a window (against a slow loop), the grid
moments, the window draws and their targets in a batch, and exact resume of a proposals run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from spatial.matcher.data import collate, grid_moment, proposal_windows, span_viou, window_viou
from stvg.tube_geometry import window_mask
from spatial.matcher.train import train_videos
from stvg.config import ConfigError
from stvg.structures import Tube

from .test_matcher_helpers import planted_videos, random_tubes, tiny_cfg


def _slow_window_viou(tube: Tube, gt: Tube, first: int, last: int) -> float:
    """Official vIoU, frame by frame in Python floats, of the tube's frames inside first..last."""
    pred = {int(f): [float(x) for x in b] for f, b in zip(tube.frames.tolist(), tube.boxes.tolist())
            if first <= f <= last}
    ref = {int(f): [float(x) for x in b] for f, b in zip(gt.frames.tolist(), gt.boxes.tolist())}
    if not pred or not ref:
        return 0.0
    union = max(max(pred), max(ref)) - min(min(pred), min(ref)) + 1
    total = 0.0
    for f in pred:
        if f not in ref:
            continue
        a, b = pred[f], ref[f]
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        total += inter / u if u > 0 else 0.0
    return total / union


def _with_gaps(rng, tube: Tube) -> Tube:
    keep = rng.random(len(tube)) < 0.7
    keep[0] = True
    return Tube(tube.frames[torch.from_numpy(keep)], tube.boxes[torch.from_numpy(keep)])


def test_window_viou_matches_a_slow_loop():
    rng = np.random.default_rng(0)
    for _ in range(60):
        gt, *tubes = [_with_gaps(rng, t) for t in random_tubes(rng, 5)]
        for tube in tubes:
            a = int(rng.integers(0, 60))
            b = int(rng.integers(a, 60))
            assert window_viou(tube, gt, a, b) == pytest.approx(_slow_window_viou(tube, gt, a, b), abs=1e-9)
            # the ground-truth span as the window is the span-restricted vIoU, bit for bit
            assert window_viou(tube, gt, gt.start_frame, gt.end_frame) == span_viou(tube, gt)
    gt = Tube(np.arange(10, 20), np.tile([0, 0, 10, 10], (10, 1)))
    assert window_viou(gt, gt, 10, 19) == pytest.approx(1.0)
    assert window_viou(gt, gt, 10, 14) == pytest.approx(0.5)      # a window half of the span
    assert window_viou(gt, gt, 30, 40) == 0.0                     # nothing inside
    assert window_viou(Tube(np.zeros(0), np.zeros((0, 4))), gt, 0, 50) == 0.0


def test_grid_moments_partition_the_video():
    for n, g in ((200, 16), (37, 16), (16, 16), (5, 16), (1, 3)):
        cells = [grid_moment(k, k, n, g) for k in range(g)]
        if n >= g:   # every frame in exactly one cell
            covered = np.concatenate([np.arange(a, b + 1) for a, b in cells])
            assert covered.tolist() == list(range(n))
        assert all(0 <= a <= b < n for a, b in cells)
        assert grid_moment(0, g - 1, n, g) == (0, n - 1)
    assert grid_moment(2, 5, 160, 16) == (20, 59)
    with pytest.raises(ValueError, match="start cell"):
        grid_moment(3, 2, 100, 16)


def test_proposal_draws_and_batch_targets():
    videos = planted_videos(12, 0, num_frames=64)
    for v in videos[::3]:   # ground truths on part of the video, so a wrong window matters
        part = v.gt.crop(20, 40)
        v.gt, v.gt_window = part, (20, 40)
        v.viou = np.array([span_viou(t, part) for t in v.tubes], np.float32)
    g = torch.Generator().manual_seed(5)
    again = torch.Generator().manual_seed(5)
    batch = collate(videos, "proposals", g, proposal_gt_prob=0.3, proposal_grid=8)
    drawn = proposal_windows(videos, again, 0.3, 8)
    assert torch.equal(g.get_state(), again.get_state())           # the batch drew exactly these
    assert any(is_gt for _, is_gt in drawn) and not all(is_gt for _, is_gt in drawn)
    start = 0
    for i, (v, (win, is_gt)) in enumerate(zip(videos, drawn)):
        n = v.num_tubes
        if is_gt:
            assert win == v.gt_window
            assert torch.equal(batch.viou[i, start:start + n], torch.from_numpy(v.viou))
        else:
            cells = [grid_moment(a, b, v.num_frames, 8) for a in range(8) for b in range(a, 8)]
            assert win in cells
            want = [_slow_window_viou(t, v.gt, *win) for t in v.tubes]
            assert batch.viou[i, start:start + n].tolist() == pytest.approx(want, abs=1e-6)
        assert torch.equal(batch.mask[start:start + n], window_mask(v.layout, win)[0])
        assert not batch.viou[i, :start].any() and not batch.viou[i, start + n:].any()
        start += n
    assert all(w == v.gt_window and is_gt for (w, is_gt), v in
               zip(proposal_windows(videos, torch.Generator().manual_seed(1), 1.0, 8), videos))
    assert not any(is_gt for _, is_gt in proposal_windows(videos, torch.Generator().manual_seed(1), 0.0, 8))
    # start <= end cells, uniform over the pairs: every one of the 10 moments of a 4-cell grid shows up
    many = proposal_windows(planted_videos(1, 3, num_frames=64) * 400, torch.Generator().manual_seed(2), 0.0, 4)
    assert len({w for w, _ in many}) == 10


def test_config_checks():
    with pytest.raises(ConfigError, match="PROPOSAL_GT_PROB"):
        tiny_cfg("SOLVER.PROPOSAL_GT_PROB", "1.5")
    with pytest.raises(ConfigError, match="PROPOSAL_GRID"):
        tiny_cfg("SOLVER.PROPOSAL_GRID", "0")
    assert tiny_cfg("SOLVER.TRAIN_WINDOW", "proposals").SOLVER.PROPOSAL_GRID == 16


def test_proposals_run_resumes_bit_identical(tmp_path):
    train = planted_videos(24, 0)
    common = ("SOLVER.TRAIN_WINDOW", "proposals", "SOLVER.PROPOSAL_GRID", "4", "MODEL.DROPOUT", "0.2",
              "SOLVER.MILESTONES", "[1]")
    a = train_videos(tiny_cfg("SOLVER.EPOCHS", "2", *common, out=tmp_path / "a"), train, progress=False,
                     return_model=True)[1]
    train_videos(tiny_cfg("SOLVER.EPOCHS", "1", *common, out=tmp_path / "c"), train, progress=False)
    c = train_videos(tiny_cfg("SOLVER.EPOCHS", "2", *common, out=tmp_path / "c"), train, resume=True,
                     progress=False, return_model=True)[1]
    for k, v in a.state_dict().items():
        assert torch.equal(v, c.state_dict()[k]), k
    gt_run = train_videos(tiny_cfg("SOLVER.EPOCHS", "2", *common[2:], out=tmp_path / "g"), train, progress=False,
                          return_model=True)[1]
    assert any(not torch.equal(v, gt_run.state_dict()[k]) for k, v in a.state_dict().items())
