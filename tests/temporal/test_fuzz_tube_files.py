"""Fuzzing the temporal stage's tube-file reader (``read_video_tubes``, the format ``spatial.tubes`` writes).

Any file gives the tubes a slow by-hand reading gives, or a ``ValueError`` naming the file, the
video, and the tube and field; never an OverflowError, a float frame truncated to an int or a
string read as a number.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from temporal.data.tube_files import read_video_tubes, tube_file_path
from tests.fuzz_common import fuzz_settings, json_values, retyped

FUZZ = fuzz_settings(300)
ODD = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 1e39, 10 ** 20, 2 ** 63, 10 ** 400, -1, 0,
                       1.5, 2.0, True, False, "3", None])
NUMBER, JSON = json_values(ODD, ints=(-3, 12), max_leaves=10)


@st.composite
def tube_entry(draw):
    first, n = draw(st.integers(0, 10)), draw(st.integers(1, 4))
    t = {"id": 0, "score": 0.5, "start_frame": first, "end_frame": first + n - 1,
         "boxes": [[float(draw(st.integers(0, 20))), 2.0, 30.5, 40.0] for _ in range(n)], "scores": None}
    for key in draw(st.lists(st.sampled_from(sorted(t)), max_size=2)):  # one or two fields changed, mostly
        how = draw(st.sampled_from(["drop", "json", "number", "retype"]))
        if how == "drop":
            t.pop(key, None)
        elif how == "retype":  # the same value as another type: 3 -> 3.0 or "3", a box as strings
            t[key] = retyped(draw, t.get(key))
        else:
            t[key] = draw(JSON if how == "json" else NUMBER)
    if isinstance(t.get("boxes"), list) and t["boxes"] and draw(st.booleans()):  # one box of odd values
        t["boxes"][draw(st.integers(0, len(t["boxes"]) - 1))] = draw(st.lists(NUMBER, max_size=5))
    return t


@st.composite
def tube_file(draw):
    vid = draw(st.sampled_from(["v.mp4"] * 4 + ["w.mp4", None, 3]))
    obj = {"video_id": vid, "fps": 10.0, "num_frames": 20, "tubes": draw(st.lists(tube_entry() | JSON, max_size=3)
                                                                         | JSON)}
    if draw(st.integers(0, 5)) == 0:
        del obj["video_id"]
    return obj


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_tube_files")


def _is(v, types) -> bool:
    return isinstance(v, types) and not isinstance(v, bool)


def by_hand(obj):
    """``[(frames, boxes, score)]`` of a file that must read as video ``v.mp4`` (None: must not)."""
    if not (isinstance(obj, dict) and obj.get("video_id") == "v.mp4" and isinstance(obj.get("tubes"), list)):
        return None
    out = []
    for t in obj["tubes"]:
        if not isinstance(t, dict):
            return None
        first, last, boxes, score = t.get("start_frame"), t.get("end_frame"), t.get("boxes"), t.get("score")
        if not (_is(first, int) and _is(last, int) and 0 <= first <= last < 2 ** 53 and isinstance(boxes, list)
                and len(boxes) == last - first + 1):
            return None
        for b in boxes:
            if not (isinstance(b, list) and len(b) == 4 and all(_is(c, (int, float)) and abs(c) < 3e38 for c in b)
                    and all(math.isfinite(c) for c in b) and b[2] >= b[0] and b[3] >= b[1]):
                return None
        if score is not None and not (_is(score, (int, float)) and abs(score) < 1e308 and math.isfinite(score)):
            return None
        out.append((list(range(first, last + 1)), boxes, score))
    return out


@FUZZ
@given(obj=tube_file() | JSON)
def test_any_tube_file_reads_as_by_hand_or_names_the_file_video_and_field(folder, obj):
    path = tube_file_path(str(folder), "v.mp4")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    want = by_hand(obj)
    try:
        tubes = read_video_tubes(path, "v.mp4")
    except ValueError as e:
        assert want is None, f"refused a valid file: {e}"
        msg = str(e)
        assert msg.startswith(f"{path}: "), msg
        assert "video_id is" in msg or msg.startswith(f"{path}: video v.mp4: "), msg
        if isinstance(obj, dict) and obj.get("video_id") == "v.mp4" and isinstance(obj.get("tubes"), list):
            assert " tube " in msg, msg  # the tube (and, past its type, the field) is named
        return
    assert want is not None, f"read an invalid file: {obj!r}"
    assert len(tubes) == len(want)
    for tube, (frames, boxes, score) in zip(tubes, want):
        assert tube.frames.tolist() == frames and tube.scores is None
        np.testing.assert_array_equal(tube.boxes.numpy(), np.asarray(boxes, np.float32))
        assert tube.score == (None if score is None else float(score))


def test_values_found_by_fuzzing_are_named(folder):
    """Once an OverflowError (inf or huge numbers) or read silently (a float or string frame, a
    string coordinate, a bool frame); now each names the tube and the field."""
    good = {"start_frame": 1, "end_frame": 2, "boxes": [[0, 0, 1, 1]] * 2, "score": 0.5}
    cases = [({"start_frame": float("inf")}, "tube 0: start_frame: expected an integer"),
             ({"start_frame": 1.5}, "tube 0: start_frame: expected an integer, got 1.5"),
             ({"end_frame": "2"}, "tube 0: end_frame: expected an integer, got '2'"),
             ({"start_frame": True}, "tube 0: start_frame: expected an integer"),
             ({"boxes": [[0, 0, 1, 1], ["0", 0, 1, 1]]}, "tube 0: boxes: expected [[x1, y1, x2, y2], ...]"),
             ({"boxes": [[0, 0, 1, 1], [0, 0, 10 ** 400, 1]]}, "tube 0: boxes: expected"),
             ({"boxes": [[0, 0, 1, 1], [0, 0, 1e39, 1]]}, "tube 0: Tube.boxes: non-finite coordinate in box 1"),
             ({"score": 10 ** 400}, "tube 0: score: expected a finite number, got 1000"),
             ({"score": float("nan")}, "tube 0: score: expected a finite number, got nan"),
             ({"score": "0.5"}, "tube 0: score: expected a finite number, got '0.5'")]
    path = tube_file_path(str(folder), "v.mp4")
    for change, message in [({}, None)] + cases:
        with open(path, "w") as f:
            json.dump({"video_id": "v.mp4", "tubes": [{**good, **change}]}, f)
        if message is None:
            assert read_video_tubes(path, "v.mp4")[0].frames.tolist() == [1, 2]
            continue
        with pytest.raises(ValueError) as info:
            read_video_tubes(path, "v.mp4")
        assert str(info.value).startswith(f"{path}: video v.mp4: ") and message in str(info.value), str(info.value)
