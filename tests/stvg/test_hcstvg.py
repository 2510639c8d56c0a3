import copy
import json

import pytest

from stvg.data import AnnotationError, load_hcstvg

V1 = {"bbox": [[10, 20, 30, 40], [12, 20, 30, 40], [14, 20, 30, 40]], "st_time": 0.2, "ed_time": 0.5,
      "img_num": 200, "caption": "The man waves.", "width": 320, "height": 240, "st_frame": 3}


def v2_entry():
    e = {k: v for k, v in V1.items() if k not in ("caption", "width", "height")}
    e.update(English="The woman sits.", img_size=[240, 320], ed_frame=5)
    return e


def test_v1_entry_conversions():
    videos, report = load_hcstvg({"a.mp4": V1})
    a = videos["a.mp4"]
    assert report.problems == [] and a.fps == 10.0 and (a.width, a.height) == (320, 240)
    assert a.tube.frames.tolist() == [2, 3, 4]  # 1-based st_frame 3 -> 0-based 2
    assert a.tube.boxes[0].tolist() == [10, 20, 40, 60]  # x, y, w, h -> x1, y1, x2, y2
    assert (a.segment.start, a.segment.end) == (0.2, 0.5) and a.sentence == "The man waves."


def test_v2_challenge_and_query_only():
    videos, report = load_hcstvg({"b": v2_entry(), "q1": "A man runs.", "q2": {"English": "A cat."}})
    assert not report.problems
    assert (videos["b"].width, videos["b"].height) == (320, 240) and videos["b"].sentence == "The woman sits."
    assert videos["q1"].tube is None and videos["q2"].sentence == "A cat."
    no_times = v2_entry()
    del no_times["st_time"], no_times["ed_time"]
    seg = load_hcstvg({"c": no_times})[0]["c"].segment
    assert (seg.start, seg.end) == (0.2, 0.5)  # frames 3..5 (1-based) at 10 fps


BAD = [
    ("caption", lambda e: e.pop("caption"), "missing sentence"),
    ("caption", lambda e: e.update(caption=""), "empty sentence"),
    ("img_num", lambda e: e.update(img_num="200"), "expected a number"),
    ("bbox", lambda e: e["bbox"].__setitem__(1, [300, 0, 40, 40]), "outside the frame"),
    ("bbox", lambda e: e["bbox"].__setitem__(2, [10, 10, 0, 40]), "zero-area"),
    ("bbox", lambda e: e["bbox"].__setitem__(0, [1, 2, 3]), "not four numbers"),
    ("st_time", lambda e: e.update(st_time=0.6), "start after end"),
    ("st_frame", lambda e: e.update(st_frame=40), "time/frame mismatch"),
    ("width", lambda e: e.pop("width"), "missing field"),
    ("bbox", lambda e: e.update(img_num=3, st_time=0.0, ed_time=0.2, st_frame=1, bbox=e["bbox"] * 2),
     "beyond img_num"),
]


@pytest.mark.parametrize("field,mutate,message", BAD)
def test_bad_entries_skipped_with_report_or_raised(field, mutate, message):
    bad = copy.deepcopy(V1)
    mutate(bad)
    data = {"good.mp4": V1, "bad.mp4": bad, "good2.mp4": V1}
    videos, report = load_hcstvg(data)
    assert list(videos) == ["good.mp4", "good2.mp4"]
    assert report.skipped == ["bad.mp4"] and report.num_loaded == 2
    assert report.problems[0].field == field and message in report.problems[0].message
    assert "skipped 1" in report.summary() and field in report.summary()
    with pytest.raises(AnnotationError, match=f"bad.mp4: {field}: .*{message}"):
        load_hcstvg(data, strict=True)


def test_ed_frame_mismatch_reported():
    e = v2_entry()
    e["ed_frame"] = 9
    _, report = load_hcstvg({"b": e})
    assert report.problems[0].field == "ed_frame" and "ed_frame is 9" in report.problems[0].message


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_hcstvg(str(tmp_path / "missing.json"))
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: invalid JSON"):
        load_hcstvg(str(p))
    p.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="expected an object"):
        load_hcstvg(str(p))


def test_real_v1_sample(shared_data):
    videos, report = load_hcstvg(str(shared_data / "hcstvg" / "test_sample.json"), strict=True)
    assert len(videos) == 373 and not report.problems
    fps = {round(v.fps, 2) for v in videos.values()}
    assert fps <= {15.0, 15.05, 24.0, 24.05, 25.0, 25.05, 30.0, 30.05}
    assert sum(len(v.tube) for v in videos.values()) == 48760
    for v in videos.values():
        assert v.tube.is_dense() and v.tube.end_frame < v.num_frames
        assert (v.tube.boxes[:, 2] <= v.width).all() and (v.tube.boxes[:, 3] <= v.height).all()


def test_dict_input_named_and_directories_reported(tmp_path, caplog):
    bad = copy.deepcopy(V1)
    bad.pop("caption")
    with caplog.at_level("WARNING", logger="stvg.data.hcstvg"):
        _, report = load_hcstvg({"a.mp4": bad}, name="val.json")
    assert report.source == "val.json" and report.summary().startswith("val.json: loaded 0 of 1 entries")
    assert "val.json: loaded 0 of 1" in caplog.text and "<annotations>" not in caplog.text
    assert load_hcstvg({"a.mp4": bad})[1].source == "<annotations>"
    with pytest.raises(AnnotationError, match="^val.json: a.mp4: caption"):
        load_hcstvg({"a.mp4": bad}, strict=True, name="val.json")
    with pytest.raises(ValueError, match="^val.json: expected an object"):
        load_hcstvg([1], name="val.json")
    with pytest.raises(IsADirectoryError, match=f"HC-STVG annotation file is a directory, not a file: {tmp_path}"):
        load_hcstvg(str(tmp_path))
