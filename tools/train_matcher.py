#!/usr/bin/env python
"""Train the spatial stage's tube matcher (docs/matcher.md).

    python tools/train_matcher.py --config configs/spatial/matcher_synthetic.yaml [KEY VALUE ...] [--resume]
    torchrun --nproc_per_node 4 tools/train_matcher.py --config configs/spatial/matcher_hcstvg.yaml

Inputs are KEY VALUE overrides: DATASET.TRAIN_ANN, DATASET.VAL_ANN (HC-STVG format), DATASET.TUBES
(folder of tube files from tools/build_tubes.py), DATASET.FEATURES (tools/extract_features.py --tubes),
OUTPUT_DIR. Writes OUTPUT_DIR/config.yaml, last.pth (every epoch), best.pth, history.json, train.log;
the log and the history give the share of training sentences with a positive tube (the ceiling).
--resume continues from OUTPUT_DIR/last.pth.
"""
import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from spatial.matcher import load_matcher_config  # noqa: E402
from spatial.matcher.train import train  # noqa: E402
from stvg.config import ConfigError  # noqa: E402
from stvg.engine import setup_cli_logging  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="YAML file, e.g. configs/spatial/matcher_synthetic.yaml")
    ap.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last.pth")
    ap.add_argument("--skip-missing", action="store_true", help="skip videos absent from the feature file")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ap.add_argument("overrides", nargs="*", help="KEY VALUE pairs, e.g. SOLVER.LR 1e-4")
    args = ap.parse_args(argv)
    rank0 = setup_cli_logging()
    overrides = list(args.overrides) + (["DATASET.SKIP_MISSING", "True"] if args.skip_missing else [])
    try:
        cfg = load_matcher_config(args.config, overrides)
        summary = train(cfg, resume=args.resume, progress=not args.no_progress)
    except (ConfigError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if rank0:
        print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
