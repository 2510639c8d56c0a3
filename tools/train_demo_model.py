#!/usr/bin/env python
"""Train the shipped demo model from nothing on this project's synthetic data (``make model``).

    python tools/train_demo_model.py [--work outputs/demo_model] [--out models/stvg_synthetic.pth]
        [--num-videos 700] [--seed 1] [--queries-per-video 3] [--matcher-queries-per-video 10] [--jobs 2]

Steps (each one a tool of the project, each resumable: run the command again after an interruption
and finished steps are skipped, unfinished ones continue):

1. ``make_synthetic.py``: ``--num-videos`` videos with the generator's default settings (8 s,
   10 fps, 480 x 270) and seed ``--seed``, split 70 / 15 / 15 into train / val / test;
   ``synthetic_queries.py``: ``--queries-per-video`` more sentences per training video (other
   people and spans of the same video, each described uniquely: ``data/train_multi.json``, what
   MMN trains on), and ``--matcher-queries-per-video`` more (``data/train_matcher.json``, what the
   matcher trains on: its span head overfits fewer); val and test keep their one sentence per video;
2. ``build_tubes.py``: HOG person tubes (configs/spatial/synthetic_hog.yaml), ``--jobs`` shards
   in parallel processes;
3. ``train_crop_net.py``: the crop net (``crop_net.pth``: a small CNN on person crops, trained from
   scratch on the train split's people labelled with the generator's actions, seed ``--seed``);
4. ``extract_features.py``: ``--jobs`` shards in parallel processes (one thread each), clip and RoI features (configs/features/synthetic_resnet18.yaml: a
   randomly initialised ResNet-18 with a fixed seed, no pretrained weights existing offline; with
   ``ROI.CROP_NET`` the crop net of step 3, whose embedding is appended to every RoI row);
5. ``train_temporal.py``: MMN (configs/temporal/synthetic.yaml);
6. ``train_matcher.py``: the tube matcher (configs/spatial/matcher_synthetic.yaml);
7. ``make_model_file.py``: the one model file, written to ``--out`` (the crop net stored in it), with
   the join ``SPAN_MODE runs`` (each tube's span-head run; ``SPAN_MOMENT_POW 0.5``).

Everything lands under ``--work`` except the model file. Exit status: 0 done, 1 a step failed (its
command and exit code are printed), 2 bad arguments.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import List

from stvg.cli import RESUMES, tool_main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool(name: str) -> List[str]:
    return [sys.executable, os.path.join(REPO, "tools", name)]


def _run(step: str, cmds: List[List[str]], env=None) -> None:
    """Run ``cmds`` in parallel processes; raise SystemExit(1) naming the first that fails."""
    t0 = time.time()
    print(f"[{step}] {' '.join(cmds[0][1:])}" + (f"  (x{len(cmds)} shards)" if len(cmds) > 1 else ""), flush=True)
    procs = [subprocess.Popen(c, cwd=REPO, env=env) for c in cmds]
    codes = [p.wait() for p in procs]
    for c, code in zip(cmds, codes):
        if code != 0:
            print(f"[{step}] failed with exit code {code}: {' '.join(c)}", file=sys.stderr)
            raise SystemExit(1)
    print(f"[{step}] done in {time.time() - t0:.0f} s", flush=True)


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(REPO, "outputs", "demo_model"), help="working folder")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "stvg_synthetic.pth"), help="model file")
    ap.add_argument("--num-videos", type=int, default=700)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queries-per-video", type=int, default=3,
                    help="extra training sentences per training video for MMN (tools/synthetic_queries.py)")
    ap.add_argument("--matcher-queries-per-video", type=int, default=10,
                    help="extra training sentences per training video for the matcher")
    ap.add_argument("--jobs", type=int, default=2, help="parallel processes for data, tubes and features")
    ap.add_argument("--epochs-temporal", type=int, default=None, help="override SOLVER.EPOCHS (tests)")
    ap.add_argument("--epochs-matcher", type=int, default=None, help="override SOLVER.EPOCHS (tests)")
    ap.add_argument("--epochs-crop", type=int, default=None, help="crop-net epochs (tests; default the tool's)")
    a = ap.parse_args(argv)
    if a.num_videos < 10 or a.jobs < 1 or a.queries_per_video < 0 or a.matcher_queries_per_video < 0:
        ap.error("--num-videos must be >= 10 (train, val and test each need videos), --jobs >= 1, "
                 "--queries-per-video and --matcher-queries-per-video >= 0")
    work = os.path.abspath(a.work)
    data, tubes, feats = (os.path.join(work, x) for x in ("data", "tubes", "features.h5"))
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               TOKENIZERS_PARALLELISM="false")
    t0 = time.time()
    try:
        _run("1/7 synthetic data", [_tool("make_synthetic.py") + ["--out", data, "--num-videos", str(a.num_videos),
                                                                 "--seed", str(a.seed), "--workers", str(a.jobs)]],
             env)
        multi = os.path.join(data, "train_multi.json")
        _run("1/7 synthetic data: training queries", [_tool("synthetic_queries.py") + [
            "--data", data, "--per-video", str(a.queries_per_video), "--out", multi]], env)
        mmulti = os.path.join(data, "train_matcher.json")
        _run("1/7 synthetic data: the matcher's training queries", [_tool("synthetic_queries.py") + [
            "--data", data, "--per-video", str(a.matcher_queries_per_video), "--out", mmulti]], env)
        shards = [_tool("build_tubes.py") + ["--videos", os.path.join(data, "videos"), "--out-dir", tubes,
                                             "--config", "configs/spatial/synthetic_hog.yaml",
                                             "--cache-dir", os.path.join(work, "detections"),
                                             "--device", "cpu", "--no-progress"]
                  + (["--num-shards", str(a.jobs), "--shard", str(i)] if a.jobs > 1 else [])
                  for i in range(a.jobs)]
        _run("2/7 person tubes", shards, env)
        crop = os.path.join(work, "crop_net.pth")
        _run("3/7 crop net", [_tool("train_crop_net.py") + [
            "--data", data, "--features-config", "configs/features/synthetic_resnet18.yaml", "--out", crop,
            "--seed", str(a.seed), "--jobs", str(a.jobs)] + (["--epochs", str(a.epochs_crop)] if a.epochs_crop else [])],
             env)
        _run("4/7 features", [_tool("extract_features.py") + [
            "--videos", os.path.join(data, "videos"), "--tubes", tubes, "--out", feats,
            "--config", "configs/features/synthetic_resnet18.yaml", "--device", "cpu"]
            + (["--num-shards", str(a.jobs), "--shard", str(i)] if a.jobs > 1 else []) + ["ROI.CROP_NET", crop]
            for i in range(a.jobs)], env)
        paths = ["DATASET.TRAIN_ANN", multi, "DATASET.VAL_ANN",
                 os.path.join(data, "val.json"), "DATASET.TEST_ANN", os.path.join(data, "test.json"),
                 "DATASET.FEATURES", feats]
        tdir, mdir = os.path.join(work, "temporal"), os.path.join(work, "matcher")
        targs = ["--config", "configs/temporal/synthetic.yaml", "--no-progress", "DEVICE", "cpu"] + paths + \
            ["OUTPUT_DIR", tdir] + (["SOLVER.EPOCHS", str(a.epochs_temporal)] if a.epochs_temporal else [])
        _run("5/7 temporal stage (MMN)", [_tool("train_temporal.py") + targs
                                          + (["--resume"] if os.path.exists(os.path.join(tdir, "last.pth")) else [])],
             env)
        margs = ["--config", "configs/spatial/matcher_synthetic.yaml", "--no-progress", "DEVICE", "cpu"] + paths + \
            ["DATASET.TRAIN_ANN", mmulti, "DATASET.TUBES", tubes, "OUTPUT_DIR", mdir] + \
            (["SOLVER.EPOCHS", str(a.epochs_matcher)] if a.epochs_matcher else [])
        _run("6/7 tube matcher", [_tool("train_matcher.py") + margs
                                  + (["--resume"] if os.path.exists(os.path.join(mdir, "last.pth")) else [])], env)
        _run("7/7 model file", [_tool("make_model_file.py") + [
            "--temporal", tdir, "--matcher", mdir, "--features-config", "configs/features/synthetic_resnet18.yaml",
            "--features-opts", "ROI.CROP_NET", crop,
            "--spatial-config", "configs/spatial/synthetic_hog.yaml", "--join", "SPAN_MODE", "runs",
            "--join", "SPAN_MOMENT_POW", "0.5", "--out", os.path.abspath(a.out)]], env)
    except SystemExit as e:
        return int(e.code or 0)
    print(f"model file: {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB); recipe took {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
