#!/usr/bin/env python
"""More training sentences for a generated synthetic folder: other people and spans of each video.

    python tools/synthetic_queries.py --data data/synth --per-video 3 [--out data/synth/train_multi.json]

Writes, per video of the folder's train split, its own entry followed by up to ``--per-video`` more
(person, span) queries, each with a sentence that singles it out under the generator's own rules
(stvg.data.synthetic.queries; docs/synthetic.md). The videos, val.json and test.json are untouched;
the file is a training file (DATASET.TRAIN_ANN of the temporal stage, tube-MMN and the matcher).
Deterministic for the folder; written atomically. Exit codes: 0 written, 2 bad input.
"""
import logging
import os
import sys

from stvg.cli import tool_main, tool_parser
from stvg.data.synthetic.queries import TRAINING_QUERIES_FILE, write_training_queries


@tool_main()
def main(argv=None) -> int:
    ap = tool_parser(__doc__, device=False, config=False, overrides=False)
    ap.add_argument("--data", required=True, help="a folder written by tools/make_synthetic.py")
    ap.add_argument("--per-video", type=int, default=3, help="extra queries per training video (>= 0)")
    ap.add_argument("--out", default="", help=f"output file (default: <data>/{TRAINING_QUERIES_FILE})")
    args = ap.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(message)s")
    if args.per_video < 0:
        ap.error("--per-video must be >= 0")
    try:
        n = write_training_queries(args.data, args.per_video, args.out or None)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or os.path.join(args.data, TRAINING_QUERIES_FILE)
    print(f"{out}: {n['queries']} queries of {n['videos']} training videos")
    return 0


if __name__ == "__main__":
    sys.exit(main())
