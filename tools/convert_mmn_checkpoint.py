#!/usr/bin/env python
"""Convert a checkpoint of the reference MMN implementation into ours.

    python tools/convert_mmn_checkpoint.py --src REF.pth --config configs/temporal/charades.yaml --out OURS.pth [KEY VALUE ...]

Builds the model of the config with a randomly initialised library-default DistilBERT (offline:
MODEL.TEXT_ENCODER_PRETRAINED False is applied before the config's own overrides), maps the
reference keys onto ours, loads strictly (missing / unexpected keys and shape mismatches are
reported and fail), and writes ``{"model", "config", "converted_from"}`` atomically.
"""
from __future__ import annotations

import argparse
import sys

from stvg.config import ConfigError
from temporal.checkpoint_import import OFFLINE_TEXT_OVERRIDES, CheckpointMismatchError, convert_reference_checkpoint
from temporal.defaults import get_temporal_cfg


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--src", required=True, help="reference checkpoint ({'model': state_dict})")
    p.add_argument("--config", required=True, help="temporal config the checkpoint was trained with")
    p.add_argument("--out", required=True, help="output checkpoint path")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    args = p.parse_args(argv)
    try:
        cfg = get_temporal_cfg(args.config, OFFLINE_TEXT_OVERRIDES + list(args.opts))
        report = convert_reference_checkpoint(args.src, cfg, args.out)
    except (CheckpointMismatchError, ConfigError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
