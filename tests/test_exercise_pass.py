"""What the second bad-input pass over the tools found (issue 14's "Done when"), each fixed: output
paths are checked before any work (an unknown suffix, an existing directory, a path under a file),
so no traceback after the work is done and nothing is left behind; extract_features takes one
video file as --videos. Through each tool's main(), in-process."""
import json
import os

import pytest

from tests.test_kill_resume_training import _main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, ds, fs in os.walk(root) for n in ds + fs)


@pytest.fixture
def inputs(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "pred.json").write_text(json.dumps({"a": {"st_frame": 0, "ed_frame": 0, "bbox": {"0": [0, 0, 1, 1]}}}))
    (tmp_path / "gt.json").write_text(json.dumps({"a": {"st_frame": 0, "ed_frame": 0, "bbox": {"0": [0, 0, 1, 1]}}}))
    return tmp_path


def _run(tool, argv, root, capsys):
    before = _listing(root)
    code = _main(f"tools/{tool}.py")(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert _listing(root) == before, "a refused run left files behind"
    return code, err.strip().splitlines()[-1]


@pytest.mark.parametrize("extra, message", [
    (["--out", "{t}/adir"], "--out '{t}/adir': unknown file type '(none)'; use one of .json"),
    (["--out", "{t}/a_file/m.json"], "--out '{t}/a_file/m.json': {t}/a_file is not a directory"),
    (["--out", "{t}/m.xyz"], "--out '{t}/m.xyz': unknown file type '.xyz'; use one of .json"),
    (["--per-video", "{t}/adir"], "--per-video '{t}/adir' is a directory"),
])
def test_evaluate_checks_its_outputs_before_scoring(inputs, capsys, extra, message):
    t = str(inputs)
    argv = ["--pred", f"{t}/pred.json", "--gt", f"{t}/gt.json"] + [a.format(t=t) for a in extra]
    assert _run("evaluate_stvg", argv, inputs, capsys) == (2, "error: " + message.format(t=t))


@pytest.mark.parametrize("extra, message", [
    (["--out", "{t}/o.json", "--vis", "{t}/o.xyz"], "--vis '{t}/o.xyz': unknown file type '.xyz'; use one of .png, .jpg, .jpeg"),
    (["--out", "{t}/o.xyz"], "--out '{t}/o.xyz': unknown file type '.xyz'; use one of .json"),
    (["--out", "{t}/a_file/o.json"], "--out '{t}/a_file/o.json': {t}/a_file is not a directory"),
    (["--vis", "{t}/missing/sub/o.png"], "video file not found: {t}/no_video_needed.mp4"),  # no folder made
])
def test_build_tubes_checks_its_outputs_before_detecting(inputs, capsys, extra, message):
    t = str(inputs)
    argv = ["--video", f"{t}/no_video_needed.mp4"] + [a.format(t=t) for a in extra]
    assert _run("build_tubes", argv, inputs, capsys) == (2, "error: " + message.format(t=t))


def test_build_tubes_out_dir_an_existing_file(inputs, capsys):
    t = str(inputs)
    argv = ["--videos", f"{t}/adir", "--out-dir", f"{t}/a_file"]
    assert _run("build_tubes", argv, inputs, capsys) == (2, f"error: --out-dir {t}/a_file exists and is not a folder")


@pytest.mark.parametrize("out, message", [
    ("{t}/adir", "--out '{t}/adir' is a directory"),
    ("{t}/a_file/f.h5", "--out '{t}/a_file/f.h5': {t}/a_file is not a directory"),
])
def test_extract_features_checks_its_output_first(inputs, capsys, out, message):
    t = str(inputs)
    argv = ["--videos", f"{t}/adir", "--out", out.format(t=t)]
    assert _run("extract_features", argv, inputs, capsys) == (2, "error: " + message.format(t=t))


def test_extract_features_takes_one_video_file(make_video, tmp_path, capsys):
    import h5py

    video = make_video("one.mp4", num_frames=10, size=(64, 48))
    out = tmp_path / "f.h5"
    cfg = os.path.join(REPO, "configs/features/synthetic_resnet18.yaml")
    code = _main("tools/extract_features.py")(["--videos", str(video), "--out", str(out), "--config", cfg,
                                               "--device", "cpu", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    with h5py.File(out, "r") as f:
        assert list(f) == ["one.mp4"]
