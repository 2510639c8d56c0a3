#!/usr/bin/env python
"""Extract clip features of many videos into one HDF5 file (see docs/features.md).

    python tools/extract_features.py --videos DIR --out feats.h5 --config configs/features/hcstvg_r2plus1d.yaml
    python tools/extract_features.py --ann test.json --video-dir DIR --out feats.h5 [KEY VALUE ...]
    python tools/extract_features.py --videos DIR --tubes TUBES_DIR --out feats.h5 \
        --config configs/features/hcstvg_resnet18.yaml        # + RoI features of each tube
    torchrun --nproc_per_node 8 tools/extract_features.py ...        # or --num-shards K --shard I

Re-running resumes; the exit status is 1 when some videos could not be read (listed in
OUT.failures.json), 2 on a usage or config error.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", metavar="DIR", help="extract every video file in DIR (id = file name)")
    src.add_argument("--ann", metavar="FILE", help="HC-STVG annotation file: extract its video ids")
    p.add_argument("--video-dir", metavar="DIR", help="folder of the videos named in --ann")
    p.add_argument("--out", required=True, help="output HDF5 file")
    p.add_argument("--config", help="YAML config (configs/features/*.yaml); defaults otherwise")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda if available; "
                   "under torchrun, cuda:LOCAL_RANK)")
    p.add_argument("--num-shards", type=int, help="split the videos into this many shares ...")
    p.add_argument("--shard", type=int, help="... and extract this one (0-based)")
    p.add_argument("--tubes", metavar="DIR", help="folder of tube files written by tools/build_tubes.py "
                   "--out (one JSON per video); their RoI features are stored as roi_features [N, S, C] "
                   "(needs a 2D backbone, e.g. resnet18)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="KEY VALUE", help="config overrides, e.g. RUN.NUM_WORKERS 4")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from stvg.config import ConfigError
    from stvg.features import (extract_features, load_features_config, videos_from_annotation,
                               videos_in_folder)
    try:
        cfg = load_features_config(args.config, args.overrides)
        exts = cfg.RUN.VIDEO_EXTENSIONS
        if args.ann:
            if not args.video_dir:
                p.error("--ann needs --video-dir")
            videos = videos_from_annotation(args.ann, args.video_dir, exts)
        else:
            videos = videos_in_folder(args.videos, exts)
        tubes = None if args.tubes is None else tubes_by_video(args.tubes, [vid for vid, _ in videos])
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    device = args.device
    if device is None:
        local = os.environ.get("LOCAL_RANK")
        device = (f"cuda:{local}" if local is not None else "cuda") if torch.cuda.is_available() else "cpu"
    try:
        summary = extract_features(videos, args.out, cfg, device=device, num_shards=args.num_shards,
                                   shard=args.shard, tubes=tubes, progress=not args.no_progress)
    except (ConfigError, ValueError, OSError) as e:  # settings differ from the parts, bad shard, ...
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary.message())
    failed = summary.all_failures or summary.failures
    if failed:
        print(f"error: {len(failed)} video(s) failed", file=sys.stderr)
        return 1
    return 0


def tubes_by_video(folder: str, video_ids) -> dict:
    """Tube files in ``folder`` -> ``{extraction video id: [Tube]}``. A file's ``video_id`` matches a
    video id either exactly or without its extension (build_tubes names videos by file stem)."""
    from spatial.tubes import read_tubes_json

    if not os.path.isdir(folder):
        raise FileNotFoundError(f"tube folder not found: {folder}")
    by_file_id = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".json"):
            result = read_tubes_json(os.path.join(folder, name))
            by_file_id[result.video_id] = result.tubes
    out = {}
    for vid in video_ids:
        for key in (vid, os.path.splitext(vid)[0]):
            if key in by_file_id:
                out[vid] = by_file_id[key]
                break
    if by_file_id and not out:
        raise ValueError(f"no tube file in {folder} matches any video id (e.g. {sorted(by_file_id)[:3]})")
    return out


if __name__ == "__main__":
    sys.exit(main())
