import json
import math
import os

import pytest

from stvg.structures import Tube
from stvg.submission import (SubmissionError, entry_to_tube, read_submission, tube_to_entry, validate,
                             write_submission)


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
