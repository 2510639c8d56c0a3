"""Extra training queries: unique descriptions of other (person, span) pairs, a loadable training file."""
import json
import shutil

import numpy as np
import pytest

from stvg.data import load_hcstvg, load_hcstvg_queries
from stvg.data.synthetic import load_synth_config, sample_video
from stvg.data.synthetic.queries import extra_queries, write_training_queries
from stvg.data.synthetic.spec import focus_tube
from stvg.data.synthetic.uniqueness import appearance_matches, check_unique
from temporal.data.annotations import load_annotations
from tools import synthetic_queries


def test_extra_queries_are_unique_and_follow_the_rules():
    cfg = load_synth_config()
    total = 0
    for index in range(12):
        spec = sample_video(cfg, 7, index)
        table = {p.pid: (p.appearance, p.track.spans) for p in spec.people}
        qs = extra_queries(spec, cfg, 5)
        again = extra_queries(spec, cfg, 5)
        assert [q.sentence for q in qs] == [q.sentence for q in again]          # deterministic
        seen = set()
        for q in qs:
            n = len(q.description.actions)
            key = (q.pid, q.start, n)
            assert key not in seen and key != (spec.target, spec.span_start, len(spec.description.actions))
            seen.add(key)
            assert check_unique(table, q.description, q.pid, q.start) == [], (index, q)
            look = table[q.pid][0].named()
            for pid, (app, _) in table.items():     # appearance rules out all but exact twins
                if pid != q.pid and appearance_matches(app, q.description):
                    assert app.named() == look
            p = spec.person(q.pid)
            assert tuple(s.action for s in p.track.spans[q.start:q.start + n]) == q.description.actions
            np.testing.assert_array_equal(q.frames, focus_tube(p, q.start, n, spec.fps,
                                                               cfg.SENTENCE.MIN_SPAN_SECONDS))
            assert q.sentence.endswith(".") and q.sentence[0].isupper()
        total += len(qs)
        assert extra_queries(spec, cfg, 0) == []
    assert total >= 12 * 2       # 2-4 people with several spans each: there is plenty to describe
    with pytest.raises(ValueError, match="max_queries"):
        extra_queries(sample_video(cfg, 7, 0), cfg, -1)


def test_training_file_keeps_the_split_and_loads_everywhere(tiny_annotations, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_annotations, data)
    assert synthetic_queries.main(["--data", str(data), "--per-video", "2"]) == 0
    assert "queries of" in capsys.readouterr().out
    train = json.load(open(data / "train.json"))
    multi = json.load(open(data / "train_multi.json"))
    assert list(multi) == list(train)
    assert all(v[0] == train[k] for k, v in multi.items())           # the video's own query first
    assert all(1 <= len(v) <= 3 for v in multi.values()) and sum(len(v) for v in multi.values()) > len(train)
    queries, report = load_hcstvg_queries(str(data / "train_multi.json"), strict=True)
    assert len(queries) == sum(len(v) for v in multi.values()) == report.num_loaded
    for q in queries:   # every extra ground truth is a person's tube of all_tubes.json, cut to its span
        people = json.load(open(data / "all_tubes.json"))[q.video_id]["people"]
        boxes = {pid: p["bbox"] for pid, p in people.items()}
        f0 = int(q.tube.frames[0]) + 1
        assert any(str(f0) in b and np.allclose(b[str(f0)], q.tube.boxes[0].tolist(), atol=0.02)
                   for b in boxes.values())
    videos, _ = load_annotations("hcstvg", str(data / "train_multi.json"))
    assert [len(v.queries) for v in videos] == [len(v) for v in multi.values()]
    records, report = load_hcstvg(str(data / "train_multi.json"))        # lists are not v1 entries
    assert len(records) == sum(not isinstance(v, list) for v in multi.values())
    assert any("load_hcstvg_queries" in p.message for p in report.problems)
    # deterministic: a second run writes the same file
    assert synthetic_queries.main(["--data", str(data), "--per-video", "2", "--out", str(tmp_path / "b.json")]) == 0
    assert json.load(open(tmp_path / "b.json")) == multi


def test_a_folder_from_another_generator_is_refused(tiny_annotations, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_annotations, data)
    train = json.load(open(data / "train.json"))
    vid = next(iter(train))
    train[vid]["caption"] = "The man waves."
    json.dump(train, open(data / "train.json", "w"))
    with pytest.raises(ValueError, match=vid):
        write_training_queries(str(data), 1)
    assert synthetic_queries.main(["--data", str(data)]) == 2
    assert vid in capsys.readouterr().err and not (data / "train_multi.json").exists()
    assert synthetic_queries.main(["--data", str(tmp_path / "nowhere")]) == 2
    assert synthetic_queries.main(["--data", str(data), "--per-video", "-1"]) == 2


def test_load_hcstvg_queries_reports_entries_by_position(tiny_annotations):
    train = json.load(open(tiny_annotations / "train.json"))
    (vid, entry), (vid2, entry2) = list(train.items())[:2]
    bad = dict(entry, st_frame=0)
    data = {vid: [entry, bad, entry], vid2: entry2, "empty.mp4": []}
    queries, report = load_hcstvg_queries(data)
    assert [q.video_id for q in queries] == [vid, vid, vid2]
    assert report.num_entries == 5 and report.skipped == [f"{vid}[1]", "empty.mp4"]
    assert report.num_loaded == 3
    with pytest.raises(ValueError, match=r"\[1\]"):
        load_hcstvg_queries(data, strict=True)
