"""The training folder's rules, through both trainers' command lines (tools/train_temporal.py,
tools/train_matcher.py) and their ``train()``: the device is checked before anything else;
``--resume`` without a ``last.pth`` yet (a run killed before its first checkpoint) starts from epoch 1
and ends as a fresh run does, unless the folder holds a later epoch's state or a ``last.pth`` that does
not load; ``train()`` itself holds ``OUTPUT_DIR.lock`` (code calling it directly is protected too)."""
from __future__ import annotations

import json
import logging
import os
import signal
import time

import pytest

from tests.kill_driver import wait
from tests.test_kill_resume_training import (EPOCHS, MATCHER, TEMPORAL, _load, _main, _matcher_args, _same,
                                             _temporal_args)

DEVICE_ERROR = "error: unknown device 'foo': use auto, cpu, cuda or cuda:N\n"


@pytest.fixture(scope="module", params=[TEMPORAL, MATCHER])
def tool(request, tmp_path_factory):
    """(tool, make_args(out) -> its command line)."""
    folder = tmp_path_factory.mktemp("data")
    return request.param, (_temporal_args if request.param == TEMPORAL else _matcher_args)(folder)


@pytest.mark.parametrize("name, config", [("train_temporal", "configs/temporal/hcstvg.yaml"),
                                          ("train_matcher", "configs/spatial/matcher_hcstvg.yaml")])
def test_the_device_is_checked_before_the_data_files(name, config, tmp_path, capsys):
    """The shipped HC-STVG configs name feature files that are not here: the bad device is what is
    reported, on one line, and nothing is written."""
    from tests.kill_driver import REPO

    assert os.path.isfile(REPO / config)
    out = tmp_path / "run"
    assert _main(f"tools/{name}.py")(["--config", str(REPO / config), "--device", "foo", "OUTPUT_DIR", str(out)]) == 2
    assert capsys.readouterr().err == DEVICE_ERROR
    assert os.listdir(tmp_path) == []


def test_resume_before_the_first_checkpoint_starts_from_epoch_1(tool, tmp_path, caplog):
    """What a run killed before its first ``last.pth`` leaves (config.yaml, train.log, a cut write's
    temporary; or the epoch-1 history.json and best.pth written just before it): ``--resume`` says so,
    trains from epoch 1 and ends with a fresh run's checkpoints."""
    name, make_args = tool
    fresh, killed = str(tmp_path / "fresh"), str(tmp_path / "killed")
    assert _main(name)(make_args(fresh)[1:]) == 0
    os.makedirs(killed)
    for n in ("config.yaml", "train.log"):
        open(os.path.join(killed, n), "w").write("from the killed run\n")
    open(os.path.join(killed, ".last.pth.k1ll3d00.tmp"), "wb").write(b"cut")
    caplog.set_level(logging.INFO)
    assert _main(name)(make_args(killed)[1:] + ["--resume"]) == 0
    assert f"no checkpoint in {killed} yet: starting from epoch 1" in caplog.text
    for n in ("last.pth", "best.pth"):
        _same(_load(os.path.join(killed, n)), _load(os.path.join(fresh, n)), n)
    assert sorted(os.listdir(killed)) == sorted(os.listdir(fresh))  # the temporary is gone
    assert not os.path.exists(killed + ".lock")

    # a folder that does not exist yet
    nowhere = str(tmp_path / "new" / "run")
    assert _main(name)(make_args(nowhere)[1:] + ["--resume"]) == 0
    _same(_load(os.path.join(nowhere, "last.pth")), _load(os.path.join(fresh, "last.pth")), "last.pth")

    # killed between epoch 1's best.pth and its last.pth
    os.unlink(os.path.join(killed, "last.pth"))
    history = json.load(open(os.path.join(killed, "history.json")))
    json.dump(history[:1], open(os.path.join(killed, "history.json"), "w"))
    assert _main(name)(make_args(killed)[1:] + ["--resume"]) == 0
    _same(_load(os.path.join(killed, "last.pth")), _load(os.path.join(fresh, "last.pth")), "last.pth")


def test_resume_is_still_refused_with_other_checkpoint_state(tool, tmp_path, capsys):
    """No ``last.pth`` but a history of later epochs (it was removed), or a ``last.pth`` that does not
    load: exit 2 naming the file; nothing is trained."""
    name, make_args = tool
    out = str(tmp_path / "run")
    os.makedirs(out)
    last, history = os.path.join(out, "last.pth"), os.path.join(out, "history.json")
    json.dump([{"epoch": 1}, {"epoch": 2}], open(history, "w"))
    assert _main(name)(make_args(out)[1:] + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: cannot resume: {last} is missing, but {history} records epochs [1, 2]: the run got "
                   f"past its first checkpoint and last.pth was removed; restore it, or start afresh in another "
                   f"OUTPUT_DIR\n"), err
    os.unlink(history)
    open(last, "wb").write(b"not a torch file")
    assert _main(name)(make_args(out)[1:] + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {last}: cannot read") and err.count("\n") == 1, err
    assert sorted(os.listdir(out)) == ["last.pth"]


def test_train_itself_holds_the_folder_lock(tool, tmp_path):
    """``train()`` called directly (no tool) while another process trains in the folder: refused
    with RunLockedError before anything is written; the lock file goes with its holder."""
    from stvg.engine.checkpoints import RunLockedError, run_lock

    name, make_args = tool
    out = str(tmp_path / "run")
    if name == TEMPORAL:
        from temporal.defaults import load_temporal_config
        from temporal.engine import train
        args = make_args(out)
        cfg = load_temporal_config(args[args.index("--config") + 1], args[args.index("--no-progress") + 1:])
    else:
        from spatial.matcher import load_matcher_config
        from spatial.matcher.train import train
        args = make_args(out)
        cfg = load_matcher_config(args[args.index("--config") + 1], args[args.index("--no-progress") + 1:])
    ready = tmp_path / "ready"
    pid = os.fork()
    if pid == 0:  # the other training run: holds the lock until killed
        try:
            with run_lock(out):
                ready.write_text("1")
                time.sleep(60)
        finally:
            os._exit(1)
    try:
        deadline = time.time() + 30
        while not ready.exists() and time.time() < deadline:
            time.sleep(0.01)
        with pytest.raises(RunLockedError, match=r"is in use by another training run"):
            train(cfg, progress=False)
        assert not os.path.exists(out)
    finally:
        os.kill(pid, signal.SIGKILL)
        wait(pid)
    summary = train(cfg, progress=False)  # free once its holder is gone
    assert summary["epochs"] == EPOCHS and not os.path.exists(out + ".lock")
