"""Pipeline mode tube_mmn: a tiny random tube-mode MMN built through the real save/load path, its
answers against slow reference loops, and both modes through infer_stvg / predict_stvg / make_model_file."""
from __future__ import annotations

import json
import pathlib
import sys

import pytest
import torch

from stvg.checkpoint import checkpoint_record
from stvg.io import atomic_torch_save
from tests.test_pipeline_tiny import (annotations, features_cfg, save_runs, spatial_cfg, synth_clips,  # noqa: F401
                                      temporal_cfg, tiny_model)

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

import infer_stvg  # noqa: E402
import make_model_file  # noqa: E402
import predict_stvg  # noqa: E402


def save_tube_run(folder: pathlib.Path, tcfg=None, seed: int = 0) -> pathlib.Path:
    """A random-initialised tube-mode MMN (``MODEL.MODE tube``) saved as a training run saves it."""
    from temporal.tube_mmn import TubeMMN

    tcfg = tcfg or temporal_cfg(MODE="tube")
    torch.manual_seed(seed)
    run = folder / "tube_run"
    run.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(checkpoint_record(TubeMMN(tcfg.MODEL), tcfg.to_dict(), epoch=3, metrics={"m_vIoU": 0.2}),
                      str(run / "best.pth"))
    return run


def build_tube_model_file(folder: pathlib.Path, name: str = "tube.pth", join=None, tcfg=None, **kw) -> str:
    from stvg.model_file import write_model_file
    from stvg.pipeline import assemble_model_file

    data = assemble_model_file(str(save_tube_run(folder, tcfg)), None, features_cfg(), spatial_cfg(), join,
                               mode="tube_mmn", **kw)
    path = folder / name
    write_model_file(str(path), data)
    return str(path)


@pytest.fixture(scope="module")
def tube_folder(tmp_path_factory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("tube_model")
    build_tube_model_file(folder)
    return folder


@pytest.fixture(scope="module")
def tube_model(tube_folder) -> str:
    return str(tube_folder / "tube.pth")


@pytest.fixture(scope="module")
def predictor(tube_model):
    from stvg.pipeline import STVGPredictor

    return STVGPredictor.from_file(tube_model, device="cpu")


@pytest.fixture(scope="module")
def clip(synth_clips):  # noqa: F811
    vid, entry = next(iter(annotations(synth_clips).items()))
    return str(synth_clips / "videos" / vid), entry["caption"], vid


@pytest.fixture(scope="module")
def prepared(predictor, clip):
    prep = predictor.prepare(clip[0])
    assert len(prep.tubes) >= 2, "the clip should hold several person tubes"
    return prep


def reference_maps(predictor, prep, query: str, tube_rows=None) -> torch.Tensor:
    """Slow reference: each tube alone through TubeMMN (one map per forward), cell by cell.
    ``tube_rows(k, tube) -> Tensor[NUM_PRE_CLIPS, D]``: tube k's input (default: its RoI rows through
    ``prepare_features``)."""
    from temporal.data.features import prepare_features
    from temporal.st_iou import cell_sub_tube
    from stvg.text import tokenize

    model, cfg = predictor.tube_mmn, predictor.configs.temporal
    n = int(cfg.MODEL.NUM_CLIPS)
    ids, mask = tokenize(model.mmn.tokenizer, [query], max_len=int(cfg.DATASET.MAX_SENT_LEN))
    maps = torch.full((len(prep.tubes), n, n), float("-inf"))
    valid = model.mmn.mask.cpu()
    for k, tube in enumerate(prep.tubes):
        feats = (tube_rows(k, tube) if tube_rows else
                 prepare_features(torch.from_numpy(prep.roi_features[k]), int(cfg.MODEL.NUM_PRE_CLIPS)))[None]
        with torch.no_grad():
            out = model(feats, torch.zeros(1, dtype=torch.long), ids, mask, torch.zeros(1, dtype=torch.long))
            fused = model.mmn.test_scores(out.pairs)[0]
        for i in range(n):
            for j in range(i, n):
                if valid[i, j] and len(cell_sub_tube(tube, i, j, n)):
                    maps[k, i, j] = fused[i, j]
    return maps


# ---------------------------------------------------------------------------------------------
def test_the_model_file_holds_no_matcher(tube_model):
    from stvg.model_file import describe, read_model_file

    data = read_model_file(tube_model)
    assert data["mode"] == "tube_mmn" and "matcher" not in data and "clip_seconds" not in data["temporal"]
    assert data["temporal"]["config"]["MODEL"]["MODE"] == "tube"
    assert all(k.startswith("mmn.") for k in data["temporal"]["model"])
    assert set(data["sources"]) == {"temporal"} and data["sources"]["temporal"]["metrics"] == {"m_vIoU": pytest.approx(0.2)}
    assert "mode tube_mmn" in describe(data) and "tube-conditioned" in describe(data)


def test_answer_is_the_best_cell_of_all_tubes(predictor, prepared, clip, monkeypatch):
    import stvg.pipeline
    from stvg.ops import tube_viou
    from temporal.st_iou import cell_sub_tube

    query = clip[1]
    res = predictor.ground(prepared, [query], top_k=3)[0]
    ref = reference_maps(predictor, prepared, query)
    n = ref.shape[-1]
    finite = torch.isfinite(ref)
    torch.testing.assert_close(res.score_map, torch.where(finite, ref, torch.zeros_like(ref)), rtol=1e-5, atol=1e-6)
    flat = int(torch.argmax(torch.where(finite, ref, torch.full_like(ref, -1e9))))
    k, i, j = flat // (n * n), (flat % (n * n)) // n, flat % n
    assert res.mode == "tube_mmn" and res.reason is None
    assert (res.tube_index, res.cell) == (k, (i, j)) and res.score == pytest.approx(float(ref[k, i, j]), rel=1e-5)
    sub = cell_sub_tube(prepared.tubes[k], i, j, n)
    assert res.tube.frames.tolist() == list(range(res.frames[0], res.frames[1] + 1)) == sub.frames.tolist()
    torch.testing.assert_close(res.tube.boxes, sub.boxes)
    assert res.segment.start == pytest.approx(res.frames[0] / res.fps)
    assert res.windows == [(t.start_frame / res.fps, (t.end_frame + 1) / res.fps) for t in prepared.tubes]
    torch.testing.assert_close(res.tube_scores, ref.flatten(1).amax(dim=1))
    assert res.moments is None and res.matcher_scores is None and res.score_mask.shape == (n, n)
    # alternatives: best first, each a sub-tube of its tube, none overlapping a better one beyond NMS_THRESH
    answers = [(res.tube, res.score)] + [(a.tube, a.score) for a in res.alternatives]
    assert 1 <= len(res.alternatives) <= 3
    assert all(answers[m][1] >= answers[m + 1][1] for m in range(len(answers) - 1))
    for m in range(len(answers)):
        for p in range(m):
            assert float(tube_viou(answers[m][0], answers[p][0])) <= predictor.join.NMS_THRESH
    for a in res.alternatives:
        assert a.tube == cell_sub_tube(prepared.tubes[a.tube_index], *a.cell, n) and a.moment == -1
        assert a.score == pytest.approx(float(ref[a.tube_index][a.cell]), rel=1e-5)
    for stage in ("decode", "detection", "linking", "features", "tube_mmn", "answer", "total"):
        assert res.timings[stage] >= 0
    js = json.loads(json.dumps(res.to_json()))
    assert js["mode"] == "tube_mmn" and js["cell"] == [i, j] and len(js["score_map"]) == len(prepared.tubes)
    assert js["candidates"][k]["tube_mmn_score"] == pytest.approx(res.score, abs=1e-5)
    monkeypatch.setattr(stvg.pipeline, "TUBE_BATCH", 1)  # tubes in chunks: the same maps
    chunked = predictor.ground(prepared, [query, "a person walks"], top_k=3)
    torch.testing.assert_close(chunked[0].score_map, res.score_map)
    assert chunked[0].tube == res.tube and chunked[1].query == "a person walks"


def test_section_keeps_the_answer_inside(predictor, clip):
    prep = predictor.prepare(clip[0])
    first, last = 5, 12  # frames of [1.0, 2.6) s at 5 fps
    cut = predictor.prepare_from_arrays(prep.video_id, prep.features, prep.clip_frames, prep.frame_indices, prep.fps,
                                        prep.num_frames, prep.width, prep.height, prep.tubes, prep.roi_features,
                                        start=1.0, end=2.6)
    assert cut.section_frames == (first, last)
    res = predictor.ground(cut, [clip[1]], top_k=5)[0]
    for tube in [res.tube] + [a.tube for a in res.alternatives]:
        assert first <= tube.start_frame <= tube.end_frame <= last
        assert tube.frames.tolist() == list(range(tube.start_frame, tube.end_frame + 1))


def test_no_person_and_join_options(predictor, tube_model, make_video):
    from stvg.config import ConfigError
    from stvg.pipeline import STVGPredictor

    res = predictor(str(make_video("empty.mp4", num_frames=20, fps=5.0, size=(96, 64))), "a man waves")
    assert not res.found and "no person detected" in res.reason and res.frames == (0, 19)
    assert res.entry() == {"st_frame": 1, "ed_frame": 20, "bbox": {}}
    assert res.score_map.shape[0] == 0 and json.loads(json.dumps(res.to_json()))["candidates"] == []
    assert STVGPredictor.from_file(tube_model, device="cpu", join={"NMS_THRESH": 0.3}).join.NMS_THRESH == 0.3
    with pytest.raises(ConfigError, match="TUBE_COVERAGE = 'cut' has no effect in mode tube_mmn"):
        STVGPredictor.from_file(tube_model, device="cpu", join=["TUBE_COVERAGE", "cut"])


def test_both_modes_through_infer_stvg(tiny_model, tube_model, clip, tmp_path, capsys):  # noqa: F811
    from stvg.submission import validate

    video, query, vid = clip
    for name, model in (("two_stage", tiny_model), ("tube_mmn", tube_model)):
        out = tmp_path / f"{name}.json"
        args = ["--video", video, "--query", query, "--model", model, "--device", "cpu", "--out", str(out)]
        if name == "tube_mmn":
            args += ["--vis", str(tmp_path / "tube.png")]
        assert infer_stvg.main(args) == 0
        text = capsys.readouterr().out
        res = json.loads(out.read_text())
        assert res["mode"] == name and res["found"] and validate(res["challenge_entry"], gt=[vid]) == []
        first, last = res["frames"]
        assert len(res["tube"]["boxes"]) == last - first + 1
        assert ("tube-MMN, tube" in text) == (name == "tube_mmn") and "seconds: decode" in text
    assert "tube_mmn" in text and "answer" in text and (tmp_path / "tube.png").stat().st_size > 0
    assert infer_stvg.main(["--video", video, "--query", query, "--model", tube_model, "--device", "cpu",
                            "--join", "PAIR_SCORE", "temporal_first"]) == 2
    assert "has no effect in mode tube_mmn" in capsys.readouterr().err


def test_predict_stvg_in_tube_mode_on_two_videos(tube_model, synth_clips, tmp_path, capsys):  # noqa: F811
    from stvg.submission import read_submission, validate

    ann = dict(list(annotations(synth_clips).items())[:2])
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(ann))
    out = tmp_path / "sub.json"
    assert predict_stvg.main(["--ann", str(path), "--video-dir", str(synth_clips / "videos"), "--model", tube_model,
                              "--device", "cpu", "--no-progress", "--out", str(out), "--eval"]) == 0
    sub = read_submission(str(out))
    assert len(sub) == 2 and validate(sub, gt=list(ann)) == []
    metrics = json.loads((tmp_path / "sub.json.metrics.json").read_text())
    assert 0.0 <= metrics["m_vIoU"] <= 1.0
    for vid in ann:
        part = json.loads((tmp_path / "sub.json.parts" / f"{vid}.json").read_text())
        assert part["result"]["mode"] == "tube_mmn" and "cell" in part["result"]


def test_make_model_file_modes(tmp_path, capsys):
    from stvg.model_file import read_model_file

    run = save_tube_run(tmp_path)
    tdir, mdir = save_runs(tmp_path)
    feats, spatial = tmp_path / "f.yaml", tmp_path / "s.yaml"
    feats.write_text("BACKBONE: {NAME: resnet18, WEIGHTS: none}\nINPUT: {SAMPLE_FPS: 5.0, RESIZE: 64}\n"
                     "ROI: {NUM_SEGMENTS: 4}\n")
    spatial.write_text("DETECTOR: {NAME: hog, HOG: {UPSCALE: 1.5}}\nDETECTION: {STRIDE: 2}\n")
    common = ["--features-config", str(feats), "--spatial-config", str(spatial)]
    out = tmp_path / "t.pth"
    assert make_model_file.main(["--mode", "tube_mmn", "--temporal", str(run), *common, "--join", "NMS_THRESH", "0.4",
                                 "--out", str(out)]) == 0
    data = read_model_file(str(out))
    assert data["mode"] == "tube_mmn" and data["join"]["NMS_THRESH"] == 0.4 and "matcher" not in data
    assert "mode tube_mmn" in capsys.readouterr().out
    bad = {"takes no matcher run": ["--mode", "tube_mmn", "--temporal", str(run), "--matcher", str(mdir)],
           "no training clip length": ["--mode", "tube_mmn", "--temporal", str(run), "--clip-seconds", "4"],
           "TUBE_COVERAGE = 'cut' has no effect": ["--mode", "tube_mmn", "--temporal", str(run),
                                                   "--join", "TUBE_COVERAGE", "cut"],
           "MODEL.MODE moment, but mode tube_mmn needs MODEL.MODE tube": ["--mode", "tube_mmn", "--temporal",
                                                                         str(tdir)],
           "MODEL.MODE tube, but mode two_stage": ["--temporal", str(run), "--matcher", str(mdir)],
           "needs a matcher run": ["--temporal", str(tdir), "--clip-seconds", "4"]}
    for message, args in bad.items():
        assert make_model_file.main(args + common + ["--out", str(tmp_path / "x.pth")]) == 2, message
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.pth").exists()


def test_answers_equal_those_of_the_tube_mode_tester(tube_folder, tube_model, synth_clips, tmp_path):  # noqa: F811
    """Precomputed tube files + RoI features: predict_stvg in tube_mmn mode scores exactly what the
    temporal tester (MODEL.MODE tube, TubeMMN.predict + cell_sub_tube) scores on the same inputs."""
    from spatial.tubes import build_video_tubes, read_tube_folder, write_tubes_json
    from stvg.config import Config
    from stvg.features import extract_features
    from temporal.engine import evaluate_checkpoint

    ann = annotations(synth_clips)
    ann_path = tmp_path / "ann.json"
    ann_path.write_text(json.dumps(ann))
    tubes_dir, h5 = tmp_path / "tubes", tmp_path / "roi.h5"
    tubes_dir.mkdir()
    videos = [(vid, str(synth_clips / "videos" / vid)) for vid in ann]
    for vid, path in videos:
        write_tubes_json(str(tubes_dir / f"{vid}.json"), build_video_tubes(path, spatial_cfg(), vid))
    summary = extract_features(videos, str(h5), features_cfg(), device="cpu",
                               tubes=read_tube_folder(str(tubes_dir), list(ann)), progress=False)
    assert summary.finished and not summary.failed()
    d = temporal_cfg(MODE="tube").to_dict()
    d["DATASET"].update(TEST_ANN=str(ann_path), TUBES=str(tubes_dir), FEATURES=str(h5), FEATURE_KEY="roi_features")
    d["TEST"]["IOU_THRESHOLDS"] = [0.3, 0.5]
    d.update(OUTPUT_DIR=str(tmp_path / "test_run"), DEVICE="cpu")
    dump = tmp_path / "scores.pt"
    tester = evaluate_checkpoint(Config(d).freeze(), str(tube_folder / "tube_run" / "best.pth"),
                                 dump_scores=str(dump), progress=False)
    out = tmp_path / "sub.json"
    assert predict_stvg.main(["--ann", str(ann_path), "--features", str(h5), "--tubes", str(tubes_dir), "--model",
                              tube_model, "--device", "cpu", "--no-progress", "--out", str(out), "--eval"]) == 0
    pipeline = json.loads((tmp_path / "sub.json.metrics.json").read_text())
    assert tester["m_tIoU"] > 0 and pipeline["num_videos"] == len(ann)
    maps = torch.load(str(dump), weights_only=True)
    parts = sorted((tmp_path / "sub.json.parts").glob("*.json"))
    assert len(parts) == len(ann)
    for part in parts:
        result = json.loads(part.read_text())["result"]
        vid = result["video_id"]
        want = maps.get(f"{vid}/0", maps.get(f"{pathlib.Path(vid).stem}/0"))
        torch.testing.assert_close(torch.tensor(result["score_map"], dtype=torch.float32), want, atol=1e-4, rtol=0)
    for key in ("m_vIoU", "m_tIoU", "vIoU@0.3", "vIoU@0.5"):
        assert pipeline[key] == pytest.approx(tester[key], abs=1e-9), key
