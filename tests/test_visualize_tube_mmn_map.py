"""tools/visualize_predictions.py draws, for a tube_mmn part file (one score map per candidate tube,
``windows`` each tube's span), the map of the answer tube (``tube_index``) with its ``cell``, not the
first tube's; a two_stage part file still gets the map of the window holding the answer."""
import json

import numpy as np
import pytest

from stvg.structures import Tube
from stvg.submission import tube_to_entry
from tests.test_kill_resume_training import _main

N = 4  # clips per map side


def _inputs(tmp_path, make_video, result):
    """A 20-frame video 'v', its challenge-format ground truth (frames 4..11), a submission and the
    part file holding ``result``."""
    make_video("v.mp4", num_frames=20, fps=10)
    boxes = np.tile(np.array([[5.0, 5.0, 30.0, 40.0]], dtype=np.float32), (8, 1))
    gt = {"v": tube_to_entry(Tube(np.arange(4, 12), boxes))}
    pred = {"v": tube_to_entry(Tube(np.arange(6, 14), boxes))}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "sub.json").write_text(json.dumps(pred))
    (tmp_path / "sub.json.parts").mkdir()
    (tmp_path / "sub.json.parts" / "v.json").write_text(json.dumps({"video_id": "v", "result": result}))
    return ["--pred", str(tmp_path / "sub.json"), "--gt", str(tmp_path / "gt.json"), "--video-dir", str(tmp_path),
            "--out", str(tmp_path / "vis"), "--overlay-fps", "2"]


@pytest.fixture
def drawn(monkeypatch):
    """The score maps given to stvg.visualize.score_map_image: ``[(scores, kwargs)]``."""
    import stvg.visualize as vis

    calls, real = [], vis.score_map_image

    def record(scores, mask=None, pred_cell=None, gt_cell=None, title="", window=None):
        calls.append((np.asarray(scores), dict(pred_cell=pred_cell, gt_cell=gt_cell, title=title, window=window)))
        return real(scores, mask, pred_cell, gt_cell, title, window)

    monkeypatch.setattr(vis, "score_map_image", record)
    return calls


def test_tube_mmn_part_file_draws_the_answer_tube_s_map(tmp_path, make_video, drawn):
    maps = [np.full((N, N), 0.25 * (k + 1)) for k in range(3)]  # tube k's map holds (k + 1) / 4
    maps[2][1, 2] = 0.875
    result = {"mode": "tube_mmn", "found": True, "segment": [0.6, 1.4], "frames": [6, 13], "tube_index": 2,
              "cell": [1, 2], "windows": [[0.0, 2.0], [0.2, 1.0], [0.4, 1.6]],
              "score_map": [m.tolist() for m in maps], "score_mask": np.triu(np.ones((N, N), int)).tolist()}
    assert _main("tools/visualize_predictions.py")(_inputs(tmp_path, make_video, result)) == 0
    assert len(drawn) == 1
    scores, kw = drawn[0]
    np.testing.assert_array_equal(scores, maps[2])
    # ground truth 0.4-1.2 s in tube 2's span 0.4-1.6 s: clips of 0.3 s, cells 0..2
    assert kw == {"pred_cell": (1, 2), "gt_cell": (0, 2), "title": "v: tube 2 score map", "window": (0.4, 1.6)}
    assert (tmp_path / "vis" / "maps" / "v.png").is_file()
    assert "maps/v.png" in (tmp_path / "vis" / "index.html").read_text()


def test_tube_mmn_without_an_answer_tube_draws_no_map(tmp_path, make_video, drawn):
    result = {"mode": "tube_mmn", "found": False, "segment": [0.6, 1.4], "frames": [6, 13], "tube_index": -1,
              "windows": [[0.0, 2.0]], "score_map": [np.zeros((N, N)).tolist()]}
    assert _main("tools/visualize_predictions.py")(_inputs(tmp_path, make_video, result)) == 0
    assert drawn == [] and not (tmp_path / "vis" / "maps").exists()


def test_two_stage_part_file_draws_the_window_holding_the_answer(tmp_path, make_video, drawn):
    maps = [np.full((N, N), 0.25), np.full((N, N), 0.75)]
    result = {"mode": "two_stage", "found": True, "segment": [1.2, 1.8], "frames": [12, 17], "tube_index": 0,
              "windows": [[0.0, 1.0], [1.0, 2.0]], "score_map": [m.tolist() for m in maps]}
    assert _main("tools/visualize_predictions.py")(_inputs(tmp_path, make_video, result)) == 0
    scores, kw = drawn[0]
    np.testing.assert_array_equal(scores, maps[1])
    assert kw["window"] == (1.0, 2.0) and kw["pred_cell"] == (0, 3)
