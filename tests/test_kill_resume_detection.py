"""Detection jobs killed at chosen points and resumed, and two runs of one job at once, through the
command lines of tools/detect_persons.py and tools/build_tubes.py (dataset mode).

Kill points are events of the run (a file about to replace its old version, or just replaced; see
tests/kill_driver.py), drawn from a seeded RNG over the events of an uninterrupted run, so the
test does not depend on the machine's speed. After every kill, each result file present is the
reference's, byte for byte (never half-written); after the resume the whole output folder is.
"""
from __future__ import annotations

import importlib.util
import os
import re

import cv2
import numpy as np
import pytest

from stvg.video import write_video
from tests.kill_driver import REPO, command, events, fork, recording, start_together, wait

DETECT, TUBES = "tools/detect_persons.py", "tools/build_tubes.py"
TMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # what stvg.io.atomic_write writes first


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """Two short clips of walking people (HOG finds them), a 260-frame clip (a progress file after
    256 detected frames) and a broken file (a failure to list)."""
    folder = tmp_path_factory.mktemp("videos")
    img = cv2.cvtColor(cv2.imread(str(REPO / "tests" / "spatial" / "data" / "vtest_pedestrian.png")), cv2.COLOR_BGR2RGB)
    img = cv2.resize(img, (240, 316))
    for name, n in (("a.mp4", 6), ("b.mp4", 8)):
        write_video(str(folder / name), np.stack([np.roll(img, 3 * t, axis=1) for t in range(n)]), 10.0)
    small = cv2.resize(img, (64, 128))
    write_video(str(folder / "long.mp4"), np.stack([np.roll(small, t % 7, axis=0) for t in range(260)]), 10.0)
    (folder / "broken.mp4").write_bytes(b"not a video")
    return str(folder)


def _main(tool: str):
    spec = importlib.util.spec_from_file_location(os.path.basename(tool)[:-3], REPO / tool)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def _snapshot(root: str) -> dict:
    """``{relative path: bytes}`` of every file under ``root`` (its own path written as <ROOT>)."""
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            p = os.path.join(folder, n)
            data = open(p, "rb").read()
            if n.endswith((".json", ".yaml")):
                data = data.replace(root.encode(), b"<ROOT>")
            out[os.path.relpath(p, root)] = data
    return out


def _assert_no_half_file(root: str, ref: dict) -> None:
    """After a kill: every file present is whole. Results are the reference's bytes; progress
    files and records load; only temporaries of the write that was cut may be extra."""
    from spatial.cache import load_detections

    for rel, data in _snapshot(root).items():
        name = os.path.basename(rel)
        if TMP.match(name) or name.endswith(".lock") or name.endswith(".yaml"):
            continue
        if rel.endswith(".partial"):
            load_detections(os.path.join(root, rel))
        else:
            assert rel in ref, f"{rel}: not in the uninterrupted run's output"
            if not rel.endswith("failures.json"):  # the list grows as failures are found
                assert data == ref[rel], f"{rel} differs from the uninterrupted run's file"


def _kill_points(evts, n: int, seed: int, skip: str = "", also: str = ""):
    """Events of the reference run: every one matching ``also``, then one at a write in progress
    (before-replace), then ``n - 1`` anywhere (never at events matching the regular expression
    ``skip``)."""
    rng = np.random.default_rng(seed)
    allowed = [i for i, e in enumerate(evts) if not (skip and re.search(skip, e))]
    writes = [i for i in allowed if evts[i].startswith("before-replace")]
    forced = [i for i, e in enumerate(evts) if also and re.search(also, e)]
    picked = forced + [int(rng.choice(writes))] + [int(rng.choice(allowed)) for _ in range(n - 1)]
    return [evts[i] for i in picked]


def _killed_then_resumed(tmp_path, args, root, seed, kills=2, skip="", also=""):
    """Reference run in this process; killed runs (fresh, then each resuming the one before) in child
    processes, each killed at the first event named as the chosen one of the reference (a resumed run
    that skips it runs to its end); the resume in this process. Returns (reference snapshot,
    resumed snapshot, the events killed at)."""
    main = _main(args[0])
    ref_root = str(tmp_path / "ref")
    with recording(ref_root) as evts:
        assert main([a.replace(root, ref_root) for a in args[1:]]) == 1  # the broken video
    ref = _snapshot(ref_root)
    assert any(r.endswith(".npz") for r in ref) and not any(TMP.match(os.path.basename(r)) for r in ref)
    hit = []
    for i, k in enumerate(_kill_points(evts, kills, seed, skip, also)):
        log = str(tmp_path / f"events{i}.txt")
        code = wait(fork(args, log, kill_at=k.replace(ref_root, root), watch=root))
        if code == -9:
            hit.append(events(log)[-1])
            _assert_no_half_file(root, ref)
        else:
            assert code == 1, open(log + ".err").read()
    assert hit, "no run was killed"
    assert main(args[1:]) == 1
    return ref, _snapshot(root), hit


def test_detect_persons_killed_and_resumed_is_identical(videos, tmp_path, capsys):
    """Killed while the progress file of the long video (256 of 260 frames) is being written and
    just after, then at a random write, then anywhere: each run resumes the one before."""
    root = str(tmp_path / "cache")
    args = [DETECT, "--videos", videos, "--cache-dir", root, "--no-progress", "DETECTION.STRIDE", "1"]
    ref, got, hit = _killed_then_resumed(tmp_path, args, root, seed=14, also=r"long\.mp4\.npz\.partial$")
    assert [h.split()[0] + " " + os.path.basename(h) for h in hit[:2]] == \
        ["before-replace long.mp4.npz.partial", "after-replace long.mp4.npz.partial"]
    assert got == ref  # every file: results, settings, failures list, config; no temporary, no lock
    assert "1 failed" in capsys.readouterr().out


def test_build_tubes_killed_then_resumed_is_identical(videos, tmp_path, capsys):
    root = str(tmp_path / "out")
    args = [TUBES, "--videos", videos, "--out-dir", os.path.join(root, "tubes"), "--no-progress",
            "--stride", "2", "DETECTION.CACHE_DIR", os.path.join(root, "det")]
    # first during the detection cache's first settings write: build_tubes fills the cache without
    # a merge, so the temporary cut there goes by the cache's own clean-up at the end of the job
    # (VideoStore.remove_stale_temporaries); then at the write of a detection file in the cache (the
    # video's own temporaries go when its result is written); then anywhere
    ref, got, hit = _killed_then_resumed(
        tmp_path, args, root, seed=3,
        also=r"^before-replace .*/det/[^/]+/(\.store/settings\.json|long\.mp4\.npz)$")
    assert [os.path.basename(h) for h in hit[:2]] == ["settings.json", "long.mp4.npz"], hit
    assert all("/det/" in h for h in hit[:2]), hit
    assert any(r.startswith("tubes" + os.sep) and r.endswith(".json") for r in ref)
    assert got == ref


@pytest.mark.parametrize("tool", [DETECT, TUBES])
def test_two_runs_of_one_job_at_once_give_the_one_result(videos, tmp_path, tool):
    """Two processes on the same folder at the same time (a barrier at their first write, past the
    imports; detect_persons in new interpreters, build_tubes in children of this one): both finish,
    both worked on the same videos at once, and the folder is exactly what one uninterrupted run
    writes."""
    root = str(tmp_path / "out")
    if tool == DETECT:
        args = [tool, "--videos", videos, "--cache-dir", root, "--no-progress", "DETECTION.STRIDE", "1"]
    else:
        args = [tool, "--videos", videos, "--out-dir", os.path.join(root, "tubes"), "--no-progress",
                "--stride", "2", "DETECTION.CACHE_DIR", os.path.join(root, "det")]
    ref_root = str(tmp_path / "ref")
    assert _main(tool)([a.replace(root, ref_root) for a in args[1:]]) == 1
    logs = [str(tmp_path / f"ev{i}.txt") for i in range(2)]
    if tool == DETECT:
        procs = start_together([command(args, log, watch=root) for log in logs], str(tmp_path / "barrier"))
        results = [(p.wait(timeout=300),) + p.communicate() for p in procs]
    else:
        os.makedirs(tmp_path / "barrier")
        pids = [fork(args, log, watch=root, barrier=f"{tmp_path / 'barrier'}:2") for log in logs]
        results = [(wait(pid), open(log + ".out").read(), open(log + ".err").read()) for pid, log in zip(pids, logs)]
    done = 0
    for code, out, err in results:
        assert code == 1 and "Traceback" not in err, err
        done += int(re.search(r"(\d+) (detected|built)", out).group(1))
    assert done > 3, "the two runs did not overlap"  # 3 readable videos: some were worked on twice
    assert _snapshot(root) == _snapshot(ref_root)


def test_store_removes_only_temporaries_older_than_itself(tmp_path):
    """A killed writer's temporaries go (a video's own with its result, the rest with the merge that
    completes the job); one written after the store object was made, i.e. possibly by another
    process at work right now, stays."""
    import time

    from stvg.store import VideoStore

    root = tmp_path / "job"
    (root / ".store").mkdir(parents=True)
    old = [root / ".a.mp4.json.k1ll3d00.tmp", root / ".a.mp4.json.partial.k1ll3d01.tmp",
           root / ".store" / ".settings.json.k1ll3d02.tmp", tmp_path / ".job.failures.json.k1ll3d03.tmp"]
    for p in old:
        p.write_text("cut")
        os.utime(p, (time.time() - 60, time.time() - 60))
    store = VideoStore(str(root), {"x": 1}, "test")
    store.check_settings()
    fresh = root / ".b.mp4.json.w0rk1ng0.tmp"
    fresh.write_text("in progress")
    mine = root / "not-a-temporary.tmp"
    mine.write_text("a file of the user")
    os.utime(mine, (time.time() - 60, time.time() - 60))
    store.write("a.mp4", {"v": 1})
    assert [p.exists() for p in old] == [False, False, True, True] and fresh.exists()
    store.write("b.mp4", {"v": 2})  # b's temporary is newer than the store: not a dead writer's
    assert store.merge(["a.mp4", "b.mp4"]) == {}
    assert not any(p.exists() for p in old) and fresh.exists() and mine.exists()


def test_a_store_without_a_merge_removes_its_stale_temporaries(tmp_path):
    """VideoStore.remove_stale_temporaries (what build_tubes calls for its detection cache, which it
    never merges): the same rule as the merge's, a killed writer's temporaries under root (.store/
    included) and next to the failures list, never a newer one or a file of the user."""
    import time

    from stvg.store import VideoStore

    root = tmp_path / "cache"
    (root / ".store").mkdir(parents=True)
    old = [root / ".store" / ".settings.json.k1ll3d02.tmp", root / ".v.mp4.npz.k1ll3d00.tmp",
           tmp_path / ".cache.failures.json.k1ll3d03.tmp"]
    for p in old:
        p.write_text("cut")
        os.utime(p, (time.time() - 60, time.time() - 60))
    store = VideoStore(str(root), {"x": 1}, "detections", suffix=".npz")
    fresh = root / ".store" / ".settings.json.w0rk1ng0.tmp"
    fresh.write_text("in progress")
    mine = tmp_path / ".other.json.k1ll3d04.tmp"  # not next to this store's failures list by name
    mine.write_text("another job's")
    os.utime(mine, (time.time() - 60, time.time() - 60))
    assert sorted(store.remove_stale_temporaries()) == sorted(map(str, old))
    assert not any(p.exists() for p in old) and fresh.exists() and mine.exists()
