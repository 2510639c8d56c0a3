"""Fuzzing the submission reader/validator/writer and the evaluator's entry (both sides).

Any file gives a result or a project error naming the file; a submission the validator passes
scores exactly what the plain-Python transcription of the official definition gives; the lenient
reading scores in [0, 1] or refuses with a message naming the file.
"""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stvg.data import submission_id
from stvg.evaluation import GroundTruthError, HCSTVGEvaluator, evaluate
from stvg.io import read_json
from stvg.submission import SubmissionError, entry_to_tube, read_submission, validate, write_submission
from tests.stvg.official_reference import evaluate_ref
from tests.fuzz_common import fuzz_settings, json_values

FUZZ = fuzz_settings(150)
ODD = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324, 10 ** 20, -10 ** 20,
                       2 ** 63, 2 ** 64, 10 ** 400, 2 ** 53 + 1, -1, 0, 1.5, True, False])
NUMBER, JSON = json_values(ODD, ints=(-3, 12), max_leaves=10)
FRAME_KEY = (st.sampled_from(["07", " 3", "-1", "1e3", "x", "", "99999999999999999999", "\u0663", "3.0"])
             | st.integers(-2, 12).map(str))
BOX = st.lists(NUMBER, max_size=5) | JSON
GT = {"a": {"st_frame": 2, "ed_frame": 5, "bbox": {str(f): [1, 1, 6, 6] for f in range(2, 6)}},
      "b.mp4": {"st_frame": 1, "ed_frame": 3, "bbox": {str(f): [0.5, 0, 4, 4.5] for f in range(1, 4)}}}


@st.composite
def entry(draw):
    """A valid entry with fields dropped or replaced and odd frame keys or boxes added."""
    first = draw(st.integers(1, 8))
    last = draw(st.integers(first, 10))
    e = {"st_frame": first, "ed_frame": last,
         "bbox": {str(f): draw(st.sampled_from([[1.0, 2.0, 5.0, 6.0], [0, 0, 4, 4], [2, 1, 6.5, 5]]))
                  for f in range(first, last + 1)}}
    for key in list(e):
        how = draw(st.sampled_from(["keep"] * 5 + ["drop", "json", "number"]))
        if how == "drop":
            del e[key]
        elif how == "json":
            e[key] = draw(JSON)
        elif how == "number":
            e[key] = draw(NUMBER)
    if isinstance(e.get("bbox"), dict) and draw(st.booleans()):
        e["bbox"].update(draw(st.dictionaries(FRAME_KEY, BOX, max_size=3)))
    return e


VIDEO = st.sampled_from(["a", "a.mp4", "b", "b.mp4", "b.mkv", "c", ""]) | st.text(max_size=3)
SUBMISSION = st.dictionaries(VIDEO, entry(), max_size=4) | st.dictionaries(VIDEO, entry() | JSON, max_size=3) | JSON


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    logging.getLogger("stvg.evaluation").setLevel(logging.ERROR)  # the lenient summary, once per example
    return tmp_path_factory.mktemp("fuzz_submission")


@pytest.fixture(scope="module")
def evaluator():
    return HCSTVGEvaluator(GT, source="gt.json")


def _write(folder, obj, name="pred.json") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return path


def _official(pred):
    """The reference evaluator matches keys as they are: key the predictions by the ground truth's ids."""
    ids = {submission_id(v): v for v in GT}
    return evaluate_ref({ids.get(submission_id(v), v): e for v, e in pred.items()}, GT)


@FUZZ
@given(obj=SUBMISSION, lenient=st.booleans())
def test_any_file_scores_or_is_refused_naming_the_file(folder, evaluator, obj, lenient):
    path = _write(folder, obj)
    try:
        pred = read_submission(path)
    except SubmissionError as e:
        assert not isinstance(obj, dict) and str(e).startswith(f"{path}: invalid submission: top level is")
        return
    problems = validate(pred, GT, allow_missing=True)
    assert all(isinstance(p, str) and p.startswith(("video ", "videos ")) for p in problems)
    try:
        metrics = evaluator.evaluate(pred, lenient=lenient, source=path)
    except SubmissionError as e:
        assert str(e).startswith(f"{path}: invalid submission: ") and e.problems
        assert problems or e.fatal  # refused only for a problem the validator names, or another format
        return
    assert metrics["num_videos"] == len(GT)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5"))
    if not problems:  # valid: exactly the official numbers
        ref = _official(pred)
        for k in ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5"):
            assert metrics[k] == pytest.approx(ref[k], abs=1e-12), k
    else:
        assert lenient


@FUZZ
@given(obj=SUBMISSION)
def test_any_ground_truth_is_indexed_or_refused_naming_the_file(folder, obj):
    path = _write(folder, obj, "gt.json")
    try:
        ev = HCSTVGEvaluator(read_json(path, "ground truth file"), source=path)
    except GroundTruthError as e:
        assert str(e).startswith(f"{path}: ") and e.problems
        return
    assert validate(ev.ground_truth) == []  # what is accepted is a valid challenge file
    assert evaluate(ev.ground_truth, ev.ground_truth)["m_vIoU"] == pytest.approx(
        evaluate_ref(ev.ground_truth, ev.ground_truth)["m_vIoU"], abs=1e-12)


@FUZZ
@given(e=entry(), vid=VIDEO)
def test_entry_to_tube_converts_by_hand_or_names_the_video(e, vid):
    try:
        tube = entry_to_tube(e, vid)
    except ValueError as err:
        assert str(err).startswith(f"video {vid}: ")
        return
    items = sorted((int(k), b) for k, b in e["bbox"].items())
    assert tube.frames.tolist() == [k - 1 for k, _ in items]
    np.testing.assert_array_equal(tube.boxes.numpy(), np.asarray([b for _, b in items], np.float32).reshape(-1, 4))


@FUZZ
@given(obj=st.dictionaries(VIDEO, entry(), max_size=3))
def test_write_submission_writes_only_valid_files(folder, obj):
    path = os.path.join(str(folder), "written.json")
    if os.path.exists(path):
        os.remove(path)
    try:
        write_submission(path, obj)
    except SubmissionError as e:
        assert str(e).startswith(f"{path}: invalid submission: ") and e.problems and not os.path.exists(path)
        return
    back = read_submission(path)
    assert validate(back) == [] and list(back) == [submission_id(v) for v in obj]


def test_frame_numbers_too_large_found_by_fuzzing(evaluator):
    """Once an OverflowError from the evaluator (a frame number too large for int64 or float64, strict
    and lenient); now a named problem, and a lenient reading scores the entry as unreadable."""
    for big in (2 ** 63, 10 ** 400):
        pred = {"a": {"st_frame": big, "ed_frame": big + 1, "bbox": {}}}
        assert validate(pred) == [f"video a: st_frame {big} is too large for a frame number",
                                  f"video a: ed_frame {big + 1} is too large for a frame number"]
        with pytest.raises(SubmissionError, match="^p.json: invalid submission: video a: st_frame .* too large"):
            evaluator.evaluate(pred, source="p.json")
    pred = {"a": {"st_frame": 10 ** 400, "ed_frame": 1, "bbox": {"2": [1, 1, 6, 6]}}, "b": GT["b.mp4"]}
    assert evaluator.evaluate(pred, lenient=True)["m_vIoU"] == pytest.approx(0.5)  # a unreadable: 0; b: 1
