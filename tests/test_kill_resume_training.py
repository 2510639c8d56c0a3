"""Both trainers (tools/train_temporal.py, tools/train_matcher.py) killed at chosen points and resumed
through their command lines, and two runs on one output folder at once.

Kill points are events of an uninterrupted run (tests/kill_driver.py): an optimiser step in the
middle of an epoch, a checkpoint write in progress, the moment between ``best.pth`` and
``last.pth``, and one anywhere, each drawn from a seeded RNG. After every kill the folder holds
whole files only: ``last.pth`` is the uninterrupted run's ``last.pth`` of some epoch (the old or the
new one, tensor for tensor), ``best.pth`` that epoch's model. After ``--resume`` (or a fresh start
when no ``last.pth`` was written yet) the run ends with the uninterrupted run's checkpoints and
history (every tensor equal; only the wall-clock seconds per epoch differ).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re

import numpy as np
import pytest
import torch

from tests.kill_driver import REPO, events, fork, recording, wait

TEMPORAL, MATCHER = "tools/train_temporal.py", "tools/train_matcher.py"
TMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")
EPOCHS = 3
SKIP = {"seconds", "version", "OUTPUT_DIR"}


def _main(tool: str):
    spec = importlib.util.spec_from_file_location(os.path.basename(tool)[:-3], REPO / tool)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main


def _temporal_args(folder):
    from tests.temporal.temporal_b_helpers import planted_splits, tiny_overrides

    train_ann, test_ann, feats = planted_splits(folder, num_train=16, num_test=8)
    # dropout on, the text encoder frozen in epoch 1, an LR milestone at 2: RNG, optimizer groups
    # and scheduler all have to come back exactly
    extra = ["SOLVER.FREEZE_TEXT_EPOCHS", "1", "SOLVER.MILESTONES", "[2]"]
    return lambda out: [TEMPORAL, "--config", str(REPO / "configs" / "temporal" / "_base.yaml"), "--no-progress"] \
        + tiny_overrides(train_ann, feats, out, test_ann, epochs=EPOCHS, extra=extra)


def _matcher_args(folder):
    import h5py

    from tests.spatial.test_matcher_helpers import planted_videos, tiny_cfg
    from tests.spatial.test_matcher_train import _write_dataset

    _write_dataset(folder, planted_videos(16, 0), "train")
    _write_dataset(folder, planted_videos(8, 1), "val")
    with h5py.File(folder / "all.h5", "w") as f:
        for split in ("train", "val"):
            with h5py.File(folder / f"{split}.h5") as src:
                for k in src:
                    src.copy(src[k], f, k)
    (folder / "m.yaml").write_text(tiny_cfg("MODEL.DROPOUT", "0.2", "SOLVER.TRAIN_WINDOW", "mixed",
                                            "SOLVER.BATCH_SIZE", "8", "SOLVER.MILESTONES", "[2]").dump())
    opts = ["DATASET.TRAIN_ANN", str(folder / "train.json"), "DATASET.VAL_ANN", str(folder / "val.json"),
            "DATASET.TUBES", str(folder / "tubes"), "DATASET.FEATURES", str(folder / "all.h5"),
            "DATASET.CLIP_SECONDS", "4.0", "SOLVER.EPOCHS", str(EPOCHS)]
    return lambda out: [MATCHER, "--config", str(folder / "m.yaml"), "--no-progress"] + opts + ["OUTPUT_DIR", out]


def _load(path):
    return torch.load(path, map_location="cpu", weights_only=True)


class Reference:
    """The uninterrupted run: its events, its folder, and its ``last.pth`` after every epoch."""

    def __init__(self, tool, make_args, folder):
        self.tool, self.make_args, self.root = tool, make_args, str(folder / "ref")
        self.last_by_epoch = {}

        def keep(text):
            if text == f"after-replace {os.path.realpath(self.root)}/last.pth":
                ckpt = _load(os.path.join(self.root, "last.pth"))
                self.last_by_epoch[int(ckpt["epoch"])] = ckpt

        with recording(self.root, keep) as evts:
            assert _main(tool)(make_args(self.root)[1:]) == 0
        self.events = evts
        assert sorted(self.last_by_epoch) == list(range(1, EPOCHS + 1))


@pytest.fixture(scope="module", params=[TEMPORAL, MATCHER])
def reference(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    make_args = (_temporal_args if request.param == TEMPORAL else _matcher_args)(folder)
    return Reference(request.param, make_args, folder)


def _same(a, b, where="") -> None:
    """Equal, tensors bit for bit; ``seconds`` (wall-clock time of an epoch), ``version`` and the
    config's ``OUTPUT_DIR`` skipped."""
    if torch.is_tensor(a):
        assert torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        keys = set(a) - SKIP
        assert keys == set(b) - SKIP, f"{where}: keys {sorted(keys ^ (set(b) - SKIP))}"
        for k in keys:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def _assert_whole(root: str, ref: Reference, cut: str) -> None:
    """After a kill: ``last.pth`` is the reference's of its epoch, ``best.pth`` that epoch's model or
    an earlier one's, ``history.json`` whole; the only temporary is the cut write's."""
    last, ckpt = os.path.join(root, "last.pth"), None
    if os.path.exists(last):
        ckpt = _load(last)
        _same(ckpt, ref.last_by_epoch[int(ckpt["epoch"])], "last.pth")
    if os.path.exists(os.path.join(root, "best.pth")):
        best = _load(os.path.join(root, "best.pth"))
        _same(best["model"], ref.last_by_epoch[int(best["epoch"])]["model"], "best.pth")
        # never older than the best epoch last.pth records (a resume would not write it again)
        assert ckpt is None or best["epoch"] >= ckpt["best"]["epoch"], (best["epoch"], ckpt["best"])
    if os.path.exists(os.path.join(root, "history.json")):
        json.load(open(os.path.join(root, "history.json")))
    temps = [n for n in os.listdir(root) if TMP.match(n)]
    assert len(temps) <= (1 if cut.startswith("before-replace") else 0), temps


def _kill_points(ref: Reference, seed: int):
    """A step inside an epoch, a write of last.pth in progress, the moment after best.pth (before
    last.pth), the moment after last.pth, and one event anywhere: texts of the reference's events."""
    rng = np.random.default_rng(seed)
    evts = ref.events
    pick = lambda pattern: str(rng.choice([e for e in evts if re.search(pattern, e)]))  # noqa: E731
    return [pick(r"^step "), pick(r"^before-replace .*/last\.pth$"), pick(r"^after-replace .*/best\.pth$"),
            pick(r"^after-replace .*/last\.pth$"), str(rng.choice(evts))]


def test_killed_and_resumed_ends_with_the_uninterrupted_checkpoints(reference, tmp_path):
    root = str(tmp_path / "run")
    hit = []
    for i, point in enumerate(_kill_points(reference, seed=14)):
        point = point.replace(os.path.realpath(reference.root), os.path.realpath(root))
        resume = ["--resume"] if os.path.exists(os.path.join(root, "last.pth")) else []
        log = str(tmp_path / f"events{i}.txt")
        code = wait(fork(reference.make_args(root) + resume, log, kill_at=point, watch=root))
        if code == -9:
            hit.append(events(log)[-1])
            _assert_whole(root, reference, hit[-1])
        else:
            assert code == 0, open(log + ".err").read()
    assert len(hit) >= 4, hit
    resume = ["--resume"] if os.path.exists(os.path.join(root, "last.pth")) else []
    assert _main(reference.tool)(reference.make_args(root)[1:] + resume) == 0

    _same(_load(os.path.join(root, "last.pth")), _load(os.path.join(reference.root, "last.pth")), "last.pth")
    _same(_load(os.path.join(root, "best.pth")), _load(os.path.join(reference.root, "best.pth")), "best.pth")
    _same(json.load(open(os.path.join(root, "history.json"))),
          json.load(open(os.path.join(reference.root, "history.json"))), "history.json")
    assert sorted(os.listdir(root)) == sorted(os.listdir(reference.root))  # no temporary left
    assert not os.path.exists(root + ".lock")


def test_a_second_run_on_the_same_folder_is_refused(reference, tmp_path):
    """Two runs started at once on one OUTPUT_DIR (a barrier before the tools start): one trains
    (the uninterrupted result), the other exits 2 naming the folder and its lock, and writes nothing."""
    root = str(tmp_path / "run")
    os.makedirs(tmp_path / "barrier")
    logs = [str(tmp_path / f"ev{i}.txt") for i in range(2)]
    pids = [fork(reference.make_args(root), log, watch=root, barrier=f"{tmp_path / 'barrier'}:2:start") for log in logs]
    codes = [wait(pid) for pid in pids]
    assert sorted(codes) == [0, 2], codes
    err = open(logs[codes.index(2)] + ".err").read()
    assert f"{os.path.abspath(root)} is in use by another training run (it holds {os.path.abspath(root)}.lock)" \
        in err and "Traceback" not in err, err
    _same(_load(os.path.join(root, "last.pth")), _load(os.path.join(reference.root, "last.pth")), "last.pth")
    assert sorted(os.listdir(root)) == sorted(os.listdir(reference.root))
    assert not os.path.exists(root + ".lock")


def test_run_lock_is_the_process_s_own_and_leaves_nothing(tmp_path):
    """The lock of a killed trainer is free at once, though a child it forked (a data-loader worker)
    lives on; a parent folder made for the lock is removed again when the run left nothing."""
    import signal
    import time

    from stvg.engine.checkpoints import RunLockedError, run_lock

    out, pid_file = str(tmp_path / "run"), tmp_path / "worker.pid"
    pid = os.fork()
    if pid == 0:  # a trainer: takes the lock, forks a worker, is killed
        try:
            with run_lock(out):
                worker = os.fork()
                if worker == 0:
                    time.sleep(30)
                    os._exit(0)
                pid_file.write_text(str(worker))
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    assert wait(pid) == -9
    worker = int(pid_file.read_text())
    try:
        os.kill(worker, 0)  # alive, with the killed trainer's open files
        with run_lock(out):  # free at once
            other = os.fork()
            if other == 0:  # another process is refused while this one holds it
                code = 1
                try:
                    with run_lock(out):
                        pass
                except RunLockedError:
                    code = 2
                finally:
                    os._exit(code)
            assert wait(other) == 2
    finally:
        os.kill(worker, signal.SIGKILL)
    assert not os.path.exists(out + ".lock")
    nested = tmp_path / "a" / "b" / "run"
    with pytest.raises(ValueError):
        with run_lock(str(nested)):
            raise ValueError("bad input: nothing written")
    assert not (tmp_path / "a").exists()
