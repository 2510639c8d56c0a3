#!/usr/bin/env python
"""Convert a checkpoint of the reference MMN implementation into ours.

    python tools/convert_mmn_checkpoint.py --src REF.pth --config configs/temporal/charades.yaml --out OURS.pth [KEY VALUE ...]

Builds the model of the config with a randomly initialised library-default DistilBERT (offline:
MODEL.TEXT_ENCODER_PRETRAINED False is applied before the config's own overrides), maps the
reference keys onto ours, loads strictly (missing / unexpected keys and shape mismatches are
reported and fail), and writes ``{"model", "config", "converted_from"}`` atomically.
Exit codes: 0 converted, 2 bad input (stvg.cli).
"""
from __future__ import annotations

import sys

from stvg.cli import tool_main, tool_parser
from temporal.checkpoint_import import OFFLINE_TEXT_OVERRIDES, convert_reference_checkpoint
from temporal.defaults import load_temporal_config


@tool_main
def main(argv=None) -> int:
    p = tool_parser(__doc__, config_required=True, device=False)
    p.add_argument("--src", required=True, help="reference checkpoint ({'model': state_dict})")
    p.add_argument("--out", required=True, help="output checkpoint path")
    args = p.parse_args(argv)
    cfg = load_temporal_config(args.config, OFFLINE_TEXT_OVERRIDES + list(args.overrides))
    report = convert_reference_checkpoint(args.src, cfg, args.out)
    print(report.summary())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
