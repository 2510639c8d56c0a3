"""Fuzzing the temporal stage's tube-file reader (``read_video_tubes``, the format ``spatial.tubes`` writes).

Any file gives the tubes a slow by-hand reading gives, or a ``ValueError`` naming the file, the
video, and the tube and field; never an OverflowError, a float frame truncated to an int or a
string read as a number.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from temporal.data.tube_files import read_video_tubes, tube_file_path
from tests.fuzz_common import TUBE_JSON, TUBE_NUMBER, fuzz_settings, tube_entry, tube_entry_by_hand

FUZZ = fuzz_settings(300)
NUMBER, JSON = TUBE_NUMBER, TUBE_JSON  # the same hostile values as the entries


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



def by_hand(obj):
    """``[(frames, boxes, scores, score)]`` of a file that must read as video ``v.mp4`` (None: must not)."""
    if not (isinstance(obj, dict) and obj.get("video_id") == "v.mp4" and isinstance(obj.get("tubes"), list)):
        return None
    tubes = [tube_entry_by_hand(t) for t in obj["tubes"]]
    return None if any(t is None for t in tubes) else tubes


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
    for tube, (frames, boxes, scores, score) in zip(tubes, want):
        assert tube.frames.tolist() == frames
        assert (tube.scores is None) == (scores is None)
        if scores is not None:
            np.testing.assert_array_equal(tube.scores.numpy(), np.asarray(scores, np.float32))
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
