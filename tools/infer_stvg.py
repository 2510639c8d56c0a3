#!/usr/bin/env python
"""Ground a sentence in a video: the person's tube (interval + a box on every frame), with a picture.

    python tools/infer_stvg.py --video clip.mp4 --query "the man in red waves"
    python tools/infer_stvg.py --video movie.mp4 --query "..." --start 60 --end 90 \\
        --out result.json --vis result.mp4 --top-k 5 --device cuda [--model models/stvg_synthetic.pth]

--model defaults to the model file shipped with the project (models/stvg_synthetic.pth: trained on
synthetic data only). --query may be repeated (one decode serves every sentence). --out writes the
result as JSON (0-based frames, x1 y1 x2 y2 pixels, seconds; plus the challenge entry with 1-based
frame numbers). --vis draws the answer: .mp4/.mkv/.gif = the video with the tube, the sentence and
a time bar, and the MMN score map next to it (<name>.scoremap.png); .jpg/.png = frames across the
answer and the score map in one picture. --join KEY VALUE changes a join option (stvg.join).
Both pipeline modes work (the model file's "mode"): two_stage (MMN interval x matched tube) and
tube_mmn (the best cell of one map per candidate tube; its score map is the answer tube's map, and
only the join option NMS_THRESH applies). --salvage grounds in the decodable start of a video file
cut short ("salvaged: kept K of N frames" in the summary and the JSON's "salvaged").

Exit status: 0 done (also when no person was found: the summary says so); 2 bad input (missing or
unreadable video, empty query, bad model file, unavailable device, output of an unknown type).
"""
from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from stvg.cli import add_salvage_option, check_output_suffix, tool_main, tool_parser

DEFAULT_MODEL = os.path.join(REPO, "models", "stvg_synthetic.pth")
VIDEO_OUT = (".mp4", ".mkv", ".gif")
IMAGE_OUT = (".jpg", ".jpeg", ".png")


def parse_args(argv=None) -> argparse.Namespace:
    ap = tool_parser(__doc__, config=False, overrides=False)
    ap.add_argument("--video", required=True, help="video file")
    ap.add_argument("--query", required=True, action="append", help="the sentence (repeatable)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model file (default: the shipped one)")
    ap.add_argument("--out", default=None, help="result JSON to write")
    ap.add_argument("--vis", default=None, help="picture to write: .mp4, .mkv, .gif, .jpg or .png")
    ap.add_argument("--top-k", type=int, default=5, help="alternatives to report")
    ap.add_argument("--start", type=float, default=None, help="ground within [start, end) seconds")
    ap.add_argument("--end", type=float, default=None)
    ap.add_argument("--join", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                    help="join option override, e.g. --join TUBE_COVERAGE cut")
    ap.add_argument("--vis-fps", type=float, default=0.0, help="frames per second of an overlay video "
                    "(0: the video's own for .mp4/.mkv, 5 for .gif)")
    add_salvage_option(ap)
    return ap.parse_args(argv)


def check_outputs(a: argparse.Namespace) -> None:
    """Output paths are checked before any work starts."""
    for path, allowed, what in ((a.out, (".json",), "--out"), (a.vis, VIDEO_OUT + IMAGE_OUT, "--vis")):
        if path is None:
            continue
        check_output_suffix(path, allowed, what)
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise ValueError(f"{what} {path!r}: {parent} is not a directory")
    if a.top_k < 0:
        raise ValueError(f"--top-k must be >= 0, got {a.top_k}")


def summary(r) -> str:
    lines = [f"{r.video_id}: \"{r.query}\""]
    if r.found:
        how = (f"tube-MMN, tube {r.tube_index} of {len(r.candidates)}, cell ({r.cell[0]}, {r.cell[1]})"
               if r.mode == "tube_mmn" else
               f"temporal {r.mmn_score:.3f} x matcher {r.matcher_score:.3f}, tube {r.tube_index} of "
               f"{len(r.candidates)}, coverage {r.coverage:.2f}")
        lines.append(f"  interval {r.segment.start:.2f}-{r.segment.end:.2f} s, frames {r.frames[0]}..{r.frames[1]} "
                     f"(0-based), score {r.score:.4f} ({how})")
    else:
        lines.append(f"  no answer: {r.reason}")
        lines.append(f"  best interval {r.segment.start:.2f}-{r.segment.end:.2f} s, frames {r.frames[0]}..{r.frames[1]}")
    for k, alt in enumerate(r.alternatives, 1):
        lines.append(f"  alternative {k}: {alt.segment.start:.2f}-{alt.segment.end:.2f} s, tube {alt.tube_index}, "
                     f"score {alt.score:.4f}")
    t = r.timings
    stages = " ".join(f"{k} {t[k]:.2f}" for k in ("decode", "detection", "linking", "features", "temporal",
                                                 "matcher", "join", "tube_mmn", "answer") if k in t)
    lines.append(f"  seconds: {stages}; total {t.get('total', 0.0):.2f}")
    return "\n".join(lines)


def draw(path: str, video: str, r, vis_fps: float, salvage: bool = False) -> list:
    """Write the picture(s) of result ``r``; returns the paths written."""
    from stvg.video import VideoReader
    from stvg.visualize import (Timeline, answer_frames, result_score_map, save_image, score_map_image, sheet_frames,
                                stack_images, tile_images, write_overlay)

    reader = VideoReader(video, salvage=salvage)
    timeline = Timeline(reader.duration, pred=r.segment.as_tuple(), section=r.section)
    label = f"score {r.score:.3f}" if r.found else (r.reason or "")[:80]
    if r.mode == "tube_mmn":  # the answer tube's own map (no map without a tube)
        k = r.tube_index
        smap = (score_map_image(r.score_map[k], r.score_mask, pred_cell=r.cell, window=r.windows[k],
                                title=f"tube {k} score map: {r.query[:36]}") if r.found else None)
    else:
        smap = result_score_map(r.score_map, r.score_mask, r.windows, r.segment.as_tuple(),
                                title=f"MMN score map: {r.query[:40]}")
    ext = os.path.splitext(path)[1].lower()
    s0, s1 = r.section
    if ext in VIDEO_OUT:
        fps = vis_fps or (5.0 if ext == ".gif" else reader.fps)
        idx = reader.sample_indices(min(fps, reader.fps), s0, s1)
        frames = answer_frames(reader.get_frames(idx), idx.tolist(), reader.fps, r.tube, None, r.query, timeline, label,
                               max_width=480 if ext == ".gif" else 0)
        write_overlay(path, frames, min(fps, reader.fps))
        if smap is None:
            return [path]
        side = os.path.splitext(path)[0] + ".scoremap.png"
        save_image(side, smap)
        return [path, side]
    a, b = r.frames
    idx = sheet_frames(a, b, 8, margin=max(1, (b - a) // 4), num_frames=reader.num_frames)
    frames = answer_frames(reader.get_frames(idx), idx.tolist(), reader.fps, r.tube, None, r.query, timeline, label)
    tiles = tile_images(frames, cols=4, thumb_width=320)
    save_image(path, tiles if smap is None else stack_images([tiles, smap], axis=0))
    return [path]


@tool_main
def main(argv=None) -> int:
    a = parse_args(argv)
    try:
        check_outputs(a)  # cheap checks first: nothing heavy is imported before they pass
        if not os.path.exists(a.video):
            raise FileNotFoundError(f"video file not found: {a.video}")
        if os.path.isdir(a.video):
            raise ValueError(f"--video {a.video} is a directory, not a video file")
        if not os.path.exists(a.model):
            hint = (" (the shipped model; tools/train_demo_model.py builds it)" if a.model == DEFAULT_MODEL else "")
            raise FileNotFoundError(f"model file not found: {a.model}{hint}")
        from stvg.engine import setup_cli_logging
        from stvg.pipeline import STVGPredictor

        setup_cli_logging(a.log_level)

        import time

        queries = STVGPredictor.check_queries(a.query)
        predictor = STVGPredictor.from_file(a.model, device=a.device,
                                            join=[x for pair in a.join for x in pair])
        t0 = time.perf_counter()
        prepared = predictor.prepare(a.video, a.start, a.end, salvage=a.salvage)
        results = predictor.ground(prepared, queries, a.top_k, t0)
    except (OSError, ValueError, RuntimeError) as e:  # includes VideoReadError, ModelFileError, DeviceError
        print(f"error: {e}", file=sys.stderr)
        return 2
    for r in results:
        print(summary(r))
    if prepared.salvaged is not None:
        from stvg.video import salvage_note
        print(f"{os.path.basename(a.video)}: {salvage_note(*prepared.salvaged)} (the file is cut short)")
    if a.out:
        from stvg.io import atomic_write_json

        extra = {} if prepared.salvaged is None else {"salvaged": list(prepared.salvaged)}
        docs = [dict(r.to_json(), model=os.path.abspath(a.model), video=os.path.abspath(a.video), **extra)
                for r in results]
        atomic_write_json(a.out, docs[0] if len(docs) == 1 else {"results": docs}, indent=1)
        print(f"wrote {a.out}")
    if a.vis:
        base, ext = os.path.splitext(a.vis)
        for k, r in enumerate(results):
            target = a.vis if len(results) == 1 else f"{base}.{k}{ext}"
            for p in draw(target, a.video, r, a.vis_fps, a.salvage):
                print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
