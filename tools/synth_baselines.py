#!/usr/bin/env python
"""Score the four reference baselines on a synthetic split with the project's evaluator.

    python tools/synth_baselines.py --data data/synth --split test [--seeds 5] [--device cuda]

Random baselines are averaged over --seeds draws. Prints m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5.
"""
import argparse
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from stvg.evaluation import evaluate  # noqa: E402
from stvg.io import read_json  # noqa: E402
from stvg.synth.baselines import BASELINES, baseline_predictions  # noqa: E402

KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5")
RANDOM = {"random_person", "gt_span_random_person"}


def score_all(data: str, split: str, seeds: int = 5, device=None) -> dict:
    gt = read_json(os.path.join(data, f"{split}.json"), f"synthetic {split} split")
    tubes = read_json(os.path.join(data, "all_tubes.json"), "synthetic all_tubes file")
    out = {}
    for name in BASELINES:
        runs = [evaluate(baseline_predictions(name, gt, tubes, seed=s), gt, device=device)
                for s in range(seeds if name in RANDOM else 1)]
        out[name] = {k: sum(r[k] for r in runs) / len(runs) for k in KEYS}
        out[name]["num_videos"] = runs[0]["num_videos"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder written by tools/make_synthetic.py")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--seeds", type=int, default=5, help="draws averaged for the random baselines")
    ap.add_argument("--device", default=None, help="evaluator device (cpu, cuda); default cpu")
    args = ap.parse_args(argv)
    res = score_all(args.data, args.split, args.seeds, args.device)
    n = next(iter(res.values()))["num_videos"]
    print(f"Baselines on {args.data} {args.split} ({n} videos; %):")
    print(f"| {'baseline':24s} | " + " | ".join(f"{k:>8s}" for k in KEYS) + " |")
    print("|" + "-" * 26 + "|" + "|".join("-" * 10 for _ in KEYS) + "|")
    for name, r in res.items():
        print(f"| {name:24s} | " + " | ".join(f"{100 * r[k]:8.1f}" for k in KEYS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
