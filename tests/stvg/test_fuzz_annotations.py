"""Fuzzing the HC-STVG loader (v1, v2, synthetic with ``duration``, challenge ``ed_frame``, query-only).

Any file gives records or a project error naming the file (and, for an entry, the video and the
field); a loaded record equals a slow conversion of its entry written out by hand, and keeps the
conventions (0-based frames inside ``img_num``, x1, y1, x2, y2 boxes inside the frame, finite fps).
"""
from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stvg.data.hcstvg import AnnotationError, load_hcstvg
from tests.fuzz_common import fuzz_settings, json_values, retyped

FUZZ = fuzz_settings(250)
FIELDS = ("caption", "English", "width", "height", "img_size", "img_num", "st_frame", "ed_frame", "st_time",
          "ed_time", "bbox", "duration")
REPORTED = FIELDS + ("entry", "sentence")

# numbers a hostile file holds: NaN, inf, huge and tiny, negative, bool, int64 overflow
ODD = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -1e308, 5e-324, 1e-300, 10 ** 20,
                       -10 ** 20, 2 ** 63, 2 ** 64, 10 ** 400, 2 ** 53 + 1, -1, 0, 0.5, True, False])
NUMBER, JSON = json_values(ODD, ints=(-5, 60), max_leaves=12)
BOX = st.lists(NUMBER, max_size=5) | st.tuples(NUMBER, NUMBER, NUMBER, NUMBER).map(list)


@st.composite
def valid_entry(draw):
    """A valid entry of one of the four variants (boxes inside a 50x40 frame)."""
    variant = draw(st.sampled_from(["v1", "v2", "synthetic", "challenge"]))
    n, first = draw(st.integers(1, 6)), draw(st.integers(1, 20))
    img_num = draw(st.integers(first + n - 1, 45))
    duration = draw(st.sampled_from([0.5, 2.0, 4.0])) if variant == "synthetic" else 20.0
    fps = img_num / duration
    boxes = draw(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20), st.integers(1, 30), st.integers(1, 20))
                          .map(list), min_size=n, max_size=n))
    e = {"bbox": boxes, "st_frame": first, "img_num": img_num,
         "st_time": (first - 1) / fps, "ed_time": (first + n - 1) / fps}
    if variant in ("v1", "synthetic"):
        e.update(caption=" a man runs ", width=50, height=40)
    else:
        e.update(English="a man runs", img_size=[40, 50])
    if variant == "synthetic":
        e["duration"] = duration
    if variant == "challenge":
        e["ed_frame"] = first + n - 1
    return e


@st.composite
def mutated_entry(draw):
    """A valid entry with some fields dropped or replaced (wrong types, odd numbers, bad boxes,
    swapped frames, empty box lists, lengths that disagree)."""
    e = draw(valid_entry())
    for key in list(e):
        how = draw(st.sampled_from(["keep"] * 5 + ["drop", "json", "number", "boxes", "swap", "retype"]))
        if how == "retype":  # the same value as another type: 3 -> 3.0 or "3", boxes as strings
            e[key] = retyped(draw, e[key])
        elif how == "drop":
            del e[key]
        elif how == "json":
            e[key] = draw(JSON)
        elif how == "number":
            e[key] = draw(NUMBER)
        elif how == "boxes":
            e[key] = draw(st.lists(BOX, max_size=4))
        elif how == "swap" and key in ("st_frame", "ed_frame", "st_time", "ed_time"):
            other = {"st_frame": "ed_frame", "ed_frame": "st_frame", "st_time": "ed_time", "ed_time": "st_time"}[key]
            if other in e:
                e[key], e[other] = e[other], e[key]
    if draw(st.booleans()) and "bbox" in e and isinstance(e["bbox"], list):  # one box more or fewer
        e["bbox"] = e["bbox"][:-1] if draw(st.booleans()) else e["bbox"] + [[0, 0, 1, 1]]
    return e


ANNOTATIONS = st.dictionaries(st.text(max_size=6), mutated_entry() | valid_entry() | JSON | st.text(max_size=8),
                              max_size=4)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    logging.getLogger("stvg.data.hcstvg").setLevel(logging.ERROR)  # one warning per skipped file otherwise
    return tmp_path_factory.mktemp("fuzz_annotations")


def _write(folder, obj, name="ann.json") -> str:
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f)  # NaN and inf are written as NaN / Infinity, which json reads back
    return path


def reference(vid: str, e: dict):
    """What a valid entry must load as, converted by hand (one box at a time)."""
    duration = e.get("duration", 20.0)
    fps = e["img_num"] / duration
    width, height = (e["img_size"][1], e["img_size"][0]) if "img_size" in e else (e["width"], e["height"])
    frames = [e["st_frame"] - 1 + k for k in range(len(e["bbox"]))]
    boxes = [[x, y, x + w, y + h] for x, y, w, h in e["bbox"]]
    if "st_time" in e:
        span = (e["st_time"], e["ed_time"])
    else:
        span = ((e["st_frame"] - 1) / fps, (e["st_frame"] - 1 + len(frames)) / fps)
    return (e.get("English", e.get("caption")).strip(), fps, e["img_num"], width, height, frames, boxes, span)


def check_record(vid, entry, a):
    if isinstance(entry, str) or a.tube is None:  # query-only
        assert a.tube is None and a.fps is None and a.sentence and a.sentence == a.sentence.strip()
        return
    sentence, fps, img_num, width, height, frames, boxes, span = reference(vid, entry)
    assert (a.sentence, a.num_frames, a.width, a.height) == (sentence, img_num, width, height)
    assert a.fps == pytest.approx(fps, rel=1e-12) and math.isfinite(a.fps) and a.fps > 0
    assert a.tube.frames.tolist() == frames
    np.testing.assert_array_equal(a.tube.boxes.numpy(), np.asarray(boxes, np.float32))
    assert (a.segment.start, a.segment.end) == pytest.approx(span)
    # the conventions a loaded record keeps
    b = a.tube.boxes.double().numpy()
    assert 0 <= frames[0] and frames[-1] < img_num
    assert (b[:, 0] >= -1e-3).all() and (b[:, 1] >= -1e-3).all()
    assert (b[:, 2] <= width + 1e-3).all() and (b[:, 3] <= height + 1e-3).all()
    assert ((b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])).all()
    assert 0 <= a.segment.start < a.segment.end


@FUZZ
@given(obj=ANNOTATIONS | JSON)
def test_any_file_gives_records_or_an_error_naming_the_file(folder, obj):
    path = _write(folder, obj)
    try:
        videos, report = load_hcstvg(path)
    except ValueError as e:  # only for a top level that is not an object
        assert not isinstance(obj, dict) and str(e).startswith(f"{path}: expected an object")
        return
    assert isinstance(obj, dict) and report.source == path and report.num_entries == len(obj)
    assert report.num_loaded == len(videos) and list(videos) == [v for v in obj if v in videos]
    for p in report.problems:
        assert p.video_id in obj and p.video_id not in videos and p.field in REPORTED and p.message
    if report.problems:
        assert report.summary().startswith(f"{path}: loaded {len(videos)} of {len(obj)} entries")
    for vid, a in videos.items():
        assert a.video_id == vid
        check_record(vid, obj[vid], a)


@FUZZ
@given(entries=st.dictionaries(st.text(min_size=1, max_size=6), mutated_entry(), min_size=1, max_size=3))
def test_strict_mode_names_the_file_the_video_and_the_field(folder, entries):
    path = _write(folder, entries, "strict.json")
    _, report = load_hcstvg(path)
    if not report.problems:
        load_hcstvg(path, strict=True)
        return
    first = report.problems[0]
    with pytest.raises(AnnotationError) as info:
        load_hcstvg(path, strict=True)
    assert info.value.problem == first
    assert str(info.value).startswith(f"{path}: {first.video_id}: {first.field}: ")


@FUZZ
@given(entry=valid_entry())
def test_valid_entries_of_every_variant_load_exactly(folder, entry):
    videos, report = load_hcstvg(_write(folder, {"v.mp4": entry}))
    assert not report.problems, report.problems
    check_record("v.mp4", entry, videos["v.mp4"])


def test_odd_numbers_found_by_fuzzing_are_named_problems(folder):
    """Once an OverflowError (int too large for a float) or a silent inf fps, now a problem each."""
    base = {"caption": "a man", "width": 50, "height": 40, "img_num": 40, "st_frame": 1, "bbox": [[1, 2, 3, 4]]}
    cases = {"st_frame": ({**base, "st_frame": 10 ** 400}, "st_frame: too large"),
             "img_num": ({**base, "img_num": 2 ** 64}, "img_num: too large"),
             "box": ({**base, "bbox": [[10 ** 400, 2, 3, 4]]}, "bbox: box 0 has a value too large"),
             "float frame": ({**base, "st_frame": 1e20, "img_num": 1e20}, "img_num: too large"),
             "fps": ({**base, "duration": 5e-324}, "duration: img_num 40 / duration 5e-324 s is not a finite"),
             "nan time": ({**base, "st_time": float("nan"), "ed_time": 1.0}, "st_time: not finite: nan")}
    for name, (entry, message) in cases.items():
        path = _write(folder, {name: entry}, "odd.json")
        with pytest.raises(AnnotationError) as info:
            load_hcstvg(path, strict=True)
        assert str(info.value).startswith(f"{path}: {name}: {message}"), str(info.value)


@FUZZ
@given(sentences=st.dictionaries(st.text(max_size=6), st.text(max_size=8), max_size=4))
def test_query_only_files(folder, sentences):
    path = _write(folder, sentences, "queries.json")
    videos, report = load_hcstvg(path)
    for vid, s in sentences.items():
        if s.strip():
            assert videos[vid].sentence == s.strip() and videos[vid].tube is None
        else:
            assert vid not in videos and (vid, "sentence") in [(p.video_id, p.field) for p in report.problems]


def test_missing_directory_and_broken_files_name_the_file(folder):
    missing = os.path.join(str(folder), "nope.json")
    with pytest.raises(FileNotFoundError, match=f"not found: {missing}"):
        load_hcstvg(missing)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        load_hcstvg(str(folder))
    for i, text in enumerate(['{"a": ', "NaN NaN", "", "{'a': 1}"]):
        path = os.path.join(str(folder), f"broken{i}.json")
        with open(path, "w") as f:
            f.write(text)
        with pytest.raises(ValueError, match=f"^{path}: invalid JSON"):
            load_hcstvg(path)


@pytest.mark.parametrize("content", [b"\xff\xfe{}", b"[" * 100000 + b"]" * 100000, b'{"a": ' + b"9" * 5000 + b"}"],
                         ids=["not-utf8", "nested-100000", "int-5000-digits"])
def test_undecodable_json_names_the_file(folder, content):
    path = os.path.join(str(folder), "undecodable.json")
    with open(path, "wb") as f:
        f.write(content)
    with pytest.raises(ValueError, match=f"^{path}: "):
        load_hcstvg(path)
