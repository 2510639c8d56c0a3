#!/usr/bin/env python
"""Assemble the one model file of the pipeline from trained runs (docs/pipeline.md).

    python tools/make_model_file.py --temporal runs/temporal --matcher runs/matcher \\
        --features-config configs/features/synthetic_resnet18.yaml \\
        --spatial-config configs/spatial/synthetic_hog.yaml --out models/model.pth \\
        [--join TUBE_COVERAGE cut --join TOP_MOMENTS 5] [--clip-seconds 20] [--store-backbone] [--half]
    python tools/make_model_file.py --mode tube_mmn --temporal runs/tube_mmn \\
        --features-config ... --spatial-config ... --out models/tube_mmn.pth [--join NMS_THRESH 0.5]

--mode: two_stage (default: a moment-mode MMN run and a matcher run) or tube_mmn (a tube-mode MMN
run, MODEL.MODE tube, alone: no --matcher, no --clip-seconds; only the join option NMS_THRESH
applies, to its alternatives). --temporal / --matcher: a run folder (its best.pth, else
last.pth) or a checkpoint file. The feature and spatial configs are the settings the runs were
trained on (the same files given to tools/extract_features.py and tools/build_tubes.py);
--features-opts / --spatial-opts KEY VALUE change single keys. --clip-seconds: the temporal
model's training clip length (default: the median duration of its training annotations). Frozen
pretrained text encoders are recorded by name and fingerprint, not stored; --half stores weights
in float16. The file records where each part came from (path, sha256, epoch, metrics).

Exit status: 0 written; 2 bad input (missing run, configs that do not fit, stages that disagree).
"""
from __future__ import annotations

import argparse
import os
import sys


from stvg.cli import check_output_suffix, fail, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    ap = tool_parser(__doc__, config=False, overrides=False, device=False)
    ap.add_argument("--mode", choices=("two_stage", "tube_mmn"), default="two_stage", help="pipeline mode")
    ap.add_argument("--temporal", required=True, help="temporal (MMN) run folder or checkpoint")
    ap.add_argument("--matcher", default=None, help="matcher run folder or checkpoint (two_stage only)")
    ap.add_argument("--features-config", default=None, help="feature-extraction YAML (configs/features/)")
    ap.add_argument("--spatial-config", default=None, help="spatial YAML (configs/spatial/)")
    ap.add_argument("--features-opts", nargs="*", default=[], metavar="KEY VALUE")
    ap.add_argument("--spatial-opts", nargs="*", default=[], metavar="KEY VALUE")
    ap.add_argument("--join", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="a join option (stvg.join.JOIN_DEFAULTS), repeatable")
    ap.add_argument("--clip-seconds", type=float, default=None, help="temporal training clip length (s)")
    ap.add_argument("--store-backbone", action="store_true",
                    help="store the backbone weights even when they can be rebuilt by name or seed")
    ap.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    ap.add_argument("--out", required=True, help="model file to write (.pth)")
    return ap.parse_args(argv)


@tool_main
def main(argv=None) -> int:
    a = parse_args(argv)
    import torch

    from spatial.defaults import load_spatial_config
    from stvg.checkpoint import CheckpointError
    from stvg.config import ConfigError
    from stvg.features import load_features_config
    from stvg.join import join_config
    from stvg.model_file import describe, write_model_file
    from stvg.pipeline import assemble_model_file

    for what, path in (("temporal", a.temporal), ("matcher", a.matcher)):  # the runs first: the main input
        if path is not None and not os.path.exists(path):
            fail(f"--{what}: {what} run folder or checkpoint not found: {path}")
    check_output_suffix(a.out, (".pth", ".pt"), "--out")
    try:
        join = join_config(overrides=[x for pair in a.join for x in pair], source="--join").to_dict()
        fcfg = load_features_config(a.features_config, a.features_opts)
        scfg = load_spatial_config(a.spatial_config, a.spatial_opts)
        sources = {}
        for key, path in (("features_config", a.features_config), ("spatial_config", a.spatial_config)):
            if path:
                from stvg.model_file import file_sha256
                sources[key] = {"path": os.path.abspath(path), "sha256": file_sha256(path)}
        data = assemble_model_file(a.temporal, a.matcher, fcfg, scfg, join, clip_seconds=a.clip_seconds,
                                   store_backbone=a.store_backbone, dtype=torch.float16 if a.half else None,
                                   sources=sources, mode=a.mode)
        write_model_file(a.out, data)
    except (ConfigError, CheckpointError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    size = os.path.getsize(a.out) / 2 ** 20
    print(f"wrote {a.out} ({size:.1f} MiB)\n{describe(data)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
