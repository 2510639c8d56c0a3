#!/usr/bin/env python
"""Score an HC-STVG challenge submission: m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5 (official definition).

    python tools/evaluate_stvg.py --pred P.json --gt G.json [--out metrics.json]
        [--per-video per_video.csv] [--device cuda] [--lenient]

--gt accepts a challenge-format ground truth or an HC-STVG v1/v2 annotation file. Videos match
by submission id (the file name without its video extension): P keyed "55_vfjywN5CN0Y" or
"55_vfjywN5CN0Y.mp4" scores the same; two keys naming one video exit 2. An invalid
prediction file makes the tool list the problems (first 20, then a count) and exit 2, unless
--lenient, which scores what the official script could read (and says how many problems there
were). A file in another format altogether, a ground truth with any fault, or nothing to score
exits 2 even with --lenient. Exit codes: 0 scored, 2 bad input (docs/behaviour.md).
"""
import argparse
import csv
import io
import logging
import sys

from stvg.cli import ToolExit, check_output_path, check_output_suffix, tool_main
from stvg.engine.device import resolve_device
from stvg.evaluation import HCSTVGEvaluator
from stvg.io import atomic_write, atomic_write_json, read_json
from stvg.submission import SubmissionError, read_submission


@tool_main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pred", required=True, help="submission JSON")
    ap.add_argument("--gt", required=True, help="ground truth: challenge format or HC-STVG annotations")
    ap.add_argument("--out", help="write the metrics as JSON here")
    ap.add_argument("--per-video", help="write video_id,vIoU,tIoU rows here (CSV)")
    ap.add_argument("--device", default=None, help="cpu (default) or cuda")
    ap.add_argument("--lenient", action="store_true", help="score an invalid file instead of exiting 2")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="note: %(message)s")  # the lenient summary

    try:
        check_output_suffix(args.out, (".json",), "--out")  # outputs checked before any work
        check_output_path(args.per_video, "--per-video")
        device = resolve_device(args.device) if args.device else None
        pred = read_submission(args.pred)
        evaluator = HCSTVGEvaluator(read_json(args.gt, "ground truth file"), source=args.gt)
        missing = len(evaluator.missing(pred))
        if missing:
            print(f"note: {missing} of {len(evaluator)} ground-truth videos are missing from {args.pred}; "
                  "they score 0", file=sys.stderr)
        metrics = evaluator.evaluate(pred, device=device, per_video=bool(args.per_video),
                                     lenient=args.lenient, source=args.pred)
    except SubmissionError as e:
        print(f"{args.pred}: {len(e.problems)} problem(s):", file=sys.stderr)
        for p in e.problems[:20]:
            print(f"  - {p}", file=sys.stderr)
        if len(e.problems) > 20:
            print(f"  ... and {len(e.problems) - 20} more", file=sys.stderr)
        if args.lenient or e.fatal:
            print("exiting: nothing here can be scored, even with --lenient", file=sys.stderr)
        else:
            print("exiting (use --lenient to score what the official script could read)", file=sys.stderr)
        return 2
    except (OSError, ValueError, ToolExit) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    per_video = metrics.pop("per_video", None)
    print(format_table(metrics))
    if args.out:
        atomic_write_json(args.out, metrics, indent=2)
    if per_video is not None:
        with atomic_write(args.per_video, "w") as f:
            w = csv.writer(f)
            w.writerow(["video_id", "vIoU", "tIoU"])
            for vid, (v, t) in per_video.items():
                w.writerow([vid, f"{v:.6f}", f"{t:.6f}"])
    return 0


def format_table(metrics: dict) -> str:
    buf = io.StringIO()
    keys = [k for k in metrics if k != "num_videos"]
    buf.write(" | ".join(f"{k:>8}" for k in keys) + f" | {'videos':>6}\n")
    buf.write(" | ".join(f"{100 * metrics[k]:8.2f}" for k in keys) + f" | {metrics['num_videos']:>6}")
    return buf.getvalue()


if __name__ == "__main__":
    sys.exit(main())
