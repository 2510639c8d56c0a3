"""tools/predict_stvg.py through its command line: failures listed, --eval, kill-and-resume and
sharded runs giving the very same submission as one uninterrupted run."""
import json
import pathlib
import sys

import pytest

from stvg.data.ids import submission_id

from tests.test_pipeline_tiny import annotations, build_model_file, spatial_cfg, synth_clips  # noqa: F401

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import predict_stvg  # noqa: E402


@pytest.fixture(scope="module")
def setup(synth_clips, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("predict")
    model = build_model_file(root, scfg=spatial_cfg("DETECTION.STRIDE", "4"))
    ann = annotations(synth_clips)
    ann["ghost.mp4"] = next(iter(ann.values()))  # annotated, but its video file does not exist
    path = root / "ann.json"
    path.write_text(json.dumps(ann))
    return {"model": model, "ann": str(path), "videos": str(synth_clips / "videos"), "root": root}


def run(setup, out, *extra):
    return predict_stvg.main(["--ann", setup["ann"], "--video-dir", setup["videos"], "--out", str(out),
                              "--model", setup["model"], "--device", "cpu", "--no-progress", *extra])


@pytest.fixture(scope="module")
def reference(setup):
    out = setup["root"] / "ref" / "sub.json"
    code = run(setup, out, "--eval")
    return code, out


def test_one_run_lists_the_broken_video_and_scores(reference, setup, capsys):
    from stvg.submission import read_submission, validate

    code, out = reference
    assert code == 1  # ghost.mp4 failed
    failures = json.loads(pathlib.Path(str(out) + ".failures.json").read_text())
    assert list(failures) == ["ghost.mp4"] and "ghost.mp4" in failures["ghost.mp4"]
    sub = read_submission(str(out))
    assert sorted(sub) == sorted(submission_id(v) for v in json.loads(pathlib.Path(setup["ann"]).read_text())
                                  if v != "ghost.mp4")  # the challenge file is keyed by stems
    assert validate(sub) == []
    metrics = json.loads(pathlib.Path(str(out) + ".metrics.json").read_text())
    assert metrics["num_videos"] == 4 and 0.0 <= metrics["m_vIoU"] <= 1.0
    part = json.loads(pathlib.Path(str(out) + ".parts", "synth3_00000.mp4.json").read_text())
    assert part["entry"] == sub["synth3_00000"] and "score_map" in part["result"]


def test_kill_and_resume_gives_the_identical_submission(reference, setup, tmp_path, capsys):
    _, ref = reference
    out = tmp_path / "sub.json"
    run(setup, out, "--max-videos", "2")  # "killed" after two videos (ghost.mp4 and one real one)
    assert not out.exists()
    assert len(list(pathlib.Path(str(out) + ".parts").glob("*.json"))) == 1
    capsys.readouterr()
    assert run(setup, out) == 1
    assert "1 already done" in capsys.readouterr().out
    assert out.read_bytes() == ref.read_bytes()
    assert run(setup, out) == 1  # nothing left to do: the same file again
    assert out.read_bytes() == ref.read_bytes()


def test_sharded_runs_merged_by_the_last_equal_one_run(reference, setup, tmp_path, capsys):
    _, ref = reference
    out = tmp_path / "sub.json"
    run(setup, out, "--num-shards", "2", "--shard", "1")
    assert not out.exists()
    assert "complete once every shard is done" in capsys.readouterr().out
    run(setup, out, "--num-shards", "2", "--shard", "0")
    assert out.read_bytes() == ref.read_bytes()


def test_changed_settings_on_resume_are_refused(reference, setup, capsys):
    _, ref = reference
    assert run(setup, ref, "--join", "TUBE_COVERAGE", "cut") == 2
    assert "other predictions settings" in capsys.readouterr().err
