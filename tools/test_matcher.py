#!/usr/bin/env python
"""Test a tube matcher on DATASET.TEST_ANN: top-1 accuracy, mean vIoU, recall@k, oracle and baselines.

    python tools/test_matcher.py --weights runs/matcher/best.pth [--config C] [--out m.json]
        [--predictions p.json] [KEY VALUE ...]
    python tools/test_matcher.py --backend clip --video-dir VIDEOS [--config C] CLIP.MODEL openai/clip-vit-base-patch32

Data: DATASET.TEST_ANN, DATASET.TUBES, DATASET.FEATURES (the learned matcher only). TEST.WINDOW gt
scores each video within its ground-truth span, none over whole tubes. The learned matcher's MODEL
settings come from its checkpoint. Videos with no tube get an empty ranking with the reason.
--device overrides DEVICE. Exit codes: 0 tested, 2 bad input or config.
"""
import json
import sys

from spatial.matcher import load_matcher_config
from spatial.matcher.inference import test_matcher
from stvg.cli import add_run_options, check_output_suffix, run_overrides, tool_main, tool_parser
from stvg.engine import setup_cli_logging


@tool_main
def main(argv=None) -> int:
    ap = tool_parser(__doc__)
    ap.add_argument("--weights", help="matcher checkpoint (best.pth / last.pth of tools/train_matcher.py)")
    ap.add_argument("--backend", choices=("learned", "clip"), default="learned")
    ap.add_argument("--video-dir", help="folder of the videos (clip backend)")
    ap.add_argument("--out", help="metrics JSON")
    ap.add_argument("--predictions", help="per-video rankings JSON")
    args = add_run_options(ap).parse_args(argv)
    setup_cli_logging(args.log_level)
    check_output_suffix(args.out, (".json",), "--out")
    check_output_suffix(args.predictions, (".json",), "--predictions")
    cfg = load_matcher_config(args.config, run_overrides(args))
    metrics = test_matcher(cfg, args.weights, args.backend, args.video_dir, args.out, args.predictions,
                           progress=not args.no_progress)
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
