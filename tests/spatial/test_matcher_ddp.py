"""Two CPU processes (gloo) train one matcher through DistributedDataParallel."""
from __future__ import annotations

import json
import os
import socket

import torch
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
                      RANK=str(rank), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from spatial.matcher.train import train_videos
    from tests.spatial.test_matcher_helpers import planted_videos, tiny_cfg

    cfg = tiny_cfg("SOLVER.EPOCHS", "2", "SOLVER.BATCH_SIZE", "8", out=os.path.join(out_dir, "run"))
    summary, model = train_videos(cfg, planted_videos(20, 0), planted_videos(4, 1), progress=False, return_model=True)
    assert not torch.distributed.is_initialized()
    torch.save({k: v.detach() for k, v in model.named_parameters() if v.requires_grad},
               os.path.join(out_dir, f"rank{rank}.pt"))


def test_two_process_gloo_training(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert r0.keys() == r1.keys() and r0
    for k in r0:  # gradients were all-reduced: both replicas hold the same weights
        torch.testing.assert_close(r0[k], r1[k], rtol=0, atol=0, msg=k)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2] and "top1_acc" in history[-1]["metrics"]
    ckpt = torch.load(tmp_path / "run" / "last.pth", weights_only=True)
    for k, v in r0.items():
        torch.testing.assert_close(ckpt["model"][k], v, rtol=0, atol=0, msg=k)
