"""stvg.store: per-video files and their formats, odd ids, partial files, the settings record,
failure records and the failures list, merge (once, under a lock, no lock file left), JobSummary;
the video-id rule of stvg.data.ids."""
from __future__ import annotations

import json
import multiprocessing
import os
import time

import numpy as np
import pytest
import torch

from stvg.data import check_video_id, submission_id, video_id_of
from stvg.store import JobSummary, VideoStore

ODD_IDS = ["55_vfjywN5CN0Y.mp4", "with space.mkv", "100%.mp4", ".hidden.mp4", "ünï.mp4", "a.failed",
           "x.json.partial", "settings", ".store"]


def test_video_id_rule():
    assert video_id_of("/data/videos/55_vfjywN5CN0Y.mp4") == "55_vfjywN5CN0Y.mp4"
    assert submission_id("55_vfjywN5CN0Y.mp4") == "55_vfjywN5CN0Y"
    assert submission_id("27_woC9Vfbn74I.MKV") == "27_woC9Vfbn74I"
    assert submission_id("clip.v2") == "clip.v2"  # not a video extension: kept
    for bad in ("", ".", "..", "a/b", "a\0b", "x" * 201, 3):
        with pytest.raises(ValueError, match="video id"):
            check_video_id(bad, "ann.json")


@pytest.mark.parametrize("suffix, payload", [
    (".json", {"tubes": [1, 2], "video_id": "v"}),
    (".npz", {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.asarray("text")}),
    (".pt", {"w": torch.arange(4.0), "n": 3}),
])
def test_write_read_done_ids_any_format_and_odd_ids(tmp_path, suffix, payload):
    store = VideoStore(tmp_path / "s", {}, "test", suffix=suffix)
    for vid in ODD_IDS:
        store.write(vid, payload)
    assert store.done_ids() == set(ODD_IDS)
    assert os.path.isfile(tmp_path / "s" / f"55_vfjywN5CN0Y.mp4{suffix}")  # the file name is the id
    got = store.read("100%.mp4")
    for k, v in payload.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(got[k], v)
        elif isinstance(v, torch.Tensor):
            assert torch.equal(got[k], v)
        else:
            assert got[k] == v
    assert not [n for n in os.listdir(tmp_path / "s") if n.endswith(".tmp")]


def test_custom_writer_partial_files_and_failure_records(tmp_path):
    store = VideoStore(tmp_path / "s", {}, "test", suffix=".txt")
    with pytest.raises(ValueError, match="no default writer"):
        store.write("a.mp4", "x")
    write = lambda f, text: f.write(text.encode())  # noqa: E731
    read = lambda path: open(path).read()  # noqa: E731
    store.write_failure("a.mp4", "decoder error")
    store.write("a.mp4", "half", write, partial=True)
    assert store.done_ids() == set() and store.read("a.mp4", read, partial=True) == "half"
    assert store.failures() == {"a.mp4": "decoder error"}
    store.write("a.mp4", "whole", write)  # the final file removes the partial and the failure record
    assert store.done_ids() == {"a.mp4"} and store.failures() == {}
    assert sorted(os.listdir(tmp_path / "s")) == [".store", "a.mp4.txt"]
    with pytest.raises(ValueError, match="suffix"):
        VideoStore(tmp_path / "t", {}, "test", suffix="json")


def test_settings_recorded_then_checked(tmp_path):
    settings = {"INPUT": {"RESIZE": [32, 48], "FPS": 5.0}, "name": "r18", "path": tmp_path}
    VideoStore(tmp_path / "s", settings, "features").check_settings()
    VideoStore(tmp_path / "s", json.loads(json.dumps(settings, default=str)), "features").check_settings()
    changed = {"INPUT": {"RESIZE": [32, 64], "FPS": 5.0}, "name": "r18", "path": tmp_path, "new": 1}
    with pytest.raises(ValueError, match=r"INPUT.RESIZE: \[32, 48\] then, \[32, 64\] now, new: '<unset>' then"):
        VideoStore(tmp_path / "s", changed, "features").check_settings()
    with pytest.raises(ValueError, match="belongs to a 'features' job, not 'tubes'"):
        VideoStore(tmp_path / "s", settings, "tubes").check_settings()
    # no record yet, but an earlier output of the job says what it was made with
    with pytest.raises(ValueError, match="out.h5 was made with other features settings .*name"):
        VideoStore(tmp_path / "t", {"name": "r50"}, "features").check_settings({"name": "r18"}, "out.h5")


def test_merge_waits_for_every_video_then_combines_once(tmp_path):
    ids = ["a.mp4", "b.mp4", "c.mp4"]
    store = VideoStore(tmp_path / "parts", {}, "test", failures_file=str(tmp_path / "out.failures.json"))
    calls = []
    store.write("a.mp4", {"x": 1})
    store.write_failure("c.mp4", "broken")
    assert store.merge(ids, calls.append) is None and calls == []  # b.mp4 still to do
    assert json.load(open(tmp_path / "out.failures.json")) == {"c.mp4": "broken"}  # listed already
    store.write("b.mp4", {"x": 2})
    assert store.merge(ids, calls.append, cleanup=True) == {"c.mp4": "broken"}
    assert calls == [["a.mp4", "b.mp4"]]
    assert sorted(os.listdir(tmp_path)) == ["out.failures.json"]  # parts removed, no lock file
    # the list outlives the cleaned-up store: a later merge still knows c.mp4 failed, and drops it
    # once c.mp4 is done
    assert store.merge(ids, calls.append, existing=lambda: ["a.mp4", "b.mp4"]) == {"c.mp4": "broken"}
    store.write("c.mp4", {"x": 3})
    assert store.merge(ids, calls.append, existing=lambda: ["a.mp4", "b.mp4"]) == {}
    assert calls[-1] == ["c.mp4"] and not os.path.exists(tmp_path / "out.failures.json")


def _merge_in_process(root, log, start):
    store = VideoStore(root, {}, "test")

    def combine(done):
        with open(log, "a") as f:
            f.write(f"in {os.getpid()}\n")
        time.sleep(0.15)
        with open(log, "a") as f:
            f.write(f"out {os.getpid()}\n")

    while time.time() < start:
        time.sleep(0.005)
    store.merge(["a.mp4"], combine)


def test_merges_of_concurrent_processes_never_overlap(tmp_path):
    root, log = str(tmp_path / "s"), str(tmp_path / "log.txt")
    VideoStore(root, {}, "test").write("a.mp4", {"x": 1})
    ctx = multiprocessing.get_context("fork")
    # staggered: some wait on the lock file the first holder removes, later ones create a new one
    start = time.time() + 0.3
    procs = [ctx.Process(target=_merge_in_process, args=(root, log, start + 0.06 * k)) for k in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0] * 6
    lines = open(log).read().split()
    pairs = list(zip(*[iter(lines)] * 4))  # (in, pid, out, pid) per merge
    assert len(pairs) == 6 and all(a == "in" and c == "out" and b == d for a, b, c, d in pairs)
    assert not os.path.exists(root + ".lock")


def test_job_summary_message():
    s = JobSummary("tubes", "out/tubes", "out/tubes.failures.json", num_shards=2, shard=1, verb="built",
                   num_assigned=4, num_skipped=1, num_done=2, failures={"x.mp4": "broken"})
    assert s.failed() == {"x.mp4": "broken"}
    text = s.message()
    assert text.startswith("tubes shard 1/2: 2 built, 1 already done, 1 failed of 4")
    assert "complete once every shard is done" in text and "listed in out/tubes.failures.json" in text
    s.finish({"x.mp4": "broken", "y.mp4": "missing"})
    assert s.finished and len(s.failed()) == 2 and "complete in out/tubes" in s.message()
    assert "2 video(s) failed" in s.message()
    assert JobSummary("features", "f.h5", "f.h5.failures.json").finish({}).failed() == {}
