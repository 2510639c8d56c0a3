#!/usr/bin/env python
"""Detect people in one video, link them into tubes, write the tubes (JSON) and a contact sheet.

    python tools/build_tubes.py --video clip.mp4 --out tubes.json --vis sheet.png
    python tools/build_tubes.py --video clip.mp4 --detector torchvision --stride 2 --device cuda \
        --opts DETECTOR.TORCHVISION.MODEL fasterrcnn_mobilenet_v3_large_fpn

Options not given here are set with ``--config FILE`` (see configs/spatial/) and ``--opts KEY VALUE``;
the resolved config is written next to ``--out`` as ``<out>.config.yaml``.
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from spatial.defaults import load_spatial_config  # noqa: E402
from spatial.tubes import build_video_tubes, write_tubes_json  # noqa: E402
from stvg.config import ConfigError  # noqa: E402
from stvg.video import VideoReadError  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", required=True, help="video file")
    ap.add_argument("--config", default=None, help="spatial YAML config (configs/spatial/*.yaml)")
    ap.add_argument("--detector", default=None, help="hog | torchvision | detectron2 | precomputed")
    ap.add_argument("--stride", type=int, default=None, help="detect every STRIDE-th frame")
    ap.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--cache-dir", default=None, help="detection cache folder (resumes, reuses)")
    ap.add_argument("--video-id", default=None, help="id in the output (default: file name stem)")
    ap.add_argument("--out", default=None, help="tube JSON to write")
    ap.add_argument("--vis", default=None, help="contact sheet image to write (.png/.jpg)")
    ap.add_argument("--vis-frames", type=int, default=12, help="frames on the contact sheet")
    ap.add_argument("--vis-cols", type=int, default=4)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--opts", nargs="*", default=[], help="KEY VALUE config overrides")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    overrides = list(a.opts)
    for key, val in (("DETECTOR.NAME", a.detector), ("DETECTION.STRIDE", a.stride),
                     ("DETECTOR.DEVICE", a.device), ("DETECTION.CACHE_DIR", a.cache_dir)):
        if val is not None:
            overrides += [key, str(val)]
    try:
        cfg = load_spatial_config(a.config, overrides)
        result = build_video_tubes(a.video, cfg, a.video_id, progress=not a.no_progress)
    except (ConfigError, FileNotFoundError, VideoReadError, ValueError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    rep = result.report
    print(f"{result.video_id}: {result.num_frames} frames {result.width}x{result.height} @ {result.fps:g} fps; "
          f"{rep['num_detections']} detections on {rep['num_frames']} frames -> {len(result.tubes)} tubes "
          f"({rep['num_short']} short tracks dropped, {rep['num_suppressed']} duplicates suppressed, "
          f"{rep['num_nonfinite']} non-finite boxes dropped)")
    for i, t in enumerate(result.tubes[:10]):
        print(f"  tube {i}: frames {t.start_frame}..{t.end_frame}  score {t.score:.3f}")
    if a.out:
        write_tubes_json(a.out, result)
        cfg.dump(a.out + ".config.yaml")
        print(f"wrote {a.out}")
    if a.vis:
        import numpy as np

        from stvg.video import VideoReader
        from stvg.visualize import contact_sheet, save_image

        reader = VideoReader(a.video)
        n = max(1, min(a.vis_frames, reader.num_frames))
        idx = np.unique(np.linspace(0, reader.num_frames - 1, n).round().astype(np.int64))
        save_image(a.vis, contact_sheet(reader.get_frames(idx), idx.tolist(), result.tubes, cols=a.vis_cols))
        print(f"wrote {a.vis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
