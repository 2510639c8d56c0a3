#!/usr/bin/env python
"""Score the four reference baselines on a synthetic split with the project's evaluator.

    python tools/synth_baselines.py --data data/synth --split test [--seeds 5] [--device cuda]

Random baselines are averaged over --seeds draws. Prints m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5.
The logic is :func:`stvg.data.synthetic.baselines.score_all`. Exit codes: 0 scored, 2 bad input.
"""
import sys

from stvg.cli import tool_main, tool_parser
from stvg.data.synthetic.baselines import KEYS, score_all
from stvg.engine.device import resolve_device


@tool_main
def main(argv=None) -> int:
    ap = tool_parser(__doc__, config=False, overrides=False)
    ap.add_argument("--data", required=True, help="folder written by tools/make_synthetic.py")
    ap.add_argument("--split", default="test", choices=("train", "val", "test"))
    ap.add_argument("--seeds", type=int, default=5, help="draws averaged for the random baselines")
    args = ap.parse_args(argv)
    try:
        device = resolve_device(args.device)
        res = score_all(args.data, args.split, args.seeds, device)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = next(iter(res.values()))["num_videos"]
    print(f"Baselines on {args.data} {args.split} ({n} videos; %):")
    print(f"| {'baseline':24s} | " + " | ".join(f"{k:>8s}" for k in KEYS) + " |")
    print("|" + "-" * 26 + "|" + "|".join("-" * 10 for _ in KEYS) + "|")
    for name, r in res.items():
        print(f"| {name:24s} | " + " | ".join(f"{100 * r[k]:8.1f}" for k in KEYS) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
