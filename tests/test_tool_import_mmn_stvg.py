"""tools/import_mmn_stvg.py and stvg.safe_pickle: released-layout pickles, malformed and malicious ones."""
import builtins
import collections
import importlib.util
import json
import os
import pickle

import h5py
import numpy as np
import pytest
import torch

from spatial.tubes import read_tubes_json
from stvg.safe_pickle import UnsafePickleError, safe_load, safe_loads

from .conftest import REPO


def load_tool():
    spec = importlib.util.spec_from_file_location("import_mmn_stvg_tool", REPO / "tools" / "import_mmn_stvg.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def dump(path, obj, protocol=pickle.DEFAULT_PROTOCOL):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    return path


def released_tube(first, n, x, score, rng):
    """array[n, 6]: 1-based frame, x1, y1, x2, y2, detector score (float64, as the release stores it)."""
    rows = np.zeros((n, 6))
    rows[:, 0] = np.arange(first, first + n)
    rows[:, 1:3] = [x, 10]
    rows[:, 3:5] = rows[:, 1:3] + [30, 60] + rng.random((n, 2))
    rows[:, 5] = rng.random(n)
    return rows, score


def annotation(path, vids):
    ann = {v: {"English": "the man walks.", "img_size": [240, 320], "img_num": 100, "st_frame": 11,
               "ed_frame": 12, "bbox": [[1, 2, 30, 40], [1, 2, 30, 40]]} for v in vids}
    path.write_text(json.dumps(ann))
    return path


@pytest.fixture
def released(tmp_path):
    """Two videos in the released layout: tubes + two feature roots (csn as torch, flow as numpy)."""
    rng = np.random.default_rng(0)
    tubes = {"vidA": [released_tube(1, 8, 5.0, 0.3, rng), released_tube(4, 5, 100.0, 0.9, rng),
                      released_tube(2, 3, 200.0, 0.5, rng)],
             "vidB": [released_tube(50, 6, 7.0, 0.7, rng)]}
    feats = {}
    for vid, ts in tubes.items():
        dump(tmp_path / "tubes" / f"{vid}_tubes.pkl", {0: ts})
        csn = torch.randn(len(ts), 4, 3)
        flow = rng.normal(size=(len(ts), 4, 2)).astype(np.float32)
        dump(tmp_path / "csn" / f"{vid}.pkl", csn)
        dump(tmp_path / "flow" / f"{vid}.pkl", flow, protocol=2)
        feats[vid] = np.concatenate([csn.numpy(), flow], axis=2)
    annotation(tmp_path / "ann.json", ["vidA.mp4", "vidB.mp4"])
    return tmp_path, tubes, feats


def run(tool, root, *extra):
    return tool.main(["--tubes-dir", str(root / "tubes"), "--ann", str(root / "ann.json"),
                      "--out-tubes", str(root / "out"), "--feat-root", str(root / "csn"),
                      "--feat-root", str(root / "flow"), "--out-features", str(root / "f.h5"), *extra])


def test_released_layout_converts(released, capsys):
    root, tubes, feats = released
    assert run(load_tool(), root) == 0, capsys.readouterr().err
    a = read_tubes_json(str(root / "out" / "vidA.mp4.json"))
    assert a.video_id == "vidA.mp4" and (a.fps, a.num_frames, a.width, a.height) == (5.0, 100, 320, 240)
    order = [1, 2, 0]  # tube scores 0.3, 0.9, 0.5 -> best first
    assert a.report["released_order"] == order
    for t, k in zip(a.tubes, order):
        rows, score = tubes["vidA"][k]
        assert t.frames.tolist() == (rows[:, 0] - 1).astype(int).tolist()   # 1-based -> 0-based
        np.testing.assert_allclose(t.boxes.numpy(), rows[:, 1:5], atol=0.006)  # x1, y1, x2, y2 kept
        np.testing.assert_allclose(t.scores.numpy(), rows[:, 5], atol=1e-4)
        assert t.score == pytest.approx(score)
    with h5py.File(root / "f.h5", "r") as f:
        assert sorted(f) == ["vidA.mp4", "vidB.mp4"]
        np.testing.assert_allclose(f["vidA.mp4"]["roi_features"][:], feats["vidA"][order], rtol=1e-6)
        np.testing.assert_allclose(f["vidB.mp4"]["roi_features"][:], feats["vidB"], rtol=1e-6)
        assert f.attrs["feature_dim"] == 5 and f["vidB.mp4"].attrs["num_frames"] == 100
    assert "converted 2 of 2 videos" in capsys.readouterr().out


def test_sizes_from_the_videos_when_the_annotation_has_none(released, make_video, capsys):
    root, _, _ = released
    (root / "ann.json").write_text(json.dumps({"vidA.mp4": "a query", "vidB.mp4": "another"}))
    for v in ("vidA.mp4", "vidB.mp4"):
        make_video(f"videos/{v}", fps=10, num_frames=20, size=(64, 48))
    assert run(load_tool(), root, "--video-dir", str(root / "videos")) == 0, capsys.readouterr().err
    b = read_tubes_json(str(root / "out" / "vidB.mp4.json"))
    assert (b.fps, b.num_frames, b.width, b.height) == (10.0, 20, 64, 48)
    tool = load_tool()  # no annotation at all: ids from the video files
    assert tool.main(["--tubes-dir", str(root / "tubes"), "--video-dir", str(root / "videos"),
                      "--out-tubes", str(root / "out2")]) == 0
    assert read_tubes_json(str(root / "out2" / "vidA.mp4.json")).num_frames == 20


@pytest.mark.parametrize("obj, field", [
    ([1, 2], "top level"),
    ({0: "tubes"}, "[0]"),
    ({0: [(np.zeros((3, 5)), 1.0)]}, "[0][0] array"),
    ({0: [(np.zeros((0, 6)), 1.0)]}, "[0][0] array"),
    ({0: [np.zeros((3, 6))]}, "[0][0]"),
    ({0: [(np.array([[0, 1, 1, 5, 5, 1.0]]), 1.0)]}, "[0][0] frame"),      # 0 is not a 1-based frame
    ({0: [(np.array([[1, 1, 1, 5, 5, 1], [3, 1, 1, 5, 5, 1.0]]), 1.0)]}, "[0][0] frame"),  # gap
    ({0: [(np.array([[1, 9, 1, 5, 5, 1.0]]), 1.0)]}, "[0][0] boxes"),      # x2 < x1
    ({0: [(np.array([[1, np.nan, 1, 5, 5, 1.0]]), 1.0)]}, "[0][0]"),
])
def test_malformed_tube_files_name_file_video_field(released, capsys, obj, field):
    root, _, _ = released
    path = dump(root / "tubes" / "vidB_tubes.pkl", obj)
    assert run(load_tool(), root) == 1
    err = capsys.readouterr().err
    assert f"{path}: video vidB.mp4: {field}" in err
    assert (root / "out" / "vidA.mp4.json").is_file() and not (root / "out" / "vidB.mp4.json").exists()


def test_malformed_features_and_unknown_video(released, capsys):
    root, _, _ = released
    dump(root / "flow" / "vidA.pkl", np.zeros((2, 4, 2), np.float32))  # 2 rows for 3 tubes
    dump(root / "csn" / "vidB.pkl", torch.zeros(1, 5, 3))               # 5 segments, flow has 4
    dump(root / "tubes" / "vidC_tubes.pkl", {0: []})
    assert run(load_tool(), root) == 1
    err = capsys.readouterr().err
    assert f"{root / 'flow' / 'vidA.pkl'}: video vidA.mp4: features: expected [num_tubes = 3, S, D]" in err
    assert f"{root / 'flow' / 'vidB.pkl'}: video vidB.mp4: features: 4 segments" in err
    assert "video vidC: not in the annotation file" in err


class Evil:
    """Unpickling runs exec("open(marker, 'w')"): creates the marker file if the loader runs code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').close()",)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_is_refused_and_runs_nothing(released, capsys):
    root, tubes, _ = released
    proof = root / "proof"
    pickle.loads(pickle.dumps(Evil(str(proof))))  # the payload works with an ordinary unpickler
    assert proof.exists()
    marker = root / "pwned"
    path = dump(root / "tubes" / "vidB_tubes.pkl", {0: [(tubes["vidB"][0][0], Evil(str(marker)))]})
    with pytest.raises(UnsafePickleError, match=f"{path}: refused global builtins.exec"):
        safe_load(path)
    assert run(load_tool(), root) == 1
    assert "refused global builtins.exec" in capsys.readouterr().err
    assert not marker.exists()
    # the same code hidden in a torch storage's bytes (torch's own _load_from_bytes would run it)
    evil_storage = pickle.dumps(_StorageBytes(pickle.dumps(Evil(str(marker)))), protocol=2)
    with pytest.raises(UnsafePickleError, match="x.pkl: tensor storage refused by torch.load"):
        safe_loads(evil_storage, "x.pkl")
    assert not marker.exists()


class _StorageBytes:
    """Pickles as torch.storage._load_from_bytes(blob), as a tensor's storage does."""

    def __init__(self, blob):
        self.blob = blob

    def __reduce__(self):
        import torch.storage
        return torch.storage._load_from_bytes, (self.blob,)


def test_safe_load_accepts_plain_numpy_torch_and_refuses_others(tmp_path):
    obj = {"a": [1, 2.5, "s", b"\x00\xff", None, True], "t": (torch.arange(6).view(2, 3)[:, 1:],),
           "n": np.arange(4, dtype=np.int16), "s": np.float64(2.5), "set": {1, 2}, "c": 1 + 2j,
           "od": collections.OrderedDict(x=1), "f16": torch.ones(2, dtype=torch.float16), "e": b""}
    for protocol in (2, 4, 5):
        got = safe_loads(pickle.dumps(obj, protocol=protocol))
        assert got["a"] == obj["a"] and got["set"] == {1, 2} and got["c"] == 1 + 2j and got["e"] == b""
        assert torch.equal(got["t"][0], obj["t"][0]) and got["f16"].dtype == torch.float16
        assert got["n"].dtype == np.int16 and got["n"].tolist() == [0, 1, 2, 3] and got["s"] == 2.5
    # torch.save files go through torch.load(weights_only=True)
    torch.save({"w": torch.ones(3)}, tmp_path / "ckpt.pt")
    assert torch.equal(safe_load(tmp_path / "ckpt.pt")["w"], torch.ones(3))
    torch.save({"w": torch.ones(3)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    assert torch.equal(safe_load(tmp_path / "old.pt")["w"], torch.ones(3))
    for bad, name in ((collections.Counter(a=1), "collections.Counter"), (os.getcwd, "posix.getcwd"),
                      (np.load, "numpy.load"), (torch.nn.Linear(1, 1), "torch.nn.modules.linear.Linear")):
        with pytest.raises(UnsafePickleError, match=f"y.pkl: refused global {name}"):
            safe_loads(pickle.dumps(bad), "y.pkl")
    with pytest.raises(UnsafePickleError, match="z.pkl: not a readable pickle"):
        safe_loads(b"\x80\x04garbage", "z.pkl")
    with pytest.raises(FileNotFoundError, match="nope.pkl"):
        safe_load(tmp_path / "nope.pkl")
