"""The evaluator against a plain-Python transcription of the official definition."""
import json
import random
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stvg.evaluation import (HCSTVGEvaluator, evaluate, ground_truth_entries, match_frames, pad_entries, summarize,
                             video_metrics)
from tests.stvg.official_reference import evaluate_ref

from ..conftest import REPO, requires_cuda

coord = st.integers(0, 60).map(float) | st.floats(0, 60, allow_nan=False, width=32)


@st.composite
def box(draw):
    x1, y1 = draw(coord), draw(coord)
    w = draw(st.sampled_from([0.0, 1.0]) | st.floats(0, 30, allow_nan=False))
    h = draw(st.sampled_from([0.0, 2.0]) | st.floats(0, 30, allow_nan=False))
    return [x1, y1, x1 + w, y1 + h]


@st.composite
def entry(draw, dense=False):
    st_f = draw(st.integers(1, 40))
    ed_f = draw(st.integers(st_f, st_f + 30))
    frames = range(st_f, ed_f + 1) if dense else draw(st.sets(st.integers(st_f, ed_f), max_size=31))
    boxes = {str(f): draw(box()) for f in sorted(frames)}
    return {"st_frame": st_f, "ed_frame": ed_f, "bbox": boxes}


@st.composite
def dataset(draw):
    n = draw(st.integers(1, 6))
    gt = {f"v{i}": draw(entry(dense=draw(st.booleans()))) for i in range(n)}
    pred = {}
    for vid, g in gt.items():
        kind = draw(st.sampled_from(["missing", "random", "copy", "shifted"]))
        if kind == "random":
            pred[vid] = draw(entry())
        elif kind == "copy":
            pred[vid] = json.loads(json.dumps(g))
        elif kind == "shifted":
            k = draw(st.integers(-5, 5))
            pred[vid] = {"st_frame": max(1, g["st_frame"] + k), "ed_frame": max(1, g["ed_frame"] + k),
                         "bbox": {str(int(f) + k): b for f, b in g["bbox"].items() if int(f) + k >= 1}}
    return pred, gt


def assert_same(a, b):
    assert a["num_videos"] == b["num_videos"]
    for k in ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5"):
        assert abs(a[k] - b[k]) <= 1e-9, (k, a[k], b[k])


@settings(max_examples=150, deadline=None)
@given(dataset())
def test_matches_official_definition(data):
    pred, gt = data
    ref = evaluate_ref(pred, gt)
    assert_same(evaluate(pred, gt), ref)
    # the two tensor entry points give the same numbers
    g = pad_entries([gt[v] for v in gt], None)
    p = pad_entries([pred.get(v) for v in gt], g.base, width=g.boxes.shape[1])
    assert_same(summarize(*video_metrics(p, g)), ref)
    assert_same(summarize(*match_frames(pred, gt).metrics()), ref)


def test_edge_cases_by_hand():
    gt = {"a": {"st_frame": 1, "ed_frame": 4, "bbox": {str(f): [0, 0, 10, 10] for f in range(1, 5)}}}
    # disjoint spans
    assert evaluate({"a": {"st_frame": 10, "ed_frame": 12, "bbox": {"10": [0, 0, 10, 10]}}}, gt)["m_tIoU"] == 0
    # half the frames, identical boxes: tIoU = vIoU = 2 / 4
    half = {"a": {"st_frame": 1, "ed_frame": 2, "bbox": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}}
    r = evaluate(half, gt)
    assert r["m_tIoU"] == r["m_vIoU"] == 0.5 and r["vIoU@0.5"] == 0.0  # strict '>'
    assert r["vIoU@0.3"] == 1.0
    # zero-area predicted boxes score 0 but still count in tIoU
    zero = {"a": {"st_frame": 1, "ed_frame": 4, "bbox": {str(f): [5, 5, 5, 5] for f in range(1, 5)}}}
    r = evaluate(zero, gt)
    assert r["m_vIoU"] == 0.0 and r["m_tIoU"] == 1.0
    # missing video scores 0; empty submission too
    assert evaluate({}, gt)["m_vIoU"] == 0.0 and evaluate({}, gt)["num_videos"] == 1


def test_lenient_scoring_of_malformed_entries():
    gt = {"a": {"st_frame": 1, "ed_frame": 2, "bbox": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}}}
    pred = {"a": {"st_frame": 1, "ed_frame": 2, "bbox": {"1": [0, 0, 10, 10], "x": [0, 0, 1, 1],
                                                         "2": [0, 0, 10]}}}
    assert evaluate(pred, gt)["m_vIoU"] == 0.5
    assert evaluate(pred, gt)["m_tIoU"] == 1.0  # frame 2 is present: counts in |S_i|, scores 0
    g = pad_entries([gt["a"]], None)
    p = pad_entries([pred["a"]], g.base, width=g.boxes.shape[1])
    assert [x.item() for x in video_metrics(p, g)] == [0.5, 1.0]
    assert evaluate({"a": {"bbox": {}}}, gt)["m_vIoU"] == 0.0


def perturbed(gt, seed, drop=0.05):
    rng = random.Random(seed)
    pred = {}
    for vid, g in gt.items():
        if rng.random() < drop:
            continue
        sh = rng.randint(-25, 25)
        st_f, ed_f = max(1, g["st_frame"] + sh), g["ed_frame"] + rng.randint(-25, 25)
        bb = {}
        for k, b in g["bbox"].items():
            f = int(k) + sh
            if st_f <= f <= ed_f and rng.random() > 0.1:
                j = [c + rng.uniform(-20, 20) for c in b]
                bb[str(f)] = [min(j[0], j[2]), min(j[1], j[3]), max(j[0], j[2]), max(j[1], j[3])]
        pred[vid] = {"st_frame": st_f, "ed_frame": max(st_f, ed_f), "bbox": bb}
    return pred


def test_real_sample_with_perturbed_predictions(shared_data):
    ann = json.loads((shared_data / "hcstvg" / "test_sample.json").read_text())
    gt = ground_truth_entries(ann)
    assert len(gt) == 373
    indexed = HCSTVGEvaluator(ann)  # ground truth indexed once, reused
    for seed in range(3):
        pred = perturbed(gt, seed)
        assert_same(evaluate(pred, ann), evaluate_ref(pred, gt))  # annotation file as GT
        assert indexed.evaluate(pred) == evaluate(pred, ann)
    assert_same(evaluate(gt, ann), {"m_tIoU": 1, "m_vIoU": 1, "vIoU@0.3": 1, "vIoU@0.5": 1, "num_videos": 373})


def test_tensor_entry_point():
    gt_e = [{"st_frame": 3, "ed_frame": 5, "bbox": {"3": [0, 0, 4, 4], "4": [0, 0, 4, 4], "5": [0, 0, 4, 4]}}]
    pr_e = [{"st_frame": 4, "ed_frame": 8, "bbox": {"4": [0, 0, 2, 4], "8": [0, 0, 4, 4]}}]
    gt = pad_entries(gt_e, None)
    pred = pad_entries(pr_e, gt.base, width=gt.boxes.shape[1])
    assert gt.boxes.shape == (1, 3, 4) and gt.base.tolist() == [3] and pred.mask.tolist() == [[False, True, False]]
    viou, tiou = video_metrics(pred, gt)
    assert viou.tolist() == [0.5 / 6] and tiou.tolist() == [1 / 6]
    assert summarize(viou, tiou)["vIoU@0.3"] == 0.0


@requires_cuda
def test_cuda_same_numbers(shared_data):
    ann = json.loads((shared_data / "hcstvg" / "test_sample.json").read_text())
    gt = ground_truth_entries(ann)
    pred = perturbed(gt, 7)
    assert evaluate(pred, ann, device="cuda") == evaluate(pred, ann)  # bitwise
    # the tensor entry points sum on the device: equal to ~1e-16
    pairs = match_frames(pred, gt)
    for a, b in zip(pairs.to("cuda").metrics(), pairs.metrics()):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-12)
    g = pad_entries([gt[v] for v in gt], None)
    p = pad_entries([pred.get(v) for v in gt], g.base, width=g.boxes.shape[1])
    for a, b in zip(video_metrics(p.to("cuda"), g.to("cuda")), video_metrics(p, g)):
        torch.testing.assert_close(a.cpu(), b, rtol=0, atol=1e-12)


def test_cli(tmp_path):
    gt = {"a": {"st_frame": 1, "ed_frame": 2, "bbox": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}},
          "b": {"st_frame": 1, "ed_frame": 1, "bbox": {"1": [0, 0, 10, 10]}}}
    pred = {"a": gt["a"], "zzz": {"st_frame": 2, "ed_frame": 1, "bbox": {}}}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(pred))
    cmd = [sys.executable, str(REPO / "tools" / "evaluate_stvg.py"), "--pred", str(tmp_path / "pred.json"),
           "--gt", str(tmp_path / "gt.json")]
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    assert bad.returncode == 2 and "video zzz: st_frame 2 > ed_frame 1" in bad.stderr
    ok = subprocess.run(cmd + ["--lenient", "--out", str(tmp_path / "m.json"), "--per-video",
                               str(tmp_path / "pv.csv")], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert "m_vIoU" in ok.stdout and "1 of 2 ground-truth videos are missing" in ok.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m == {"m_tIoU": 0.5, "m_vIoU": 0.5, "vIoU@0.3": 0.5, "vIoU@0.5": 0.5, "num_videos": 2}
    assert (tmp_path / "pv.csv").read_text().splitlines()[1:] == ["a,1.000000,1.000000", "b,0.000000,0.000000"]
