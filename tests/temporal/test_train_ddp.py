"""Two CPU processes with the gloo backend train one model through DistributedDataParallel."""
from __future__ import annotations

import json
import os
import socket

import torch
import torch.multiprocessing as mp

from tests.temporal.temporal_b_helpers import planted_splits, tiny_overrides


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, overrides, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from temporal.defaults import load_temporal_config
    from temporal.engine import train

    cfg = load_temporal_config(None, overrides)
    summary, model = train(cfg, progress=False, return_model=True)
    assert not torch.distributed.is_initialized()  # the process group is closed at the end
    torch.save({"params": {k: v.detach() for k, v in model.named_parameters()}, "summary": summary},
               os.path.join(out_dir, f"rank{rank}.pt"))


def test_two_process_gloo_training(tmp_path):
    train_ann, test_ann, feats = planted_splits(tmp_path, num_train=12, num_test=4)
    out = tmp_path / "run"
    overrides = tiny_overrides(train_ann, feats, str(out), test_ann, epochs=2,
                               extra=["SOLVER.FREEZE_TEXT_EPOCHS", "1", "DEVICE", "cpu"])
    mp.spawn(_worker, args=(2, _free_port(), overrides, str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt")
    r1 = torch.load(tmp_path / "rank1.pt")
    assert r0["params"].keys() == r1["params"].keys()
    for k in r0["params"]:  # gradients were all-reduced: both replicas hold the same weights
        torch.testing.assert_close(r0["params"][k], r1["params"][k], rtol=0, atol=0, msg=k)
    history = json.loads((out / "history.json").read_text())  # written by rank 0 only
    assert [h["epoch"] for h in history] == [1, 2] and [h["text_frozen"] for h in history] == [True, False]
    assert (out / "last.pth").is_file() and "R@1,IoU@0.5" in history[-1]["metrics"]
    ckpt = torch.load(out / "last.pth", weights_only=True)  # rank 0 saved the unwrapped model
    for k, v in r0["params"].items():
        torch.testing.assert_close(ckpt["model"][k], v, rtol=0, atol=0, msg=k)
