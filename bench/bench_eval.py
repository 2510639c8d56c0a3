#!/usr/bin/env python
"""Evaluator benchmark at HC-STVG v2 val scale (2,000 videos), against a per-frame Python loop.

Ground truth: the real HC-STVG v1 sample (../shared/data/hcstvg/test_sample.json or --ann), its
videos repeated under new ids up to --videos; predictions: the ground truth with shifted spans,
jittered boxes and dropped frames (fixed seed). Prints, for CPU and (when present) CUDA:
  * the plain per-frame Python loop of the official definition (the baseline);
  * the Python traversal floor: only walking every box of both dicts once;
  * evaluate() from loaded JSON dicts, and the evaluator with the ground truth indexed once
    (both check the predictions first, as the command line does);
  * stvg.submission.validate() of the predictions alone;
  * video_metrics() + summarize() from padded tensors already in memory;
with the ratios to the loop, and checks that every number is identical (|diff| <= 1e-9).

--compare OLD.py times another version of stvg/evaluation.py in the same session, interleaved run
by run with the current code (a shared machine's load then weighs on both alike), and checks that
its numbers are bitwise the current ones:

    git show <commit>:stvg/evaluation.py > /tmp/old_evaluation.py
    OMP_NUM_THREADS=1 python bench/bench_eval.py --repeat 15 --compare /tmp/old_evaluation.py
"""
import argparse
import importlib.util
import itertools
import json
import pathlib
import sys
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from stvg.evaluation import (HCSTVGEvaluator, evaluate, ground_truth_entries, match_frames,  # noqa: E402
                             pad_entries, summarize, video_metrics)
from stvg.submission import validate  # noqa: E402
from tests.stvg.official_reference import evaluate_ref  # noqa: E402
from tests.stvg.test_evaluation import perturbed  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)


def best_of(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return min(times), out


def interleaved(fns, repeat):
    """Best time of each of ``fns`` ({name: fn}), run one after the other, ``repeat`` rounds."""
    times = {k: [] for k in fns}
    out = {}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            out[k] = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t)
    return {k: (min(v), out[k]) for k, v in times.items()}


def load_version(path):
    """Another version of stvg/evaluation.py, as a module of the stvg package (its relative
    imports resolve against the current stvg)."""
    spec = importlib.util.spec_from_file_location("stvg._compared_evaluation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def traverse(pred, gt):
    n = 0
    for d in (pred, gt):
        for e in d.values():
            for k, b in e["bbox"].items():
                n += 1
    return n


def machine():
    cpu = cpu_model()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return f"CPU {cpu} ({torch.get_num_threads()} threads), GPU {gpu}, torch {torch.__version__}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ann", default=str(REPO.parent / "shared" / "data" / "hcstvg" / "test_sample.json"))
    ap.add_argument("--videos", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="write the figures as JSON")
    ap.add_argument("--compare", help="another version of stvg/evaluation.py to time side by side")
    args = ap.parse_args()

    sample = ground_truth_entries(json.loads(pathlib.Path(args.ann).read_text()))
    items = list(sample.values())
    gt = {f"{i:05d}_{k}": json.loads(json.dumps(items[i % len(items)]))
          for i, k in zip(range(args.videos), itertools.cycle(sample))}
    pred = perturbed(gt, seed=0)
    n_boxes = traverse(pred, gt)
    print(f"machine: {machine()}")
    print(f"{len(gt)} videos, {n_boxes} boxes (predictions + ground truth)")

    t_loop, ref = best_of(lambda: evaluate_ref(pred, gt), args.repeat)
    t_floor, _ = best_of(lambda: traverse(pred, gt), args.repeat)
    rows = [("per-frame Python loop (baseline)", t_loop, ref), ("Python traversal floor", t_floor, None)]
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    g = pad_entries([gt[v] for v in gt], None)
    p = pad_entries([pred.get(v) for v in gt], g.base, width=g.boxes.shape[1])
    pairs = match_frames(pred, gt)
    t_index, indexed = best_of(lambda: HCSTVGEvaluator(gt), args.repeat)
    old = load_version(args.compare) if args.compare else None
    old_indexed = old.HCSTVGEvaluator(gt) if old else None
    same_as_old = {}
    t_valid, problems = best_of(lambda: validate(pred, gt, allow_missing=True), args.repeat)
    assert problems == [], problems[:3]
    for dev in devices:
        fns = {"one-shot": lambda: evaluate(pred, gt, device=dev),
               "indexed": lambda: indexed.evaluate(pred, device=dev)}
        if old:
            fns.update({"old one-shot": lambda: old.evaluate(pred, gt, device=dev),
                        "old indexed": lambda: old_indexed.evaluate(pred, device=dev)})
        timed = interleaved(fns, args.repeat)
        rows.append((f"evaluate() from JSON dicts [{dev}]", *timed["one-shot"]))
        rows.append((f"evaluator with GT indexed once, from dicts [{dev}]", *timed["indexed"]))
        if old:
            rows.append((f"  {pathlib.Path(args.compare).name}: evaluate() [{dev}]", *timed["old one-shot"]))
            rows.append((f"  {pathlib.Path(args.compare).name}: GT indexed once [{dev}]", *timed["old indexed"]))
            same_as_old[dev] = all(timed[k][1] == timed[f"old {k}"][1] for k in ("one-shot", "indexed"))
        if dev == "cpu":
            rows.append(("validate() of the predictions (stvg.submission)", t_valid, None))
        pd, gd = p.to(dev), g.to(dev)
        t, res = best_of(lambda: summarize(*video_metrics(pd, gd)), max(args.repeat, 5))
        rows.append((f"video_metrics() from padded tensors [{dev}]", t, res))
        fp = pairs.to(dev)
        t, res = best_of(lambda: summarize(*fp.metrics()), max(args.repeat, 5))
        rows.append((f"FramePairs.metrics() from tensors [{dev}]", t, res))

    keys = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5")
    print(f"{'path':52s} {'seconds':>9s} {'x loop':>8s}  identical")
    results = []
    for name, t, res in rows:
        same = "" if res is None else str(all(abs(res[k] - ref[k]) <= 1e-9 for k in keys))
        print(f"{name:52s} {t:9.4f} {t_loop / t:8.1f}  {same}")
        results.append({"path": name, "seconds": t, "speedup_vs_loop": t_loop / t, "identical": same})
    print("metrics:", {k: round(ref[k], 6) for k in keys})
    print(f"dict path vs traversal floor: {rows[2][1] / t_floor:.2f}x the floor; "
          f"indexing the ground truth once takes {t_index:.4f} s")
    if old:
        print(f"{args.compare}: numbers bitwise equal to the current code's: {same_as_old}")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps({"machine": machine(), "videos": len(gt),
                                                      "boxes": n_boxes, "rows": results,
                                                      "compared": args.compare, "bitwise_equal": same_as_old},
                                                     indent=2))


if __name__ == "__main__":
    main()
