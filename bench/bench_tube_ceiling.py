#!/usr/bin/env python
"""The tube ceiling of spatial settings on synthetic videos, and what each costs per video.

    python bench/bench_tube_ceiling.py [--make 30 --seed 123 | --data DIR] [--out results.json]
        [--setting NAME CONFIG [KEY VALUE ...] ...]

For every video of the set (default: 30 fresh videos of the generator's default settings, seed 123)
and every spatial setting, person tubes are built as ``tools/build_tubes.py`` builds them
(``spatial.tubes.build_video_tubes``: detection, box tightening when on, linking) and scored:

* oracle m_vIoU / m_tIoU: the best tube cut to the ground-truth span (official metrics,
  ``stvg.evaluation.evaluate``), the ceiling any matcher can reach with those tubes;
* covered: the share of ground-truth frames on which the best tube has a box;
* seconds per video (decode, detection, tightening, linking; ``--threads`` torch / OpenCV threads),
  and its ratio to the first setting.

Default settings: the library defaults (``configs/spatial/hcstvg_hog.yaml``: HOG every 4th frame,
``MAX_GAP 3``), the shipped demo model's setting without tightening, and the shipped setting
(``configs/spatial/synthetic_hog.yaml``, boxes tightened against the background). Nothing is
cached: every setting decodes and detects each video itself.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SETTINGS = [
    ("library defaults (HOG every 4th frame, MAX_GAP 3, IOU 0.3)", "configs/spatial/hcstvg_hog.yaml", []),
    ("every 2nd frame, MAX_GAP 5, IOU 0.2, no tightening", "configs/spatial/synthetic_hog.yaml",
     ["TIGHTEN.METHOD", "none"]),
    ("shipped: every 2nd frame, MAX_GAP 5, IOU 0.2, TIGHTEN background", "configs/spatial/synthetic_hog.yaml", []),
]


def _settings(raw) -> list:
    if not raw:
        return [(n, os.path.join(REPO, c), o) for n, c, o in DEFAULT_SETTINGS]
    out = []
    for item in raw:
        if len(item) < 2 or len(item) % 2:
            raise SystemExit(f"--setting {' '.join(item)}: expected NAME CONFIG [KEY VALUE ...]")
        out.append((item[0], item[1], list(item[2:])))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="an existing synthetic folder (every split is used)")
    ap.add_argument("--make", type=int, default=30, help="generate this many videos when --data is not given")
    ap.add_argument("--seed", type=int, default=123, help="seed of the generated set")
    ap.add_argument("--setting", nargs="+", action="append", metavar="NAME CONFIG [KEY VALUE]",
                    help="a spatial setting to compare (repeatable); default: the three of the docstring")
    ap.add_argument("--threads", type=int, default=1, help="torch and OpenCV threads (fixed, for comparable timings)")
    ap.add_argument("--out", default=None, help="write the figures as JSON")
    a = ap.parse_args(argv)
    import cv2
    import torch

    torch.set_num_threads(a.threads)
    cv2.setNumThreads(a.threads)
    from machine_info import cpu_model  # bench/ is on sys.path when run as a script
    from spatial.defaults import load_spatial_config
    from spatial.tubes import build_video_tubes
    from stvg.data import load_hcstvg
    from stvg.data.synthetic import generate
    from stvg.evaluation import evaluate
    from stvg.io import read_json
    from stvg.join import fill_tube
    from stvg.ops import best_cut_tube
    from stvg.submission import tube_to_entry

    data = a.data
    if data is None:
        data = os.path.join(tempfile.gettempdir(), f"stvg_bench_synth_{a.make}_{a.seed}")
        generate(data, a.make, seed=a.seed, progress=False)
    gt, gt_raw = {}, {}
    for split in ("train", "val", "test"):
        path = os.path.join(data, f"{split}.json")
        if os.path.isfile(path):
            gt.update(load_hcstvg(path, strict=True)[0])
            gt_raw.update(read_json(path, f"synthetic {split} split"))
    vids = sorted(gt)
    print(f"{len(vids)} videos from {data}; {cpu_model()}, {a.threads} thread(s)", flush=True)
    rows = []
    for name, config, opts in _settings(a.setting):
        cfg = load_spatial_config(config, opts)
        preds, covered, t0 = {}, [], time.perf_counter()
        for vid in vids:
            res = build_video_tubes(os.path.join(data, "videos", vid), cfg, vid)
            g = gt[vid].tube
            best = best_cut_tube(res.tubes, g)
            if best is None:
                covered.append(0.0)
                continue
            preds[vid] = tube_to_entry(fill_tube(best, best.start_frame, best.end_frame))
            covered.append(float(np.isin(g.frames.numpy(), best.frames.numpy()).mean()))
        seconds = (time.perf_counter() - t0) / max(len(vids), 1)
        m = evaluate(preds, gt_raw)
        rows.append({"setting": name, "config": os.path.relpath(config, REPO) if os.path.isabs(config) else config,
                     "opts": opts, "oracle_m_vIoU": m["m_vIoU"], "oracle_m_tIoU": m["m_tIoU"],
                     "covered": float(np.mean(covered)), "seconds_per_video": seconds})
        print(f"  {name}: oracle m_vIoU {100 * m['m_vIoU']:.1f}, m_tIoU {100 * m['m_tIoU']:.1f}, covered "
              f"{np.mean(covered):.3f}, {seconds:.2f} s/video ({seconds / rows[0]['seconds_per_video']:.2f}x the first)",
              flush=True)
    if a.out:
        from stvg.io import atomic_write_json

        atomic_write_json(a.out, {"data": data if a.data else f"generated: --make {a.make} --seed {a.seed}",
                                  "num_videos": len(vids), "machine": cpu_model(), "threads": a.threads,
                                  "rows": rows}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
