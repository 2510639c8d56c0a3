#!/usr/bin/env python
"""Predict a whole HC-STVG-format annotation file into a challenge submission (docs/pipeline.md).

    python tools/predict_stvg.py --ann val_v2.json --video-dir videos/ --out submission.json [--eval]
    python tools/predict_stvg.py --ann test_v2.json --features feats.h5 --tubes tubes/ --out sub.json
    torchrun --nproc_per_node 4 tools/predict_stvg.py ...          # or --num-shards K --shard I

Inputs: the videos (--video-dir; files named by the annotation keys), or precomputed features
(--features: tools/extract_features.py --tubes output, holding clip features and the tubes' RoI
features) with their tube files (--tubes: tools/build_tubes.py output), which is how HC-STVG is
run at scale. Query-only annotation files (HC-STVG v2 test) work; --eval needs ground truth.

One result per video goes to OUT.parts/<video id>.json as soon as it is done, so a killed run
loses nothing: rerun the same command and it goes on (--max-videos N stops a run after N videos).
Each shard does its share; whoever finishes last writes OUT (validated with
stvg.submission.validate, atomic). Broken videos (missing, unreadable, too short, invalid
annotation) are left out and listed with their reason in OUT.failures.json. A video with no
person detected gets its interval with no box (and the reason in its part file). --salvage
grounds a video file cut short on its decodable start (its part file and the summary say
"salvaged: kept K of N frames"). Progress: videos with an ETA and the frames of the video in hand
(a log gets a line every STVG_PROGRESS_LOG_SECONDS, default 30); --no-progress silences it.

Exit status: 0 all predicted; 1 some videos failed (listed in OUT.failures.json); 2 bad input
(annotation file, model file, device, options).
"""
from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from stvg.cli import add_salvage_option, check_output_suffix, job_exit_code, RESUMES, tool_main, tool_parser

DEFAULT_MODEL = os.path.join(REPO, "models", "stvg_synthetic.pth")


def parse_args(argv=None) -> argparse.Namespace:
    ap = tool_parser(__doc__, config=False, overrides=False)
    ap.add_argument("--ann", required=True, help="HC-STVG annotation file (v1, v2 or query-only)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--video-dir", help="folder of the videos")
    src.add_argument("--features", help="precomputed feature HDF5 (with roi_features of --tubes)")
    ap.add_argument("--tubes", help="folder of tube files (with --features)")
    ap.add_argument("--out", required=True, help="submission JSON to write")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model file (default: the shipped one)")
    ap.add_argument("--num-shards", type=int, default=None, help="split the videos into this many shares ...")
    ap.add_argument("--shard", type=int, default=None, help="... and predict this one (0-based)")
    ap.add_argument("--top-k", type=int, default=5, help="alternatives kept in the part files")
    ap.add_argument("--join", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="join option override, e.g. --join TUBE_COVERAGE cut")
    ap.add_argument("--eval", action="store_true", help="score the submission when it is complete")
    ap.add_argument("--max-videos", type=int, default=None, help="stop after this many videos (rerun to go on)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (videos, and frames within a video)")
    add_salvage_option(ap)
    ap.set_defaults(log_level="WARNING")
    return ap.parse_args(argv)


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    a = parse_args(argv)
    from stvg.engine import setup_cli_logging

    setup_cli_logging(a.log_level)
    from stvg.data import videos_from_annotation
    from stvg.data.ids import load_usable_annotations
    from stvg.engine import resolve_device
    from stvg.pipeline import STVGPredictor, predict_dataset

    try:
        check_output_suffix(a.out, (".json",), "--out")
        if a.features and not a.tubes:
            raise ValueError("--features needs --tubes (the tube files whose RoI features it holds)")
        if a.tubes and not a.features:
            raise ValueError("--tubes goes with --features")
        videos, report = load_usable_annotations(a.ann)  # none usable: exit 2, no (empty) submission
        if a.eval and any(v.tube is None for v in videos.values()):
            raise ValueError(f"{a.ann}: --eval needs ground-truth tubes, but this is a query-only file")
        failures = {}
        for p in report.problems:
            failures.setdefault(p.video_id, f"invalid annotation: {p.field}: {p.message}")
        items = [(vid, v.sentence) for vid, v in videos.items()]
        paths, tubes = None, None
        if a.video_dir:
            paths = dict(videos_from_annotation(a.ann, a.video_dir))
        else:
            from spatial.tubes import read_tube_folder
            tubes = read_tube_folder(a.tubes, [vid for vid, _ in items])
            if not os.path.isfile(a.features):
                raise FileNotFoundError(f"feature file not found: {a.features}")
        if not os.path.exists(a.model):
            raise FileNotFoundError(f"model file not found: {a.model}")
        device = resolve_device(a.device, int(os.environ.get("LOCAL_RANK", "0")))
        predictor = STVGPredictor.from_file(a.model, device=device, join=[x for pair in a.join for x in pair])
        from stvg.video import salvaging
        with salvaging(a.salvage) as salvaged:
            summary = predict_dataset(predictor, items, a.out, video_paths=paths, features=a.features, tubes=tubes,
                                      num_shards=a.num_shards, shard=a.shard, progress=not a.no_progress,
                                      top_k=a.top_k, max_videos=a.max_videos, failures=failures)
    except (OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary.message())
    if salvaged:
        print(salvaged.message())
    if a.eval and summary.finished:
        from stvg.evaluation import evaluate
        from stvg.io import atomic_write_json, read_json
        from stvg.submission import read_submission

        metrics = evaluate(read_submission(a.out), read_json(a.ann, "annotation file"))
        print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
        atomic_write_json(a.out + ".metrics.json", metrics, indent=1)
        print(f"wrote {a.out}.metrics.json")
    return job_exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
