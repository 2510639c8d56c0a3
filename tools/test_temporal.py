#!/usr/bin/env python
"""Test a temporal (MMN) checkpoint on DATASET.TEST_ANN: R@n,IoU@m at TEST.IOU_THRESHOLDS.

    python tools/test_temporal.py --config C --weights W [--out metrics.json] [--dump-scores S.pt]
        [--skip-missing] [KEY VALUE ...]

--out writes {"R@1,IoU@0.5": fraction, ...}; --dump-scores writes a torch dict
"<video_id>/<k>" -> FloatTensor[N, N] of final test scores (k = index of the sentence in its video's
annotation list; 0 outside the valid mask). The resolved config is written next to the outputs.
Exit codes: 0 tested, 2 bad input or config.
"""
import json
import sys

from stvg.cli import add_run_options, run_overrides, tool_main, tool_parser
from stvg.engine import setup_cli_logging
from temporal.defaults import load_temporal_config
from temporal.engine import evaluate_checkpoint


@tool_main
def main(argv=None) -> int:
    ap = add_run_options(tool_parser(__doc__, config_required=True))
    ap.add_argument("--weights", required=True, help="checkpoint from train_temporal.py or convert_mmn_checkpoint.py")
    ap.add_argument("--out", help="metrics JSON")
    ap.add_argument("--dump-scores", help="torch file of per-sentence score maps")
    args = ap.parse_args(argv)
    setup_cli_logging(args.log_level)
    cfg = load_temporal_config(args.config, run_overrides(args))
    metrics = evaluate_checkpoint(cfg, args.weights, args.out, args.dump_scores,
                                  skip_missing=True if args.skip_missing else None,
                                  progress=not args.no_progress)
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
