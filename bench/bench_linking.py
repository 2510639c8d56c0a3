"""Linking speed: T frames x N detections per frame (people walking, jittered, some dropped).

    python bench/bench_linking.py [--frames 600] [--dets 30] [--repeat 5] [--device cpu]

Prints a table of the median wall time of :func:`spatial.linking.link_detections` (the target is
< 50 ms for 600 x 30 on CPU). ``--device cuda`` puts the input Detections on the GPU (linking moves
them to the CPU: the assignment is a sequential CPU algorithm).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from spatial.linking import link_detections  # noqa: E402
from stvg.structures import Detections  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)


def make_scene(frames: int, people: int, seed: int = 0, width: int = 1920, height: int = 1080):
    """``people`` walkers with constant velocity bouncing off the borders; 5% dropped, 2 px jitter."""
    rng = np.random.default_rng(seed)
    wh = rng.uniform([40, 100], [90, 220], size=(people, 2))
    pos = rng.uniform([0, 0], [width - 90, height - 220], size=(people, 2))
    v = rng.uniform(-4, 4, size=(people, 2))
    out = []
    for t in range(frames):
        pos = pos + v
        bounce = (pos < 0) | (pos + wh > [width, height])
        v = np.where(bounce, -v, v)
        pos = np.clip(pos, 0, [width, height] - wh)
        boxes = np.concatenate([pos, pos + wh], 1) + rng.normal(0, 2, (people, 4))
        keep = rng.random(people) > 0.05
        out.append(Detections(torch.tensor(boxes[keep], dtype=torch.float32),
                              torch.tensor(rng.uniform(0.5, 1, keep.sum()), dtype=torch.float32), t))
    return out, (width, height)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--dets", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    dets, size = make_scene(a.frames, a.dets)
    dets = [d.to(a.device) for d in dets]
    link_detections(dets, size)  # warm-up
    times, cpu = [], []
    for _ in range(a.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        tubes, rep = link_detections(dets, size)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    ms = statistics.median(times) * 1e3
    cpu_ms = statistics.median(cpu) * 1e3
    print(f"machine: {cpu_model()}; torch threads {torch.get_num_threads()}"
          + (f"; GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))
    print(f"{'input':>22} | {'device':>6} | {'median ms':>9} | {'min ms':>7} | {'CPU ms':>6} | tubes | target")
    print(f"{f'{a.frames} fr x {a.dets} det':>22} | {a.device:>6} | {ms:9.1f} | {min(times) * 1e3:7.1f} | {cpu_ms:6.1f} | "
          f"{len(tubes):5d} | < 50 ms {'OK' if ms < 50 else 'MISSED'}")
    print(f"report: {rep}")
    print("(wall = elapsed time; CPU ms = process CPU time, less disturbed by other jobs on a shared machine)")


if __name__ == "__main__":
    main()
