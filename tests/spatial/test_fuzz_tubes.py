"""Fuzzing the tube-file reader (``read_tubes_json``) and the folder reader (``read_tube_folder``).

Any file gives the tubes a slow by-hand reading gives, or a ``ValueError`` naming the file, the
video, the tube and the field; never an OverflowError, a float frame truncated to an int, a string
read as a number or a NaN fps.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from spatial.tubes import VideoTubes, read_tube_folder, read_tubes_json, write_tubes_json
from stvg.structures import Tube
from tests.fuzz_common import TUBE_JSON, TUBE_NUMBER, fuzz_settings, mutate, tube_entry, tube_entry_by_hand

FUZZ = fuzz_settings(250)
NUMBER, JSON = TUBE_NUMBER, TUBE_JSON  # the same hostile values as the entries
HEADER = {"video_id": "v.mp4", "fps": 10.0, "num_frames": 20, "width": 64, "height": 48, "stride": 2,
          "detector": {"name": "hog"}, "linking": {}, "report": {}}


@st.composite
def tube_file(draw):
    obj = mutate(draw, dict(HEADER), most=1)
    obj["tubes"] = draw(st.lists(tube_entry() | JSON, max_size=3) | JSON)
    return obj


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_tubes")


def _write(path, obj) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return str(path)


def _is(v, types) -> bool:
    return isinstance(v, types) and not isinstance(v, bool)


def by_hand(obj):
    """The tubes of a file that must read, converted one box at a time (None when it must not read)."""
    ints = ("num_frames", "width", "height", "stride")
    if not (isinstance(obj.get("video_id"), str) and obj["video_id"] and _is(obj.get("fps"), (int, float))
            and math.isfinite(obj["fps"]) and obj["fps"] > 0 and all(_is(obj.get(k), int) and 1 <= obj[k] < 2 ** 53 for k in ints)
            and all(isinstance(obj.get(k, {}), dict) for k in ("detector", "linking", "report"))
            and isinstance(obj.get("tubes"), list)):
        return None
    tubes = [tube_entry_by_hand(t) for t in obj["tubes"]]
    return None if any(t is None for t in tubes) else tubes


@FUZZ
@given(obj=tube_file() | JSON)
def test_any_tube_file_reads_as_by_hand_or_names_the_file_video_and_field(folder, obj):
    path = _write(folder / "v.mp4.json", obj)
    want = by_hand(obj) if isinstance(obj, dict) else None
    try:
        got = read_tubes_json(path)
    except ValueError as e:
        assert want is None, f"refused a valid file: {e}"
        msg = str(e)
        assert msg.startswith(f"{path}: "), msg
        if msg.startswith(f"{path}: video "):  # past the header: the field is named
            assert any(f"{k}" in msg for k in ("fps", "num_frames", "width", "height", "stride", "detector",
                                                "linking", "report", "tubes", "tube ")), msg
        return
    assert want is not None, f"read an invalid file: {obj!r}"
    assert (got.video_id, got.fps, got.num_frames, got.width, got.height, got.stride) == tuple(
        obj[k] for k in ("video_id", "fps", "num_frames", "width", "height", "stride"))
    assert type(got.num_frames) is int and type(got.fps) is float
    assert len(got.tubes) == len(want)
    for tube, (frames, boxes, scores, score) in zip(got.tubes, want):
        assert tube.frames.tolist() == frames
        np.testing.assert_array_equal(tube.boxes.numpy(), np.asarray(boxes, np.float32))
        assert (tube.scores is None) == (scores is None)
        if scores is not None:
            np.testing.assert_array_equal(tube.scores.numpy(), np.asarray(scores, np.float32))
        assert tube.score == (None if score is None else float(score))


@FUZZ
@given(files=st.lists(tube_file() | JSON, min_size=0, max_size=3), wanted=st.lists(st.sampled_from(["v.mp4", "w.mp4"]),
                                                                                  max_size=2))
def test_tube_folder_reads_or_names_the_folder_or_the_file(folder, files, wanted):
    # (no logger level is changed here: a level left on "spatial.tubes" hides its warnings from later tests)
    sub = folder / "dir"
    sub.mkdir(exist_ok=True)
    for old in sub.iterdir():
        old.unlink()
    for i, obj in enumerate(files):
        _write(sub / f"{i}.json", obj)
    try:
        got = read_tube_folder(str(sub), wanted)
    except ValueError as e:
        assert str(e).startswith(str(sub)) or f"in {sub}" in str(e), str(e)
        return
    assert set(got) <= set(wanted) and got
    ok = [by_hand(obj) for obj in files if isinstance(obj, dict)]
    assert len(ok) == len(files) and all(t is not None for t in ok)


@FUZZ
@given(n=st.integers(0, 3), first=st.integers(0, 100), length=st.integers(1, 5), scores=st.booleans(),
       coords=st.lists(st.floats(0, 1000, allow_nan=False, width=32), min_size=2, max_size=2))
def test_written_tube_files_read_back(folder, n, first, length, scores, coords):
    x, y = coords
    tubes = [Tube(np.arange(first, first + length), [[x, y, x + k, y + 2 * k]] * length,
                  [0.5] * length if scores else None, 0.25 * k) for k in range(n)]
    path = str(folder / "round.json")
    write_tubes_json(path, VideoTubes("r.mp4", 12.5, first + length, 1920, 1080, 1, tubes))
    back = read_tubes_json(path)
    assert back.video_id == "r.mp4" and len(back.tubes) == n
    for a, b in zip(back.tubes, tubes):
        assert a.frames.tolist() == b.frames.tolist() and a.score == b.score
        np.testing.assert_allclose(a.boxes.numpy(), b.boxes.numpy(), atol=0.006)  # 2 decimals in the file


def test_values_found_by_fuzzing_are_named(folder):
    """Once an OverflowError (inf or huge numbers) or read silently (a float or string frame, a bool
    size, a NaN fps, a video id that is not a string); now each names the field."""
    good = {**HEADER, "tubes": [{"start_frame": 1, "end_frame": 2, "boxes": [[0, 0, 1, 1]] * 2, "score": 0.5}]}
    cases = [({"fps": float("nan")}, "video v.mp4: fps: expected a finite number, got nan"),
             ({"stride": float("inf")}, "video v.mp4: stride: expected an integer, got inf"),
             ({"width": True}, "video v.mp4: width: expected an integer, got True"),
             ({"video_id": None}, "not a valid tube file (video_id is None, not a video id)"),
             ({"tubes": [{**good["tubes"][0], "start_frame": 1.5}]}, "tube 0: start_frame: expected an integer"),
             ({"tubes": [{**good["tubes"][0], "end_frame": "2"}]}, "tube 0: end_frame: expected an integer, got '2'"),
             ({"tubes": [{**good["tubes"][0], "boxes": [[0, 0, 1, 1], [0, 0, 10 ** 400, 1]]}]}, "tube 0: boxes: "),
             ({"tubes": [{**good["tubes"][0], "boxes": [[0, 0, 1, 1], [0, 0, 1e39, 1]]}]},
              "tube 0: Tube.boxes: non-finite coordinate in box 1"),
             ({"tubes": [{**good["tubes"][0], "boxes": [[0, 0, 1, 1], ["0", 0, 1, 1]]}]}, "tube 0: boxes: expected"),
             ({"tubes": [{**good["tubes"][0], "score": 10 ** 400}]}, "tube 0: score: expected a finite number")]
    assert read_tubes_json(_write(folder / "ok.json", good)).tubes[0].frames.tolist() == [1, 2]
    for change, message in cases:
        path = _write(folder / "odd.json", {**good, **change})
        with pytest.raises(ValueError) as info:
            read_tubes_json(path)
        assert str(info.value).startswith(f"{path}: ") and message in str(info.value), (change, str(info.value))
