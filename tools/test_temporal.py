#!/usr/bin/env python
"""Test a temporal (MMN) checkpoint on DATASET.TEST_ANN: R@n,IoU@m at TEST.IOU_THRESHOLDS.

    python tools/test_temporal.py --config C --weights W [--out metrics.json] [--dump-scores S.pt]
        [--skip-missing] [KEY VALUE ...]

--out writes {"R@1,IoU@0.5": fraction, ...}; --dump-scores writes a torch dict
"<video_id>/<k>" -> FloatTensor[N, N] of final test scores (k = index of the sentence in its video's
annotation list; 0 outside the valid mask). The resolved config is written next to the outputs.
"""
import argparse
import json
import sys

from stvg.config import ConfigError
from temporal.defaults import get_temporal_cfg
from temporal.engine import evaluate_checkpoint
from stvg.engine import setup_cli_logging


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--weights", required=True, help="checkpoint from train_temporal.py or convert_mmn_checkpoint.py")
    ap.add_argument("--out", help="metrics JSON")
    ap.add_argument("--dump-scores", help="torch file of per-sentence score maps")
    ap.add_argument("--skip-missing", action="store_true", help="skip videos absent from the feature file")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", help="KEY VALUE pairs")
    args = ap.parse_args(argv)
    setup_cli_logging()
    try:
        cfg = get_temporal_cfg(args.config, args.overrides)
        metrics = evaluate_checkpoint(cfg, args.weights, args.out, args.dump_scores,
                                  skip_missing=True if args.skip_missing else None,
                                  progress=not args.no_progress)
    except (ConfigError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
