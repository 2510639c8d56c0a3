#!/usr/bin/env python
"""Train the temporal stage (MMN).

    python tools/train_temporal.py --config configs/temporal/charades.yaml [KEY VALUE ...] [--resume]
    torchrun --nproc_per_node 4 tools/train_temporal.py --config C [KEY VALUE ...]

Every path is a KEY VALUE override: DATASET.TRAIN_ANN, DATASET.VAL_ANN, DATASET.TEST_ANN,
DATASET.FEATURES, OUTPUT_DIR, MODEL.TEXT_ENCODER, MODEL.TOKENIZER. Writes OUTPUT_DIR/config.yaml,
last.pth (every epoch), best.pth, history.json, train.log. --resume continues from OUTPUT_DIR/last.pth.
"""
import argparse
import json
import sys

from stvg.config import ConfigError
from temporal.defaults import get_temporal_cfg
from temporal.engine import train
from stvg.engine import setup_cli_logging


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="YAML file, e.g. configs/temporal/charades.yaml")
    ap.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last.pth")
    ap.add_argument("--skip-missing", action="store_true",
                    help="skip videos absent from the feature file (same as DATASET.SKIP_MISSING True)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("overrides", nargs="*", help="KEY VALUE pairs, e.g. SOLVER.LR 1e-4")
    args = ap.parse_args(argv)
    rank0 = setup_cli_logging()
    overrides = list(args.overrides) + (["DATASET.SKIP_MISSING", "True"] if args.skip_missing else [])
    try:
        cfg = get_temporal_cfg(args.config, overrides)
        summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    except (ConfigError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if rank0:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
