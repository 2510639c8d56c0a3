#!/usr/bin/env python
"""Generate a synthetic HC-STVG-format dataset (videos + train/val/test.json + all_tubes.json + meta.json).

    python tools/make_synthetic.py --out data/synth --num-videos 200 --seed 0
    python tools/make_synthetic.py --out data/synth_small --num-videos 20 --seed 1 \\
        --duration 6 --fps 10 --width 480 --height 270 --workers 2
    python tools/make_synthetic.py --out data/synth --num-videos 200 --config my.yaml PEOPLE.MAX 3

Deterministic for a seed (byte-identical videos and annotation files); rerunning into the same
folder resumes (videos already written are kept). For demos, tests and learning benchmarks only
(docs/synthetic.md). Exit codes: 0 written, 1 every video failed (meta.json lists why), 2 bad
input (nothing written).
"""
import logging
import sys

from stvg.cli import RESUMES, tool_main, tool_parser
from stvg.data.synthetic import generate, load_synth_config


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    ap = tool_parser(__doc__, device=False)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--num-videos", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--duration", type=float, default=None, help="seconds per clip (VIDEO.DURATION)")
    ap.add_argument("--fps", type=float, default=None, help="VIDEO.FPS")
    ap.add_argument("--width", type=int, default=None, help="VIDEO.WIDTH (even)")
    ap.add_argument("--height", type=int, default=None, help="VIDEO.HEIGHT (even)")
    ap.add_argument("--workers", type=int, default=1, help="processes rendering videos in parallel")
    ap.add_argument("--annotations-only", action="store_true", help="write the JSON files, no videos")
    args = ap.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(message)s")
    overrides = list(args.overrides)
    for flag, key in (("duration", "VIDEO.DURATION"), ("fps", "VIDEO.FPS"), ("width", "VIDEO.WIDTH"),
                      ("height", "VIDEO.HEIGHT")):
        if getattr(args, flag) is not None:
            overrides += [key, str(getattr(args, flag))]
    try:
        cfg = load_synth_config(args.config, overrides)
        report = generate(args.out, args.num_videos, args.seed, config=cfg, workers=args.workers,
                          write_videos=not args.annotations_only, progress=True)
    except (OSError, ValueError) as e:  # bad config or --out, or a folder made with another seed/config
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report.summary())
    for vid, err in report.failures.items():
        print(f"  failed: {vid}: {err.splitlines()[0]}")
    return 1 if len(report.failures) == args.num_videos else 0


if __name__ == "__main__":
    sys.exit(main())
