#!/usr/bin/env python
"""Train the temporal stage (MMN).

    python tools/train_temporal.py --config configs/temporal/charades.yaml [KEY VALUE ...] [--resume]
    torchrun --nproc_per_node 4 tools/train_temporal.py --config C [KEY VALUE ...]

Every path is a KEY VALUE override: DATASET.TRAIN_ANN, DATASET.VAL_ANN, DATASET.TEST_ANN,
DATASET.FEATURES, OUTPUT_DIR, MODEL.TEXT_ENCODER, MODEL.TOKENIZER. Writes OUTPUT_DIR/config.yaml,
last.pth (every epoch), best.pth (model only), history.json, train.log. --resume continues from
OUTPUT_DIR/last.pth (from epoch 1 when the run was killed before writing one). --device overrides
DEVICE (checked first). Exit codes: 0 trained, 2 bad input or config, or OUTPUT_DIR in use by
another run (train() holds OUTPUT_DIR.lock while training).
A CPU-sized config to try the stage on a laptop: configs/temporal/synthetic.yaml.
"""
import json
import sys

from stvg.cli import add_run_options, run_overrides, RESUMES_WITH_FLAG, tool_main, tool_parser
from stvg.engine import setup_cli_logging
from temporal.defaults import load_temporal_config
from temporal.engine import train


@tool_main(interrupted=RESUMES_WITH_FLAG)
def main(argv=None) -> int:
    args = add_run_options(tool_parser(__doc__, config_required=True), resume=True).parse_args(argv)
    rank0 = setup_cli_logging(args.log_level)
    cfg = load_temporal_config(args.config, run_overrides(args))
    summary = train(cfg, resume=args.resume, progress=not args.no_progress)  # holds OUTPUT_DIR.lock
    if rank0:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
