"""The last open items of the bad-input pass (issue 14): a refused feature run leaves no parts folder,
Ctrl-C is one line and exit 130, a file that is no torch file says so, a video without tubes says
why, an annotation file with no usable entry stops every job tool before any output, and --videos
takes one video file. Through each tool's main() in-process, and one CLI run interrupted by SIGINT."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.test_exercise_pass import _listing
from tests.test_kill_resume_training import _main
from tests.test_pipeline_tiny import tiny_model  # noqa: F401  (fixture)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEATURES_CFG = os.path.join(REPO, "configs/features/synthetic_resnet18.yaml")


def _last_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


# --- 1. extract_features refused at the backbone: no parts folder left, earlier parts kept ---------
@pytest.fixture
def no_weights(monkeypatch):
    from stvg.features import run

    def refuse(cfg, device):
        raise OSError("backbone resnet18 with weights IMAGENET1K_V1: cannot get the weights (offline)")

    monkeypatch.setattr(run.FeatureExtractor, "from_config", staticmethod(refuse))


def test_backbone_refused_leaves_nothing(tmp_path, capsys, no_weights):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"never decoded")
    before = _listing(tmp_path)
    argv = ["--videos", str(tmp_path / "videos"), "--out", str(tmp_path / "new" / "sub" / "f.h5"), "--no-progress"]
    assert _main("tools/extract_features.py")(argv) == 2
    assert "cannot get the weights" in _last_line(capsys)
    assert _listing(tmp_path) == before  # neither f.h5.parts nor the folders made for it


def test_backbone_refused_keeps_earlier_parts(tmp_path, capsys, no_weights):
    import numpy as np

    from stvg.features import load_features_config
    from stvg.features.run import feature_settings
    from stvg.features.store import feature_store

    (tmp_path / "videos").mkdir()
    for vid in ("a.mp4", "b.mp4"):
        (tmp_path / "videos" / vid).write_bytes(b"never decoded")
    out = tmp_path / "f.h5"
    store = feature_store(str(out), feature_settings(load_features_config(None, [])))
    store.check_settings()  # an earlier run that stopped before its first video: still its folder
    argv = ["--videos", str(tmp_path / "videos"), "--out", str(out), "--no-progress"]
    assert _main("tools/extract_features.py")(argv) == 2
    assert os.path.isfile(store.settings_path)
    store.write("a.mp4", {"features": np.zeros((1, 2), np.float32)})  # an earlier run's part
    before = _listing(tmp_path)
    assert _main("tools/extract_features.py")(argv) == 2
    assert _listing(tmp_path) == before
    capsys.readouterr()


# --- 2. Ctrl-C ----------------------------------------------------------------------------------
@pytest.mark.parametrize("hint, line", [
    (None, "interrupted"),
    ("RESUMES", "interrupted: rerun the same command to resume"),
    ("RESUMES_WITH_FLAG", "interrupted: rerun the same command with --resume to continue from OUTPUT_DIR/last.pth"),
])
def test_keyboard_interrupt_is_one_line_and_130(capsys, hint, line):
    from stvg import cli

    def work(argv=None):
        raise KeyboardInterrupt

    main = cli.tool_main(work) if hint is None else cli.tool_main(interrupted=getattr(cli, hint))(work)
    assert main([]) == 130
    assert capsys.readouterr().err == line + "\n"


def test_sigint_during_extraction_then_resume(make_video, tmp_path, capsys):
    """SIGINT once the first video's part is written (the second, longer one is in hand)."""
    make_video("a.mp4", num_frames=10)
    make_video("b.mp4", num_frames=300)
    out = tmp_path / "f.h5"
    argv = ["--videos", str(tmp_path), "--out", str(out), "--config", FEATURES_CFG, "--device", "cpu",
            "--no-progress", "RUN.NUM_WORKERS", "0"]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, os.path.join(REPO, "tools/extract_features.py")] + argv,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            # a test runner started in the background (`cmd &`) ignores SIGINT, and a
                            # child inheriting SIG_IGN never raises KeyboardInterrupt: restore the default
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while not glob.glob(str(tmp_path / "f.h5.parts" / "a.mp4.npz")):
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "no part file written"
            time.sleep(0.01)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out_text, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out_text, err, time.monotonic() - sent)
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "interrupted: rerun the same command to resume"
    assert not out.exists() and (tmp_path / "f.h5.parts" / "a.mp4.npz").is_file()
    assert _main("tools/extract_features.py")(argv) == 0  # the rerun resumes
    assert "1 extracted, 1 already done" in capsys.readouterr().out


# --- 3. a file that is no torch file ------------------------------------------------------------
@pytest.mark.parametrize("content, why", [
    (b"hello, not a checkpoint\n", "it holds text starting b'hello, not a'"),
    (b"", "the file is empty"),
    (b"\x89HDF\r\n\x1a\n" + bytes(8), "it holds an HDF5 file starting"),
])
def test_not_a_torch_file_says_so(tmp_path, content, why):
    from stvg.checkpoint import CheckpointError, read_checkpoint

    path = tmp_path / "x.h5"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(str(path))
    assert str(info.value).startswith(f"{path}: cannot read checkpoint: not a PyTorch checkpoint file ({why}")


@pytest.mark.parametrize("tool, argv, what", [
    ("infer_stvg", ["--video", "{v}", "--query", "a man", "--model", "{p}", "--device", "cpu"], "model file"),
    ("test_temporal", ["--config", "configs/temporal/synthetic.yaml", "--weights", "{p}", "--no-progress"], "checkpoint"),
    ("convert_mmn_checkpoint", ["--config", "configs/temporal/synthetic.yaml", "--src", "{p}", "--out", "{t}/c.pth"],
     "reference MMN checkpoint"),
])
def test_tools_name_a_text_file_given_as_weights(tmp_path, capsys, make_video, tool, argv, what):
    text = tmp_path / "text.h5"
    text.write_text("hello, not a checkpoint\n")
    video = make_video("v.mp4")
    args = [a.format(p=text, t=tmp_path, v=video) for a in argv]
    args = [os.path.join(REPO, a) if a.startswith("configs/") else a for a in args]
    assert _main(f"tools/{tool}.py")(args) == 2
    assert _last_line(capsys).startswith(f"error: {text}: cannot read {what}: not a PyTorch checkpoint file (")


# --- 4. no tube: the linker's reason --------------------------------------------------------------
def test_infer_small_video_gives_the_hog_window_reason(tiny_model, make_video, capsys):  # noqa: F811
    video = make_video("small.mp4", num_frames=20, fps=5.0, size=(32, 40))  # x1.5 upscale: 48x60 < 64x128
    assert _main("tools/infer_stvg.py")(["--video", str(video), "--query", "a man", "--model", tiny_model,
                                         "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert ("no person detected in 0.00-4.00 s (detector hog): frames of 32x40 (x1.5 DETECTOR.HOG.UPSCALE) are "
            "smaller than the HOG detector's 64x128 window") in out


def test_no_tube_reason_of_short_tracks():
    import numpy as np

    from stvg.pipeline import PreparedVideo, _no_tube_reason

    prep = PreparedVideo("v", 5.0, 10, 320, 240, (0.0, 2.0), (0, 9), np.zeros((1, 4), np.float32),
                         np.zeros((1, 2), np.int64), np.arange(10), [], np.zeros((0, 1, 4), np.float32),
                         detector="hog", no_tubes=("3 track(s), all shorter than LINKING.MIN_LENGTH 4 detections", 5))
    assert _no_tube_reason(prep, "end") == ("no person tube in 0.00-2.00 s (detector hog): 3 track(s), all shorter "
                                            "than LINKING.MIN_LENGTH 4 detections; no tube to answer with; end")
    prep.no_tubes, prep.detector = None, ""  # precomputed tubes: no linker report
    assert _no_tube_reason(prep, "end") == "no person detected in 0.00-2.00 s (the tube files): no tube to answer with; end"


# --- 5. an annotation file with no usable entry -----------------------------------------------------
@pytest.mark.parametrize("tool, argv", [
    ("build_tubes", ["--out-dir", "{t}/out"]),
    ("detect_persons", ["--cache-dir", "{t}/out"]),
    ("predict_stvg", ["--out", "{t}/out.json", "--model", "{t}/absent.pth"]),
    ("extract_features", ["--out", "{t}/out.h5"]),
])
@pytest.mark.parametrize("content, summary", [
    ({"a": {"foo": 1}}, " (loaded 0 of 1 entries, skipped 1 (1 x caption: missing sentence))"),
    ({}, ": the file holds no entry"),
])
def test_annotation_file_with_no_usable_entry(tmp_path, capsys, tool, argv, content, summary):
    ann = tmp_path / "other.json"
    ann.write_text(json.dumps(content))
    (tmp_path / "videos").mkdir()
    before = _listing(tmp_path)
    args = ["--ann", str(ann), "--video-dir", str(tmp_path / "videos")] + [a.format(t=tmp_path) for a in argv]
    assert _main(f"tools/{tool}.py")(args) == 2
    assert _last_line(capsys).startswith(f"error: {ann}: no usable annotation entry{summary}")
    assert _listing(tmp_path) == before


def test_some_usable_entries_keep_the_skipped_ones(tmp_path):
    from stvg.data import select_videos

    good = {"bbox": [[10, 5, 20, 30]] * 3, "st_time": 1.0, "ed_time": 1.3, "img_num": 200, "st_frame": 11,
            "caption": "The man walks.", "width": 64, "height": 48}
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"a.mp4": {"foo": 1}, "b.mp4": good}))
    assert [v for v, _ in select_videos(ann=str(ann), video_dir=str(tmp_path))] == ["b.mp4", "a.mp4"]


# --- 6. --videos FILE, --video-dir a file, make_model_file's missing run --------------------------------
def test_select_videos_takes_one_file(tmp_path):
    from stvg.data import select_videos

    (tmp_path / "x.mp4").write_bytes(b"")
    assert select_videos(str(tmp_path / "x.mp4")) == [("x.mp4", str(tmp_path / "x.mp4"))]
    ann = tmp_path / "a.json"
    ann.write_text(json.dumps({"a.mp4": "a man walks"}))  # a query-only file
    with pytest.raises(NotADirectoryError, match=f"video folder {tmp_path / 'x.mp4'} is a file, not a folder"):
        select_videos(ann=str(ann), video_dir=str(tmp_path / "x.mp4"))
    with pytest.raises(FileNotFoundError, match="video folder not found"):
        select_videos(str(tmp_path / "nope"))


@pytest.mark.parametrize("tool, argv, done", [
    ("build_tubes", ["--out-dir", "{t}/tubes"], "tubes/v.mp4.json"),
    ("detect_persons", ["--cache-dir", "{t}/cache"], "cache"),
])
def test_job_tools_take_one_video_file(make_video, tmp_path, capsys, tool, argv, done):
    video = make_video("v.mp4", num_frames=8, size=(64, 48))
    args = ["--videos", str(video), "--device", "cpu", "--no-progress"] + [a.format(t=tmp_path) for a in argv]
    assert _main(f"tools/{tool}.py")(args) == 0, capsys.readouterr().err
    assert ", 0 failed of 1; complete" in capsys.readouterr().out and (tmp_path / done).exists()


def test_make_model_file_names_the_missing_temporal_run_first(tmp_path, capsys):
    argv = ["--temporal", str(tmp_path / "nope"), "--out", str(tmp_path / "m.pth")]
    assert _main("tools/make_model_file.py")(argv) == 2
    assert _last_line(capsys) == f"error: --temporal: temporal run folder or checkpoint not found: {tmp_path / 'nope'}"


def test_ctrl_c_swallowed_by_a_finalizer_still_stops_the_tool(capsys):
    """Python drops a KeyboardInterrupt raised in a __del__ (decord frees each decoded batch in one:
    1 Ctrl-C in ~50 during extraction was lost, the tool ran on and exited 0); tool_main hands it
    back to the tool's own code. Other exceptions of finalizers reach the hook that was there."""
    from stvg import cli

    class FreedByDecord:
        def __del__(self):
            raise KeyboardInterrupt

    class Broken:
        def __del__(self):
            raise ValueError("not an interrupt")

    seen = []
    previous, sys.unraisablehook = sys.unraisablehook, lambda u: seen.append(u.exc_type)
    try:
        @cli.tool_main(interrupted=cli.RESUMES)
        def work(argv=None):
            Broken()
            FreedByDecord()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # the rest of the job
                time.sleep(0.01)
            return 0

        started = time.monotonic()
        assert work([]) == 130
        assert time.monotonic() - started < 10
    finally:
        restored, sys.unraisablehook = sys.unraisablehook, previous
    assert seen == [ValueError] and restored is not None and restored.__name__ == "<lambda>"
    assert capsys.readouterr().err == "interrupted: " + cli.RESUMES + "\n"
