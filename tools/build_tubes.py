#!/usr/bin/env python
"""Person tubes: detect people, link them into tubes, write one tube JSON per video.

One video (prints the tubes; optional tube file and contact sheet):
    python tools/build_tubes.py --video clip.mp4 --out tubes.json --vis sheet.png
    python tools/build_tubes.py --video clip.mp4 --detector torchvision --stride 2 --device cuda \
        DETECTOR.TORCHVISION.MODEL fasterrcnn_mobilenet_v3_large_fpn

A whole dataset (one OUT_DIR/<video id>.json per video; sharded, resumable, failures listed):
    python tools/build_tubes.py --ann test.json --video-dir videos/ --out-dir tubes/ --cache-dir cache/det
    python tools/build_tubes.py --videos videos/ --out-dir tubes/ [--num-shards 4 --shard 0]
    torchrun --nproc_per_node 4 tools/build_tubes.py --videos videos/ --out-dir tubes/ ...  # a shard per rank

Video ids are the file names with extension (the annotation keys). With a detection cache
(``--cache-dir`` or DETECTION.CACHE_DIR, e.g. filled by tools/detect_persons.py), cached detections
are reused and missing ones detected and cached; a dataset run without one caches next to its
output (``OUT_DIR.detections``). Options not given here are set with ``--config FILE`` (see
configs/spatial/) and trailing ``KEY VALUE`` overrides; the resolved config is written
next to ``--out`` (``<out>.config.yaml``) or into ``--out-dir`` (``config.yaml``).
Exit status: 0 done; 1 some videos failed (listed in OUT_DIR.failures.json); 2 bad input or config.
"""
from __future__ import annotations

import argparse
import os
import sys

from stvg.cli import add_salvage_option, check_output_suffix, fail, job_exit_code, RESUMES, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    ap = tool_parser(__doc__)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="one video file")
    src.add_argument("--videos", metavar="DIR", help="every video file in DIR, or one video file (needs --out-dir)")
    src.add_argument("--ann", metavar="FILE", help="the videos of an HC-STVG annotation file (needs "
                     "--video-dir and --out-dir)")
    ap.add_argument("--video-dir", metavar="DIR", help="folder of the videos named in --ann")
    ap.add_argument("--detector", default=None, help="hog | torchvision | detectron2 | precomputed")
    ap.add_argument("--stride", type=int, default=None, help="detect every STRIDE-th frame")
    ap.add_argument("--cache-dir", default=None, help="detection cache folder (resumes, reuses)")
    ap.add_argument("--video-id", default=None, help="--video: id in the output (default: the file name)")
    ap.add_argument("--out", default=None, help="--video: tube JSON to write")
    ap.add_argument("--vis", default=None, help="--video: contact sheet image to write (.png/.jpg)")
    ap.add_argument("--vis-frames", type=int, default=12, help="frames on the contact sheet")
    ap.add_argument("--vis-cols", type=int, default=4)
    ap.add_argument("--out-dir", default=None, help="--videos/--ann: folder of the tube files")
    ap.add_argument("--num-shards", type=int, help="--videos/--ann: split the videos into this many shares ...")
    ap.add_argument("--shard", type=int, help="... and build this one (0-based)")
    ap.add_argument("--no-progress", action="store_true")
    add_salvage_option(ap)
    a = ap.parse_args(argv)
    one = {"--out": a.out, "--vis": a.vis, "--video-id": a.video_id}
    many = {"--out-dir": a.out_dir, "--num-shards": a.num_shards, "--shard": a.shard}
    wrong = [k for k, v in (many if a.video else one).items() if v is not None]
    if wrong:
        ap.error(f"{', '.join(wrong)} cannot be used with {'--video' if a.video else '--videos/--ann'}")
    if not a.video and a.out_dir is None:
        ap.error("--videos/--ann need --out-dir")
    return a


@tool_main(interrupted=RESUMES)
def main(argv=None) -> int:
    a = parse_args(argv)
    check_output_suffix(a.out, (".json",), "--out")  # outputs checked before any work
    check_output_suffix(a.vis, (".png", ".jpg", ".jpeg"), "--vis")
    if a.out_dir is not None and os.path.exists(a.out_dir) and not os.path.isdir(a.out_dir):
        fail(f"--out-dir {a.out_dir} exists and is not a folder")
    from spatial.defaults import load_spatial_config

    overrides = list(a.overrides)
    cache = a.cache_dir if a.cache_dir is not None or a.video else None
    for key, val in (("DETECTOR.NAME", a.detector), ("DETECTION.STRIDE", a.stride),
                     ("DETECTOR.DEVICE", None if a.device == "auto" else a.device), ("DETECTION.CACHE_DIR", cache)):
        if val is not None:
            overrides += [key, str(val)]
    from stvg.video import salvaging

    cfg = load_spatial_config(a.config, overrides)  # an ImportError (a backend not installed): tool_main
    if not a.video and not cfg.DETECTION.CACHE_DIR:  # a dataset run caches next to its output
        cfg = load_spatial_config(a.config, overrides + ["DETECTION.CACHE_DIR", a.out_dir.rstrip("/\\") + ".detections"])
    with salvaging(a.salvage) as salvaged:
        code = one_video(a, cfg) if a.video else dataset(a, cfg)
    if salvaged:
        print(salvaged.message())
    return code


def dataset(a: argparse.Namespace, cfg) -> int:
    from spatial.run import build_dataset_tubes
    from stvg.data import select_videos

    videos = dict(select_videos(a.videos, a.ann, a.video_dir))
    summary = build_dataset_tubes(videos, cfg, a.out_dir, num_shards=a.num_shards, shard=a.shard,
                                  progress=not a.no_progress)
    print(summary.message())
    return job_exit_code(summary)


def one_video(a: argparse.Namespace, cfg) -> int:
    from spatial.tubes import build_video_tubes, write_tubes_json

    result = build_video_tubes(a.video, cfg, a.video_id, progress=not a.no_progress)
    rep = result.report
    print(f"{result.video_id}: {result.num_frames} frames {result.width}x{result.height} @ {result.fps:g} fps; "
          f"{rep['num_detections']} detections on {rep['num_frames']} frames -> {len(result.tubes)} tubes "
          f"({rep['num_short']} short tracks dropped, {rep['num_suppressed']} duplicates suppressed, "
          f"{rep['num_nonfinite']} non-finite boxes dropped)")
    for i, t in enumerate(result.tubes[:10]):
        print(f"  tube {i}: frames {t.start_frame}..{t.end_frame}  score {t.score:.3f}")
    if not result.tubes:
        print(f"  no tube: {rep['no_tubes_reason']}")
    if a.out:
        write_tubes_json(a.out, result)
        cfg.dump(a.out + ".config.yaml")
        print(f"wrote {a.out}")
    if a.vis:
        from stvg.video import VideoReader
        from stvg.visualize import contact_sheet, save_image, sheet_frames

        reader = VideoReader(a.video)
        n = max(1, min(a.vis_frames, reader.num_frames))
        idx = sheet_frames(0, reader.num_frames - 1, n)
        save_image(a.vis, contact_sheet(reader.get_frames(idx), idx.tolist(), result.tubes, cols=a.vis_cols))
        print(f"wrote {a.vis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
