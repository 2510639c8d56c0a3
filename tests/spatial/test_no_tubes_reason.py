"""A video that yields no tube says why (too short, frames smaller than the HOG window)."""
import numpy as np


def test_build_tubes_says_why_there_is_no_tube(make_video, capsys):
    from tools import build_tubes as tool

    small = make_video("small.mp4", num_frames=20, size=(64, 48))
    assert tool.main(["--video", str(small), "--no-progress"]) == 0
    assert "smaller than the HOG detector's 64x128 window" in capsys.readouterr().out
    frames = np.full((1, 256, 192, 3), 90, np.uint8)
    one = make_video("one.mp4", frames=frames)
    assert tool.main(["--video", str(one), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "only 1 detection step(s)" in out and "too short for a tube" in out
