"""Detect people in every video of a folder or an annotation file into the per-setting detection
cache (sharded, resumable).

    python tools/detect_persons.py --videos data/hcstvg/videos --cache-dir cache/detections \
        [--config configs/spatial/hcstvg_torchvision.yaml] [--num-shards 4 --shard 0] [KEY VALUE ...]
    python tools/detect_persons.py --ann data/hcstvg/test.json --video-dir data/hcstvg/videos --cache-dir ...
    torchrun --nproc_per_node 4 tools/detect_persons.py --videos ... --cache-dir ...   # one shard per rank

Video ids are the file names with extension (the annotation keys). Rerunning skips finished videos
and resumes half-done ones. Exit status: 0 done; 1 some videos failed (listed in
<cache dir>/<detector>-<key>.failures.json); 2 bad input or config.
"""
from __future__ import annotations

import os
import sys

from stvg.cli import add_salvage_option, job_exit_code, RESUMES, tool_main, tool_parser


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    ap = tool_parser(__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--videos", metavar="DIR", help="every video file in DIR, or one video file (id = file name)")
    src.add_argument("--ann", metavar="FILE", help="the videos of an HC-STVG annotation file ...")
    ap.add_argument("--video-dir", metavar="DIR", help="... found in this folder")
    ap.add_argument("--cache-dir", help="cache root (default: the config's DETECTION.CACHE_DIR)")
    ap.add_argument("--num-shards", type=int)
    ap.add_argument("--shard", type=int)
    ap.add_argument("--no-progress", action="store_true")
    add_salvage_option(ap)
    args = ap.parse_args(argv)

    from spatial.defaults import load_spatial_config
    from spatial.run import detect_dataset
    from spatial.tubes import detector_from_config
    from stvg.config import ConfigError
    from stvg.data import select_videos

    overrides = list(args.overrides) + (["DETECTOR.DEVICE", args.device] if args.device != "auto" else [])
    try:
        cfg = load_spatial_config(args.config, overrides)
        cache_root = args.cache_dir or cfg.DETECTION.CACHE_DIR
        if not cache_root:
            raise ValueError("give --cache-dir or DETECTION.CACHE_DIR")
        videos = dict(select_videos(args.videos, args.ann, args.video_dir))
        detector = detector_from_config(cfg)
        from stvg.video import salvaging
        with salvaging(args.salvage) as salvaged:
            summary = detect_dataset(videos, detector, cache_root, stride=cfg.DETECTION.STRIDE,
                                     num_shards=args.num_shards, shard=args.shard, progress=not args.no_progress)
    except (ConfigError, FileNotFoundError, ValueError) as e:  # ImportError: tool_main names the package
        print(f"error: {e}", file=sys.stderr)
        return 2
    cfg.dump(os.path.join(summary.out, f"config.shard{summary.shard}.yaml"))
    print(summary.message())
    if salvaged:
        print(salvaged.message())
    return job_exit_code(summary)


if __name__ == "__main__":
    sys.exit(main())
