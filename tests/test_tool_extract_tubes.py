"""tools/extract_features.py --tubes: RoI features of the spatial stage's tube files, joined by video id."""
import importlib.util

import h5py
import pytest

from spatial.tubes import VideoTubes, read_tube_folder, write_tubes_json
from stvg.structures import Tube

from .conftest import REPO


def load_tool():
    spec = importlib.util.spec_from_file_location("extract_features_tool", REPO / "tools" / "extract_features.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_tubes_folder_gives_roi_features(make_video, tmp_path, capsys, caplog):
    for i in range(2):
        make_video(f"videos/v{i}.mp4", fps=10, num_frames=12, size=(64, 48))
    tubes_dir = tmp_path / "tubes"
    tube = Tube(range(2, 10), [[4, 4, 40, 40]] * 8, score=1.0)
    # one id rule: the tube file holds the video's file name, as the features do
    write_tubes_json(str(tubes_dir / "v1.mp4.json"), VideoTubes("v1.mp4", 10.0, 12, 64, 48, 1, [tube, tube]))
    out = tmp_path / "f.h5"
    tool = load_tool()
    args = ["--videos", str(tmp_path / "videos"), "--tubes", str(tubes_dir), "--out", str(out), "--device",
            "cpu", "--no-progress", "BACKBONE.WEIGHTS", "none", "INPUT.SAMPLE_FPS", "5", "RUN.NUM_WORKERS", "0",
            "INPUT.RESIZE", "32", "ROI.NUM_SEGMENTS", "3"]
    assert tool.main(args) == 0, capsys.readouterr().err
    with h5py.File(out, "r") as f:
        assert f["v1.mp4"]["roi_features"].shape == (2, 3, 512)
        assert f["v0.mp4"]["roi_features"].shape == (0, 3, 512)
    assert "1 of 2 videos have no tube file" in caplog.text and "v0.mp4" in caplog.text
    # a tube file named by another rule (the stem) never silently joins: it is an error
    write_tubes_json(str(tmp_path / "stem" / "v1.json"), VideoTubes("v1", 10.0, 12, 64, 48, 1, [tube]))
    with pytest.raises(ValueError, match="matches any video id.*'v1'"):
        read_tube_folder(str(tmp_path / "stem"), ["v0.mp4", "v1.mp4"])
    assert tool.main(args[:2] + ["--tubes", str(tmp_path / "stem")] + args[4:]) == 2
    assert tool.main(args[:2] + ["--tubes", str(tmp_path / "nope")] + args[4:]) == 2
    write_tubes_json(str(tubes_dir / "copy.json"), VideoTubes("v1.mp4", 10.0, 12, 64, 48, 1, [tube]))
    with pytest.raises(ValueError, match="also has the tube file"):
        read_tube_folder(str(tubes_dir), ["v1.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no tube file"):
        read_tube_folder(str(tmp_path / "empty"), ["v1.mp4"])
