#!/usr/bin/env python
"""Train the spatial stage's tube matcher (docs/matcher.md).

    python tools/train_matcher.py --config configs/spatial/matcher_synthetic.yaml [KEY VALUE ...] [--resume]
    torchrun --nproc_per_node 4 tools/train_matcher.py --config configs/spatial/matcher_hcstvg.yaml

Inputs are KEY VALUE overrides: DATASET.TRAIN_ANN, DATASET.VAL_ANN (HC-STVG format), DATASET.TUBES
(folder of tube files from tools/build_tubes.py), DATASET.FEATURES (tools/extract_features.py --tubes),
OUTPUT_DIR. Writes OUTPUT_DIR/config.yaml, last.pth (every epoch), best.pth, history.json, train.log;
the log and the history give the share of training sentences with a positive tube (the ceiling).
--resume continues from OUTPUT_DIR/last.pth (from epoch 1 when the run was killed before
writing one); --device overrides DEVICE (checked first). Exit codes: 0 trained, 2 bad input or
config, or OUTPUT_DIR in use by another run (train() holds OUTPUT_DIR.lock while training).
"""
import json
import sys

from spatial.matcher import load_matcher_config
from spatial.matcher.train import train
from stvg.cli import add_run_options, run_overrides, RESUMES_WITH_FLAG, tool_main, tool_parser
from stvg.engine import setup_cli_logging


@tool_main(interrupted=RESUMES_WITH_FLAG)
def main(argv=None) -> int:
    args = add_run_options(tool_parser(__doc__, config_required=True), resume=True).parse_args(argv)
    rank0 = setup_cli_logging(args.log_level)
    cfg = load_matcher_config(args.config, run_overrides(args))
    summary = train(cfg, resume=args.resume, progress=not args.no_progress)  # holds OUTPUT_DIR.lock
    if rank0:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
