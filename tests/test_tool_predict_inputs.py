"""tools/predict_stvg.py inputs: precomputed features + tube files, query-only annotations, bad input."""
import json
import pathlib
import sys

import h5py
import pytest

from stvg.data.ids import submission_id

from tests.test_pipeline_tiny import (annotations, build_model_file, features_cfg, spatial_cfg,  # noqa: F401
                                      synth_clips)

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import predict_stvg  # noqa: E402


@pytest.fixture(scope="module")
def setup(synth_clips, tmp_path_factory):  # noqa: F811
    root = tmp_path_factory.mktemp("predict_inputs")
    scfg = spatial_cfg("DETECTION.STRIDE", "4")
    model = build_model_file(root, scfg=scfg)
    ann = annotations(synth_clips)
    path = root / "ann.json"
    path.write_text(json.dumps(ann))
    return {"model": model, "ann": str(path), "videos": synth_clips / "videos", "root": root, "scfg": scfg,
            "ids": list(ann)}


def precomputed(setup, name, fcfg):
    """Tube files (tools/build_tubes.py's format) and their RoI features (tools/extract_features.py)."""
    from spatial.tubes import build_video_tubes, read_tube_folder, write_tubes_json
    from stvg.features import extract_features

    tubes_dir = setup["root"] / f"tubes_{name}"
    tubes_dir.mkdir(exist_ok=True)
    videos = [(vid, str(setup["videos"] / vid)) for vid in setup["ids"]]
    for vid, p in videos:
        write_tubes_json(str(tubes_dir / f"{vid}.json"), build_video_tubes(p, setup["scfg"], vid))
    h5 = setup["root"] / f"feats_{name}.h5"
    tubes = read_tube_folder(str(tubes_dir), setup["ids"])
    summary = extract_features(videos, str(h5), fcfg, device="cpu", tubes=tubes, progress=False)
    assert summary.finished and not summary.failed()
    return str(h5), str(tubes_dir)


def test_features_and_tube_files_give_the_answers_of_the_videos(setup, tmp_path):
    from stvg.submission import read_submission, validate

    h5, tubes = precomputed(setup, "same", features_cfg())
    out_f, out_v = tmp_path / "f.json", tmp_path / "v.json"
    base = ["--ann", setup["ann"], "--model", setup["model"], "--device", "cpu", "--no-progress"]
    assert predict_stvg.main(base + ["--features", h5, "--tubes", tubes, "--out", str(out_f), "--eval"]) == 0
    assert predict_stvg.main(base + ["--video-dir", str(setup["videos"]), "--out", str(out_v)]) == 0
    f, v = read_submission(str(out_f)), read_submission(str(out_v))
    assert validate(f, gt=setup["ids"]) == [] and list(f) == list(v)
    for vid in v:  # tube files keep 2 decimals: the same answers, boxes equal to the rounding
        assert (f[vid]["st_frame"], f[vid]["ed_frame"]) == (v[vid]["st_frame"], v[vid]["ed_frame"])
        for k, box in v[vid]["bbox"].items():
            assert f[vid]["bbox"][k] == pytest.approx(box, abs=0.01)
    assert (tmp_path / "f.json.metrics.json").exists()


def test_features_made_with_other_settings_are_refused(setup, tmp_path, capsys):
    h5, tubes = precomputed(setup, "other", features_cfg("INPUT.SAMPLE_FPS", "2.5"))
    code = predict_stvg.main(["--ann", setup["ann"], "--features", h5, "--tubes", tubes, "--out",
                              str(tmp_path / "s.json"), "--model", setup["model"], "--device", "cpu"])
    assert code == 2 and "INPUT.SAMPLE_FPS: file 2.5, model 5.0" in capsys.readouterr().err


def test_query_only_annotations(setup, tmp_path, capsys):
    from stvg.submission import read_submission

    ann = json.loads(pathlib.Path(setup["ann"]).read_text())
    queries = tmp_path / "test_queries.json"
    vids = list(ann)[:2]
    queries.write_text(json.dumps({vid: ann[vid]["caption"] for vid in vids}))
    out = tmp_path / "q.json"
    args = ["--ann", str(queries), "--video-dir", str(setup["videos"]), "--model", setup["model"], "--device", "cpu",
            "--no-progress"]
    assert predict_stvg.main(args + ["--out", str(out)]) == 0
    assert sorted(read_submission(str(out))) == sorted(map(submission_id, vids))
    assert predict_stvg.main(args + ["--out", str(tmp_path / "e.json"), "--eval"]) == 2
    assert "query-only" in capsys.readouterr().err


def test_bad_inputs_exit_2(setup, tmp_path, capsys):
    base = ["--model", setup["model"], "--device", "cpu", "--no-progress"]
    assert predict_stvg.main(["--ann", str(tmp_path / "none.json"), "--video-dir", str(setup["videos"]),
                              "--out", str(tmp_path / "s.json"), *base]) == 2
    assert "none.json" in capsys.readouterr().err
    assert predict_stvg.main(["--ann", setup["ann"], "--video-dir", str(setup["videos"]), "--out",
                              str(tmp_path / "s.txt"), *base]) == 2
    assert predict_stvg.main(["--ann", setup["ann"], "--features", str(tmp_path / "f.h5"), "--out",
                              str(tmp_path / "s.json"), *base]) == 2
    assert "--features needs --tubes" in capsys.readouterr().err
    assert predict_stvg.main(["--ann", setup["ann"], "--video-dir", str(tmp_path / "novideos"), "--out",
                              str(tmp_path / "s.json"), *base]) == 2
    assert "novideos" in capsys.readouterr().err
    bad_h5 = tmp_path / "plain.h5"
    with h5py.File(bad_h5, "w") as f:
        f.create_dataset("x", data=[1])
    tubes = tmp_path / "tubes"
    tubes.mkdir()
    code = predict_stvg.main(["--ann", setup["ann"], "--features", str(bad_h5), "--tubes", str(tubes), "--out",
                              str(tmp_path / "s.json"), *base])
    assert code == 2  # an empty tube folder is named
    assert "tube" in capsys.readouterr().err
