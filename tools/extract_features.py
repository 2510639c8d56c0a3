#!/usr/bin/env python
"""Extract clip features of many videos into one HDF5 file (see docs/features.md).

    python tools/extract_features.py --videos DIR --out feats.h5 --config configs/features/hcstvg_r2plus1d.yaml
    python tools/extract_features.py --ann test.json --video-dir DIR --out feats.h5 [KEY VALUE ...]
    python tools/extract_features.py --videos DIR --tubes TUBES_DIR --out feats.h5 \
        --config configs/features/hcstvg_resnet18.yaml        # + RoI features of each tube
    torchrun --nproc_per_node 8 tools/extract_features.py ...        # or --num-shards K --shard I

Re-running resumes; the exit status is 1 when some videos could not be read (listed in
OUT.failures.json), 2 on a usage or config error. --salvage reads the decodable start of a file
cut short (the summary and the video's ``salvaged`` attribute say how much was kept). Progress:
videos with an ETA, and frames within the video in hand (on a terminal a bar, in a log a line every
STVG_PROGRESS_LOG_SECONDS, default 30); --no-progress silences it.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from stvg.cli import add_salvage_option, RESUMES, tool_main


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", metavar="DIR", help="extract every video file in DIR, or one video file (id = file name)")
    src.add_argument("--ann", metavar="FILE", help="HC-STVG annotation file: extract its video ids")
    p.add_argument("--video-dir", metavar="DIR", help="folder of the videos named in --ann")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--config", help="YAML config (configs/features/*.yaml); defaults otherwise")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ... (auto: cuda if available; "
                   "under torchrun, cuda:LOCAL_RANK)")
    p.add_argument("--num-shards", type=int, help="split the videos into this many shares ...")
    p.add_argument("--shard", type=int, help="... and extract this one (0-based)")
    p.add_argument("--tubes", metavar="DIR", help="folder of tube files (tools/build_tubes.py --out-dir, or "
                   "--out per video), matched by video id; their RoI features are stored as roi_features "
                   "[N, S, C] (needs a 2D backbone, e.g. resnet18)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_salvage_option(p)
    p.add_argument("overrides", nargs="*", metavar="KEY VALUE", help="config overrides, e.g. RUN.NUM_WORKERS 4")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from stvg.cli import ToolExit, check_output_path, job_exit_code
    from stvg.config import ConfigError
    from stvg.data import select_videos
    from stvg.engine import DeviceError, resolve_device
    from stvg.features import extract_features, load_features_config
    from stvg.video import salvaging
    try:
        check_output_path(args.out, "--out")  # before any work: not a folder, not under a file
        cfg = load_features_config(args.config, args.overrides)
        videos = select_videos(args.videos, args.ann, args.video_dir)  # a folder, one file, or --ann
        tubes = None
        if args.tubes is not None:
            from spatial.tubes import read_tube_folder
            tubes = read_tube_folder(args.tubes, [vid for vid, _ in videos])
        device = resolve_device(args.device, int(os.environ.get("LOCAL_RANK", "0")))
    except (ConfigError, DeviceError, OSError, ValueError, ToolExit) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with salvaging(args.salvage) as salvaged:
            summary = extract_features(videos, args.out, cfg, device=device, num_shards=args.num_shards,
                                       shard=args.shard, tubes=tubes, progress=not args.no_progress)
    except (ConfigError, ValueError, OSError) as e:  # settings differ from the parts, bad shard, ...
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary.message())
    if salvaged:
        print(salvaged.message())
    return job_exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
