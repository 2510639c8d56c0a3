"""The evaluator against a plain-Python transcription of the official definition."""
import json
import os
import random
import subprocess
import sys
from types import MappingProxyType

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stvg.evaluation import (CHALLENGE_FORMAT, GroundTruthError, HCSTVGEvaluator, evaluate, ground_truth_entries,
                             match_frames, pad_entries, prediction_problems, summarize, video_metrics)
from stvg.data import submission_id
from stvg.submission import SubmissionError, _entry_problems, entry_arrays, validate
from tests.stvg.official_reference import evaluate_ref

from ..conftest import REPO, requires_cuda

coord = st.integers(0, 60).map(float) | st.floats(0, 60, allow_nan=False, width=32)


@st.composite
def box(draw):
    x1, y1 = draw(coord), draw(coord)
    w = draw(st.sampled_from([0.0, 1.0]) | st.floats(1e-3, 30))
    h = draw(st.sampled_from([0.0, 2.0]) | st.floats(1e-3, 30))
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
    got = evaluate(pred, gt, per_video=True)
    assert_same(got, ref)
    # frames matched by number (the fast path) and by key (any mapping) give bitwise the same numbers
    assert evaluate(MappingProxyType(pred), MappingProxyType(gt), per_video=True) == got
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
    with pytest.raises(SubmissionError, match="bbox frame key 'x' is not an integer") as info:
        evaluate(pred, gt)  # the API validates as the CLI does
    assert len(info.value.problems) == 2
    assert evaluate(pred, gt, lenient=True)["m_vIoU"] == 0.5
    assert evaluate(pred, gt, lenient=True)["m_tIoU"] == 1.0  # frame 2 is present: counts in |S_i|, scores 0
    g = pad_entries([gt["a"]], None)
    p = pad_entries([pred["a"]], g.base, width=g.boxes.shape[1])
    assert [x.item() for x in video_metrics(p, g)] == [0.5, 1.0]
    two = {**gt, "b": gt["a"]}
    assert evaluate({"a": {"bbox": {}}, "b": gt["a"]}, two, lenient=True)["m_vIoU"] == 0.5  # unreadable scores 0
    with pytest.raises(SubmissionError, match="none of the 1 entries is readable"):
        evaluate({"a": {"bbox": {}}}, gt, lenient=True)  # nothing readable at all: refused


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
    assert "2 problem(s), scored as the official script reads them (lenient)" in ok.stderr
    m = json.loads((tmp_path / "m.json").read_text())
    assert m == {"m_tIoU": 0.5, "m_vIoU": 0.5, "vIoU@0.3": 0.5, "vIoU@0.5": 0.5, "num_videos": 2}
    assert (tmp_path / "pv.csv").read_text().splitlines()[1:] == ["a,1.000000,1.000000", "b,0.000000,0.000000"]


# --- inputs that must be refused ------------------------------------------------------------------
GT = {"a": {"st_frame": 1, "ed_frame": 2, "bbox": {"1": [0, 0, 10, 10], "2": [0, 0, 10, 10]}},
      "b": {"st_frame": 1, "ed_frame": 1, "bbox": {"1": [0, 0, 10, 10]}}}


def test_annotation_files_and_loader_records_are_refused_as_predictions(shared_data):
    from stvg.data import load_hcstvg
    ann = json.loads((shared_data / "hcstvg" / "test_sample.json").read_text())
    for lenient in (False, True):
        with pytest.raises(SubmissionError, match="found an HC-STVG v1/v2 annotation file") as info:
            evaluate(ann, ann, lenient=lenient)
        assert CHALLENGE_FORMAT in str(info.value)
    videos, _ = load_hcstvg(ann)
    for lenient in (False, True):
        with pytest.raises(SubmissionError, match="found VideoAnnotation records") as info:
            evaluate(videos, videos, lenient=lenient)
        assert CHALLENGE_FORMAT in str(info.value) and "tube_to_entry" in str(info.value)
    # the loader's records are a valid ground truth, equal to the file they came from
    pred = perturbed(ground_truth_entries(ann), 1)
    assert evaluate(pred, videos) == evaluate(pred, ann)
    with pytest.raises(SubmissionError, match="query-only"):
        evaluate({v: "a sentence" for v in ann}, ann)


def test_lenient_still_refuses_what_scores_nothing():
    with pytest.raises(SubmissionError, match="none of the 1 readable predicted videos is in the ground truth"):
        evaluate({"c.mp4": GT["a"]}, GT, lenient=True)
    with pytest.raises(SubmissionError, match="video c.mp4: unknown video id"):
        evaluate({"c.mp4": GT["a"]}, GT)
    with pytest.raises(SubmissionError, match="entries of type list"):
        evaluate({"a": [1, 2]}, GT, lenient=True)
    assert evaluate({}, GT)["num_videos"] == 2  # an empty submission is valid: every video scores 0


def test_ids_match_by_submission_id(shared_data):
    """Stems (the challenge's ids) and file names (the annotation keys) score the same, either side."""
    ann = json.loads((shared_data / "hcstvg" / "test_sample.json").read_text())
    assert {os.path.splitext(v)[1] for v in ann} == {".mp4", ".mkv"}
    gt = ground_truth_entries(ann)
    pred = perturbed(gt, 3)
    stems = {submission_id(v): e for v, e in pred.items()}
    mixed = {(v if i % 2 else submission_id(v)): e for i, (v, e) in enumerate(pred.items())}
    indexed = HCSTVGEvaluator(ann)
    ref = indexed.evaluate(pred, per_video=True)
    assert list(ref["per_video"]) == list(ann)  # keyed by the ground truth's ids
    assert evaluate(stems, ann, per_video=True) == ref
    for p in (stems, mixed, MappingProxyType(stems)):
        assert indexed.evaluate(p, per_video=True) == ref
    gt_stems = {submission_id(v): e for v, e in gt.items()}
    plain = {k: v for k, v in ref.items() if k != "per_video"}
    assert evaluate(pred, gt_stems) == evaluate(stems, gt_stems) == plain
    assert indexed.missing(stems) == [v for v in ann if v not in pred] != []
    assert validate(stems, ann) == [f"video {v}: missing from the submission" for v in sorted(indexed.missing(stems))]


def test_two_ids_naming_one_video_are_refused():
    pred = {"a": GT["a"], "a.mp4": GT["a"]}
    same = "videos a and a.mp4 are the same video 'a'"
    for lenient in (False, True):
        with pytest.raises(SubmissionError, match=same) as info:
            evaluate(pred, GT, lenient=lenient)
        assert info.value.fatal and info.value.problems == [same + " (ids match by their submission id, the file "
                                                            "name without its video extension)"]
    with pytest.raises(SubmissionError, match=same):
        match_frames(pred, GT)
    assert any(p.startswith(same) for p in validate(pred))
    with pytest.raises(GroundTruthError, match="gt.json: invalid ground truth: videos b and b.mkv are the same video"):
        HCSTVGEvaluator({**GT, "b.mkv": GT["b"]}, source="gt.json")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "3", None])
def test_ground_truth_faults_are_reported(bad):
    gt = json.loads(json.dumps(GT))
    gt["a"]["bbox"]["2"] = [0, bad, 10, 10]
    for lenient in (False, True):
        with pytest.raises(GroundTruthError, match=r"gt\.json: invalid ground truth: video a: bbox at frame 2: "
                           r".* is not four finite numbers"):
            HCSTVGEvaluator(gt, source="gt.json").evaluate(GT, lenient=lenient)
    with pytest.raises(GroundTruthError, match="ground truth: invalid"):
        evaluate(GT, gt)


def test_ground_truth_schema_empty_and_skipped_entries(shared_data):
    with pytest.raises(GroundTruthError, match="G.json: invalid ground truth: no videos"):
        ground_truth_entries({}, "G.json")
    with pytest.raises(GroundTruthError, match="G.json: invalid ground truth: top level is list"):
        ground_truth_entries([], "G.json")
    with pytest.raises(GroundTruthError) as info:
        ground_truth_entries({"a": {"foo": 1}}, "G.json")
    msg = str(info.value)
    assert msg.startswith("G.json: invalid ground truth: neither challenge format nor HC-STVG v1/v2 annotations: "
                          "G.json: loaded 0 of 1 entries") and "<annotations>" not in msg
    ann = json.loads((shared_data / "hcstvg" / "test_sample.json").read_text())
    vid = next(iter(ann))
    ann[vid]["bbox"][3] = [float("nan"), 0, 10, 10]   # the loader would skip it: never silently
    with pytest.raises(GroundTruthError, match=f"{vid}: bbox: box 3 has a non-finite value"):
        ground_truth_entries(ann, "test.json")


def _key():
    return st.sampled_from(["0", "1", "2", "3", "12", "01", "00", " 2", "2 ", "+1", "-1", "1.0", "", "\u0663", "\u00b2",
                            "99999999999999999999", "1000000000000000000"]) | st.integers(-2, 4)


def _coord():
    return (st.integers(-3, 12) | st.floats(-3, 12, width=32) | st.sampled_from(
        [float("nan"), float("inf"), True, "1", None, 2 ** 60, 2 ** 60 + 1, np.float64(2.5)]))


def _box():
    floats = st.floats(-3, 12, width=32) | st.sampled_from([float("nan"), float("inf"), -0.0, 2.0 ** 60])
    return (st.lists(_coord(), min_size=4, max_size=4) | st.lists(_coord(), min_size=3, max_size=5)
            | st.lists(floats, min_size=4, max_size=4) | st.lists(floats, min_size=3, max_size=5)  # (marshalled)
            | st.tuples(_coord(), _coord(), _coord(), _coord()) | st.sampled_from([None, "box", {}, "abcd"]))


def _entry():
    span = st.integers(-1, 4) | st.sampled_from([1.0, True, "1", None, 2 ** 70])
    full = st.fixed_dictionaries({"st_frame": span, "ed_frame": span,
                                  "bbox": st.dictionaries(_key(), _box(), max_size=4) | st.sampled_from([[], None])})
    return full | full.map(lambda e: {k: v for k, v in e.items() if k != "ed_frame"}) | st.sampled_from([None, []])


@st.composite
def _near_valid_entry(draw):
    """Mostly valid entries with one fault now and then (the fast pass's own territory)."""
    rare = st.integers(0, 39).map(lambda i: i == 0)  # a fault in one draw of forty
    st_f = draw(st.integers(0, 4))
    ed_f = st_f - 1 if draw(rare) else draw(st.integers(st_f, st_f + 4))
    wide = draw(rare) or ed_f < st_f
    frames = draw(st.sets(st.integers(st_f - 1, ed_f + 1) if wide else st.integers(st_f, ed_f), max_size=5))
    num = st.floats(0, 9, width=32) | st.integers(0, 9) if draw(st.booleans()) else st.floats(0, 9, width=32)
    bbox = {}
    for f in sorted(frames):
        x1, y1, w, h = draw(num), draw(num), draw(num), draw(num)
        box = draw(_box()) if draw(rare) else [x1, y1, x1 + w, y1 + h]
        key = draw(_key()) if draw(rare) else str(f)
        bbox[key] = box
    return {"st_frame": st_f, "ed_frame": ed_f, "bbox": bbox}


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]),
                       st.integers(0, 4).flatmap(lambda i: _near_valid_entry() if i else _entry()), max_size=3))
def test_fast_pass_equals_the_per_entry_checks(pred):
    """The vectorised pass (entry_arrays) never passes what the per-entry checks reject, and its
    arrays hold exactly the entries' values; validate() gives the per-entry messages."""
    slow = [p for vid, e in pred.items() for p in _entry_problems(vid, e)]
    arrays = entry_arrays(pred)
    if arrays is not None:
        assert slow == []
        assert all(str(int(k)) == k for e in pred.values() for k in e["bbox"])  # canonical keys only
        assert arrays.span.tolist() == [[e["st_frame"], e["ed_frame"]] for e in pred.values()]
        assert arrays.counts.tolist() == [len(e["bbox"]) for e in pred.values()]
        assert arrays.frames.tolist() == [int(k) for e in pred.values() for k in e["bbox"]]
        assert arrays.boxes.tolist() == [[float(c) for c in b] for e in pred.values() for b in e["bbox"].values()]
    assert validate(pred) == slow
    got = prediction_problems(pred, GT)
    if got and got[0].startswith("not in the challenge submission format"):  # no entry is an object at all
        assert len(got) == 1 and pred and not any(isinstance(e, dict) for e in pred.values())
    else:
        assert got == slow + [f"video {v}: unknown video id (not in the ground truth)" for v in pred if v == "c"]


def _files(tmp_path, pred, gt):
    for name, obj in (("pred.json", pred), ("gt.json", gt)):
        if obj is not None:
            (tmp_path / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return ["--pred", str(tmp_path / "pred.json"), "--gt", str(tmp_path / "gt.json")]


def test_cli_refusals_command_line(tmp_path, shared_data):
    """Through the command line (a fresh interpreter): exit code 2 and one clear message."""
    ann = (shared_data / "hcstvg" / "test_sample.json").read_text()
    tool = [sys.executable, str(REPO / "tools" / "evaluate_stvg.py")]
    r = subprocess.run(tool + _files(tmp_path, ann, ann) + ["--lenient"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "not in the challenge submission format" in r.stderr   # annotations as predictions
    assert "found an HC-STVG v1/v2 annotation file" in r.stderr and "Traceback" not in r.stderr
    gt = json.loads(json.dumps(GT))
    gt["b"]["bbox"]["1"] = [0, 0, float("nan"), 10]
    r = subprocess.run(tool + _files(tmp_path, GT, gt) + ["--lenient"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "gt.json: invalid ground truth: video b: bbox at frame 1" in r.stderr  # NaN in GT
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_cli_refusals(tmp_path, capsys):
    """The same main() in-process, for the other cases (each a fresh interpreter would cost ~10 s here)."""
    from tools import evaluate_stvg

    def run(pred, gt, *extra):
        code = evaluate_stvg.main(_files(tmp_path, pred, gt) + list(extra))
        out = capsys.readouterr()
        return code, out.out, out.err

    for bad in ({}, {"a": {"foo": 1}}):   # empty / wrong-schema ground truth, even with --lenient
        code, out, err = run(GT, bad, "--lenient")
        assert code == 2 and f"{tmp_path / 'gt.json'}: invalid ground truth" in err and "m_vIoU" not in out
        assert "<annotations>" not in err
    code, _, err = run({"a": {"bbox": []}}, GT)
    assert code == 2 and "video a: missing key 'st_frame'" in err and "use --lenient" in err
    code, _, err = run({"a": {"bbox": []}}, GT, "--lenient")
    assert code == 2 and "none of the 1 entries is readable" in err and "even with --lenient" in err
    code, _, err = run(GT, GT, "--device", "foo")
    assert code == 2 and "unknown device 'foo'" in err
    for extra in ([], ["--lenient"]):  # two keys naming one video: --lenient cannot help
        code, _, err = run({"a.mp4": GT["a"], "a": GT["a"]}, GT, *extra)
        assert code == 2 and "videos a.mp4 and a are the same video 'a'" in err and "even with --lenient" in err
    code, out, _ = run({"a.mp4": GT["a"], "b": GT["b"]}, GT)  # file names or stems: both match
    assert code == 0 and out.splitlines()[1].split()[:3] == ["100.00", "|", "100.00"]
    (tmp_path / "gt.json").unlink()
    (tmp_path / "gt.json").mkdir()
    code, _, err = run(GT, None)
    assert code == 2 and f"error: ground truth file is a directory, not a file: {tmp_path / 'gt.json'}" in err
    (tmp_path / "gt.json").rmdir()
    (tmp_path / "pred.json").unlink()
    (tmp_path / "pred.json").mkdir()
    code, _, err = run(None, GT)
    assert code == 2 and f"error: submission file is a directory, not a file: {tmp_path / 'pred.json'}" in err
    (tmp_path / "pred.json").rmdir()
    code, out, _ = run(GT, None, "--gt", str(REPO / "examples" / "example_gt.json"), "--lenient")
    assert code == 2  # example ids differ from GT's: nothing to score
