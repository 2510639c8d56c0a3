"""tools/extract_features.py --tubes: RoI features of the spatial stage's tube files."""
import importlib.util

import h5py
import pytest

from spatial.tubes import VideoTubes, write_tubes_json
from stvg.structures import Tube

from .conftest import REPO


def load_tool():
    spec = importlib.util.spec_from_file_location("extract_features_tool", REPO / "tools" / "extract_features.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_tubes_folder_gives_roi_features(make_video, tmp_path, capsys):
    for i in range(2):
        make_video(f"videos/v{i}.mp4", fps=10, num_frames=12, size=(64, 48))
    tubes_dir = tmp_path / "tubes"
    tube = Tube(range(2, 10), [[4, 4, 40, 40]] * 8, score=1.0)
    # build_tubes names videos by file stem: "v1" must match the extraction id "v1.mp4"
    write_tubes_json(str(tubes_dir / "v1.json"), VideoTubes("v1", 10.0, 12, 64, 48, 1, [tube, tube]))
    out = tmp_path / "f.h5"
    tool = load_tool()
    args = ["--videos", str(tmp_path / "videos"), "--tubes", str(tubes_dir), "--out", str(out), "--device",
            "cpu", "--no-progress", "BACKBONE.WEIGHTS", "none", "INPUT.SAMPLE_FPS", "5", "RUN.NUM_WORKERS", "0",
            "INPUT.RESIZE", "32", "ROI.NUM_SEGMENTS", "3"]
    assert tool.main(args) == 0, capsys.readouterr().err
    with h5py.File(out, "r") as f:
        assert f["v1.mp4"]["roi_features"].shape == (2, 3, 512)
        assert f["v0.mp4"]["roi_features"].shape == (0, 3, 512)
    with pytest.raises(ValueError, match="matches any video id"):
        write_tubes_json(str(tmp_path / "other" / "zz.json"), VideoTubes("zz", 10.0, 12, 64, 48, 1, [tube]))
        tool.tubes_by_video(str(tmp_path / "other"), ["v0.mp4"])
    assert tool.main(args[:2] + ["--tubes", str(tmp_path / "nope")] + args[4:]) == 2
