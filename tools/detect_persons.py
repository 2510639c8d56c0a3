"""Detect people in every video of a folder into the per-setting detection cache (sharded, resumable).

    python tools/detect_persons.py --videos data/hcstvg/videos --cache-dir cache/detections \
        [--config configs/spatial/hog.yaml] [--num-shards 4 --shard 0] [KEY VALUE ...]
    torchrun --nproc_per_node 4 tools/detect_persons.py --videos ... --cache-dir ...   # one shard per rank

Video ids are the file names without extension. Rerunning skips finished videos and resumes
half-done ones; unreadable videos are listed in the cache folder's failures.shard<i>.json.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spatial.defaults import detector_options, load_spatial_config  # noqa: E402
from spatial.detectors import build_detector  # noqa: E402
from spatial.run import detect_dataset  # noqa: E402

VIDEO_EXT = (".mp4", ".avi", ".mkv", ".webm", ".mov")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", required=True, help="folder of videos (id = file name without extension)")
    ap.add_argument("--cache-dir", help="cache root (default: the config's DETECTION.CACHE_DIR)")
    ap.add_argument("--config", help="spatial YAML config (default: built-in defaults)")
    ap.add_argument("--num-shards", type=int)
    ap.add_argument("--shard", type=int)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("overrides", nargs="*", help="config overrides: KEY VALUE ...")
    args = ap.parse_args(argv)
    cfg = load_spatial_config(args.config, args.overrides)
    cache_root = args.cache_dir or cfg.DETECTION.CACHE_DIR
    if not cache_root:
        ap.error("give --cache-dir or DETECTION.CACHE_DIR")
    if not os.path.isdir(args.videos):
        ap.error(f"not a folder: {args.videos}")
    videos = {os.path.splitext(f)[0]: os.path.join(args.videos, f) for f in sorted(os.listdir(args.videos))
              if f.lower().endswith(VIDEO_EXT)}
    if not videos:
        ap.error(f"no videos ({', '.join(VIDEO_EXT)}) in {args.videos}")
    name, opts = detector_options(cfg.DETECTOR)
    detector = build_detector(name, **opts)
    summary = detect_dataset(videos, detector, cache_root, stride=cfg.DETECTION.STRIDE,
                             num_shards=args.num_shards, shard=args.shard, progress=not args.no_progress)
    cfg.dump(os.path.join(summary.cache_dir, f"config.shard{summary.shard}.yaml"))
    print(summary.message())
    return 0


if __name__ == "__main__":
    sys.exit(main())
