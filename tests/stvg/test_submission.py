import json
import math
import os

import numpy as np
import pytest

from stvg.structures import Tube
from stvg.submission import (SubmissionError, entries_for, entry_arrays, entry_to_tube, read_submission,
                             tube_to_entry, validate, write_submission)


def test_tube_entry_roundtrip():
    t = Tube([4, 5, 7], [[1, 2, 3, 4], [1.5, 2, 3, 4], [0, 0, 9, 9]])
    e = tube_to_entry(t)
    assert e["st_frame"] == 5 and e["ed_frame"] == 8 and list(e["bbox"]) == ["5", "6", "8"]
    assert entry_to_tube(e) == t
    assert tube_to_entry(t, st_frame=0, ed_frame=20)["st_frame"] == 1
    with pytest.raises(ValueError, match="video v"):
        entry_to_tube({"st_frame": 1}, "v")


def test_validate_names_every_problem():
    pred = {
        "ok": {"st_frame": 1, "ed_frame": 2, "bbox": {"1": [0, 0, 1, 1]}},
        "notobj": [1, 2],
        "nokeys": {"st_frame": 1},
        "order": {"st_frame": 5, "ed_frame": 2, "bbox": {}},
        "boxes": {"st_frame": 1, "ed_frame": 9, "bbox": {
            "1": [0, 0, 1], "2": [0, 0, math.nan, 1], "3": [5, 0, 1, 1], "20": [0, 0, 1, 1],
            "x": [0, 0, 1, 1], "4": "box"}},
        "floatframe": {"st_frame": 1.5, "ed_frame": 2, "bbox": {}},
        "extra": {"st_frame": 1, "ed_frame": 2, "bbox": {}},
    }
    problems = validate(pred, gt=["ok", "notobj", "nokeys", "order", "boxes", "floatframe", "absent"])
    text = "\n".join(problems)
    for expected in ["video notobj: entry is list", "video nokeys: missing key 'ed_frame'",
                     "video order: st_frame 5 > ed_frame 2", "frame 1: [0, 0, 1] is not four finite",
                     "frame 2: [0, 0, nan, 1] is not four finite", "x2 < x1", "bbox frame 20 outside",
                     "frame key 'x' is not an integer", "frame 4: 'box'", "st_frame is 1.5, not an integer",
                     "video extra: unknown video id", "video absent: missing from the submission"]:
        assert expected in text, expected
    assert not any(p.startswith("video ok") for p in problems)
    assert validate("nope") == ["submission: top level is str, not an object"]
    assert validate(pred, gt=["ok"], allow_missing=True) == validate(pred, gt=["ok"])


def test_write_atomic_and_read(tmp_path, monkeypatch):
    path = tmp_path / "sub.json"
    good = {"v": tube_to_entry(Tube([0, 1], [[0, 0, 2, 2]] * 2))}
    write_submission(str(path), good)
    assert read_submission(str(path)) == json.loads(path.read_text()) == good
    with pytest.raises(SubmissionError, match="st_frame 3 > ed_frame 1"):
        write_submission(str(path), {"v": {"st_frame": 3, "ed_frame": 1, "bbox": {}}})
    assert read_submission(str(path)) == good  # the old file survives a refused write

    def crash(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(json, "dump", crash)
    with pytest.raises(RuntimeError):
        write_submission(str(path), {"w": good["v"]})
    assert read_submission(str(path)) == good
    assert os.listdir(tmp_path) == ["sub.json"]  # no temporary left behind
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(SubmissionError, match="not an object"):
        read_submission(str(tmp_path / "list.json"))


def test_written_by_submission_id_read_as_is(tmp_path):
    path = tmp_path / "sub.json"
    e = tube_to_entry(Tube([0, 1], [[0, 0, 2, 2]] * 2))
    write_submission(str(path), {"55_vfjywN5CN0Y.mp4": e, "27_woC9Vfbn74I.MKV": e, "clip.v2": e})
    assert list(json.loads(path.read_text())) == ["55_vfjywN5CN0Y", "27_woC9Vfbn74I", "clip.v2"]
    path.write_text(json.dumps({"a.mp4": e, "b": e}))
    assert list(read_submission(str(path))) == ["a.mp4", "b"]  # kept: both spellings match
    for check in (True, False):  # two keys naming one video: refused, nothing written
        with pytest.raises(SubmissionError, match="videos a.mp4 and a are the same video 'a'"):
            write_submission(str(tmp_path / "two.json"), {"a.mp4": e, "a": e}, check=check)
    assert not (tmp_path / "two.json").exists()


def test_validate_matches_ids_by_submission_id():
    e = {"st_frame": 1, "ed_frame": 1, "bbox": {"1": [0, 0, 1, 1]}}
    gt = ["a.mp4", "b.mkv", "c"]
    assert validate({"a": e, "b.mkv": e, "c.mp4": e}, gt) == []
    assert validate({"a": e, "x.mp4": e}, gt) == ["video x.mp4: unknown video id (not in the ground truth)",
                                                  "video b.mkv: missing from the submission",
                                                  "video c: missing from the submission"]
    with pytest.raises(ValueError, match="ground truth: videos a.mp4 and a.avi are the same video 'a'"):
        validate({"a": e}, ["a.mp4", "a.avi"])
    other = {**e, "st_frame": 0}
    assert entries_for({"a": e, "c.mp4": other, "x": e}, gt) == {"a.mp4": e, "c": other}  # by annotation key
    with pytest.raises(SubmissionError, match="videos a and a.mp4 are the same video 'a'"):
        entries_for({"a": e, "a.mp4": e}, gt)


def test_fast_pass_arrays_and_refusals():
    """entry_arrays: the values as arrays when all is well; None (then the per-entry messages) else."""
    good = {"v": {"st_frame": 2, "ed_frame": 12, "bbox": {"2": [0.5, 1, 3, 4.25], "12": [0, 0, 0, 0]}},
            "w": {"st_frame": 0, "ed_frame": 0, "bbox": {}}}
    a = entry_arrays(good)
    assert a.span.tolist() == [[2, 12], [0, 0]] and a.counts.tolist() == [2, 0] and a.frames.tolist() == [2, 12]
    assert a.boxes.tolist() == [[0.5, 1.0, 3.0, 4.25], [0.0, 0.0, 0.0, 0.0]]
    floats = {"v": {"st_frame": 1, "ed_frame": 3, "bbox": {str(f): [0.0, 1.5, 2.0, 3.5] for f in (1, 2, 3)}}}
    assert entry_arrays(floats).boxes.tolist() == [[0.0, 1.5, 2.0, 3.5]] * 3  # (the marshalled form)
    assert validate(good) == validate(floats) == []
    for key, box, problem in [(" 7", [0, 0, 1, 1], None), ("7 ", [0, 0, 1, 1], None),  # valid, not canonical
                              ("07", [0, 0, 1, 1], "is not an integer"),
                              ("7", [0.0, 0.0, True, 1.0], "is not four finite numbers"),
                              ("7", [0.0, 0.0, "1", 1.0], "is not four finite numbers"),
                              ("7", [0.0, 0.0, float("nan"), 1.0], "is not four finite numbers"),
                              ("7", [0.0, 0.0, 1.0], "is not four finite numbers"),
                              ("7", [0.0, 0.0, 1.0, 1.0, 1.0], "is not four finite numbers"),
                              ("7", [0.0, 0.0, np.float32(1), 1.0], "is not four finite numbers"),
                              ("7", [2.0, 0.0, 1.0, 1.0], "x2 < x1"), ("70", [0, 0, 1, 1], "outside"),
                              ("", [0, 0, 1, 1], "is not an integer"), ("7.0", [0, 0, 1, 1], "is not an integer")]:
        pred = {"v": {"st_frame": 1, "ed_frame": 9, "bbox": {"1": [0.0, 0.0, 1.0, 1.0], key: box}}}
        assert entry_arrays(pred) is None, key
        problems = validate(pred)
        assert (problems == []) if problem is None else (len(problems) == 1 and problem in problems[0]), problems
    shared = [0.0, 0.0, 1.0, 1.0]  # one list object under many keys
    assert entry_arrays({"v": {"st_frame": 1, "ed_frame": 3, "bbox": {"1": shared, "2": shared}}}).boxes.shape == (2, 4)
