#!/usr/bin/env python
"""Pictures of a submission against the ground truth, and one HTML page over the set.

    python tools/visualize_predictions.py --pred submission.json --gt val_v2.json --video-dir videos/ --out vis/
        [--format mp4|gif] [--overlay-fps 5] [--max-videos 50] [--details submission.json.parts]

Per video: an overlay (OUT/overlays/<id>.mp4 or .gif) with the predicted tube in green and the
ground truth in orange, the sentence, the vIoU and a time bar; a contact sheet
(OUT/sheets/<id>.jpg); a thumbnail; and, when the prediction's part files are there
(tools/predict_stvg.py writes them next to the submission, --details), the MMN score map with the
predicted and the true cells marked (OUT/maps/<id>.png; in mode tube_mmn the answer tube's map).
Over the set: the histogram of per-video vIoU (OUT/viou_hist.png) and OUT/index.html, every video
with its sentence, thumbnail, tIoU and vIoU, worst first, linking to its files.

--gt: an HC-STVG annotation file (sentences shown) or a challenge-format ground truth.
Exit status: 0 done; 1 some videos could not be drawn (listed in OUT/failures.json, still in the
page); 2 bad input (prediction or ground-truth file, folders).
"""
from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import quote

from stvg.cli import add_salvage_option, tool_main, tool_parser


def parse_args(argv=None) -> argparse.Namespace:
    ap = tool_parser(__doc__, config=False, overrides=False, device=False)
    ap.add_argument("--pred", required=True, help="submission JSON")
    ap.add_argument("--gt", required=True, help="HC-STVG annotations or challenge-format ground truth")
    ap.add_argument("--video-dir", required=True, help="folder of the videos")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--format", choices=("mp4", "gif"), default="mp4", help="overlay file type")
    ap.add_argument("--overlay-fps", type=float, default=5.0, help="frames per second drawn in overlays (0: all)")
    ap.add_argument("--max-videos", type=int, default=None, help="draw only the first N videos of the ground truth")
    ap.add_argument("--details", default=None, help="the prediction's part folder (default: PRED.parts)")
    add_salvage_option(ap)
    return ap.parse_args(argv)


def load_ground_truth(path: str):
    """``{video id: (sentence, Tube, fps or None)}`` from annotations or a challenge-format file."""
    from stvg.data import load_hcstvg
    from stvg.evaluation import ground_truth_entries
    from stvg.io import read_json
    from stvg.submission import entry_to_tube

    data = read_json(path, "ground truth file")
    first = next(iter(data.values()), None) if isinstance(data, dict) else None
    if isinstance(first, dict) and isinstance(first.get("bbox"), dict):
        return {vid: ("", entry_to_tube(e, vid), None) for vid, e in ground_truth_entries(data).items()}, data
    videos, _ = load_hcstvg(data)
    out = {vid: (v.sentence, v.tube, v.fps) for vid, v in videos.items() if v.tube is not None}
    if not out:
        raise ValueError(f"{path}: no ground-truth tube (a query-only file cannot be drawn against)")
    return out, data


def draw_video(vid: str, path: str, sentence: str, gt, pred, entry, metrics, details, a, out_dir: str) -> dict:
    """All pictures of one video; returns its row of the HTML page (paths relative to ``out_dir``)."""
    import numpy as np

    from stvg.data.frames import file_to_index
    from stvg.video import VideoReader
    from stvg.visualize import Timeline, answer_frames, save_image, sheet_frames, tile_images, write_overlay

    reader = VideoReader(path, salvage=a.salvage)
    fps, n = reader.fps, reader.num_frames
    viou, tiou = metrics
    pspan = None if entry is None else (file_to_index(entry["st_frame"]) / fps, (file_to_index(entry["ed_frame"]) + 1) / fps)
    gspan = (gt.start_frame / fps, (gt.end_frame + 1) / fps)
    timeline = Timeline(reader.duration, pred=pspan, gt=gspan)
    label = f"vIoU {viou:.3f}  tIoU {tiou:.3f}" + ("" if entry is not None else "  (no prediction)")
    pred = pred if pred is not None and len(pred) else None
    safe = quote(vid, safe="")
    row = {"video_id": vid, "sentence": sentence, "viou": viou, "tiou": tiou}
    if reader.salvaged is not None:
        from stvg.video import note_salvaged, salvage_note
        note_salvaged(path, *reader.salvaged)
        row["note"] = f"{salvage_note(*reader.salvaged)} (the file is cut short)"

    idx = reader.sample_indices(min(a.overlay_fps, fps)) if a.overlay_fps > 0 else np.arange(n)
    frames = answer_frames(reader.get_frames(idx), idx.tolist(), fps, pred, gt, sentence, timeline, label,
                           max_width=480 if a.format == "gif" else 960)
    rel = f"overlays/{safe}.{a.format}"
    write_overlay(os.path.join(out_dir, "overlays", f"{vid}.{a.format}"), frames, min(a.overlay_fps or fps, fps))
    row["overlay"] = rel

    spans = [gt.start_frame, gt.end_frame] + ([] if pred is None else [pred.start_frame, pred.end_frame])
    sel = sheet_frames(min(spans), max(spans), 8, margin=2, num_frames=n)
    drawn = answer_frames(reader.get_frames(sel), sel.tolist(), fps, pred, gt, sentence, timeline, label)
    save_image(os.path.join(out_dir, "sheets", f"{vid}.jpg"), tile_images(drawn, cols=4, thumb_width=320))
    row["sheet"] = f"sheets/{safe}.jpg"
    mid = (pred.start_frame + pred.end_frame) // 2 if pred is not None else (gt.start_frame + gt.end_frame) // 2
    mid = min(mid, n - 1)  # a salvaged file may end before the tubes do
    thumb = answer_frames(reader.get_frames([mid]), [mid], fps, pred, gt, "", None, "", max_width=240)[0]
    save_image(os.path.join(out_dir, "thumbs", f"{vid}.jpg"), thumb)
    row["thumb"] = f"thumbs/{safe}.jpg"

    smap = score_map_picture(vid, details, gspan)
    if smap is not None:
        save_image(os.path.join(out_dir, "maps", f"{vid}.png"), smap)
        row["score_map"] = f"maps/{safe}.png"
    return row


def score_map_picture(vid: str, details, gspan):
    """The score map of a prediction's part-file result (None when it holds none). Mode two_stage: the
    MMN map of the window holding the answer. Mode tube_mmn (one map per candidate tube,
    ``windows`` each tube's span): the answer tube's map (``tube_index``), its ``cell`` marked as
    predicted and the cell nearest the ground-truth span as true; no map without an answer tube."""
    import torch

    from stvg.visualize import result_score_map, score_cell, score_map_image

    if details is None or details.get("score_map") is None:
        return None
    maps = torch.tensor(details["score_map"])
    mask = torch.tensor(details["score_mask"], dtype=torch.bool) if "score_mask" in details else None
    windows = [tuple(w) for w in details["windows"]]
    if details.get("mode") == "tube_mmn":
        k = details.get("tube_index", -1)
        if not details.get("found") or not 0 <= k < len(maps) or k >= len(windows):
            return None
        cell = tuple(details["cell"]) if details.get("cell") is not None else None
        return score_map_image(maps[k], mask, pred_cell=cell, gt_cell=score_cell(gspan, windows[k], maps.shape[-1]),
                               title=f"{vid}: tube {k} score map", window=windows[k])
    return result_score_map(maps, mask, windows, tuple(details["segment"]), gspan, title=f"{vid}: MMN score map")


def _draw_all(a, ids, gt, pred, per_video, details_dir: str, rows: list, failures: dict) -> None:
    """Draw each video of ``ids`` into ``rows`` (the HTML rows); a video that cannot be drawn goes
    to ``failures`` with its reason."""
    from stvg.data.ids import VIDEO_EXTENSIONS
    from stvg.io import read_json
    from stvg.submission import entry_to_tube

    for vid in ids:
        sentence, gt_tube, _ = gt[vid]
        entry = pred.get(vid)
        ptube = entry_to_tube(entry, vid) if entry is not None else None
        path = os.path.join(a.video_dir, vid)  # the id rule: the file is named by the annotation key
        for ext in ("",) + tuple(VIDEO_EXTENSIONS):
            if os.path.isfile(path + ext):
                path += ext
                break
        details = None
        part = os.path.join(details_dir, vid + ".json")
        if os.path.isfile(part):
            details = read_json(part, "prediction part file").get("result")
        try:
            rows.append(draw_video(vid, path, sentence, gt_tube, ptube, entry, per_video.get(vid, (0.0, 0.0)), details,
                                   a, a.out))
        except (OSError, ValueError, RuntimeError, IndexError) as e:
            failures[vid] = f"{type(e).__name__}: {e}"
            v, t = per_video.get(vid, (0.0, 0.0))
            rows.append({"video_id": vid, "sentence": sentence, "viou": v, "tiou": t, "note": failures[vid]})


@tool_main
def main(argv=None) -> int:
    a = parse_args(argv)
    from stvg.evaluation import evaluate
    from stvg.io import atomic_write_json
    from stvg.submission import entries_for, read_submission, validate
    from stvg.visualize import histogram_image, save_image, write_html_report

    try:
        if os.path.exists(a.out) and not os.path.isdir(a.out):
            raise ValueError(f"--out {a.out} exists and is not a folder")
        if not os.path.isdir(a.video_dir):
            raise FileNotFoundError(f"video folder not found: {a.video_dir}")
        pred = read_submission(a.pred)
        problems = validate(pred)
        if problems:
            raise ValueError(f"{a.pred}: invalid submission: {'; '.join(problems[:3])}")
        gt, gt_data = load_ground_truth(a.gt)
        metrics = evaluate(pred, gt_data, per_video=True, lenient=True)
        pred = entries_for(pred, gt)  # keyed by the annotation ids (submissions use stems)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    per_video = metrics.pop("per_video")
    details_dir = a.details if a.details is not None else a.pred + ".parts"
    os.makedirs(a.out, exist_ok=True)
    rows, failures = [], {}
    ids = list(gt)[: a.max_videos] if a.max_videos is not None else list(gt)
    from stvg.video import salvaging
    with salvaging(a.salvage) as salvaged:
        _draw_all(a, ids, gt, pred, per_video, details_dir, rows, failures)
    if salvaged:
        print(salvaged.message())
    save_image(os.path.join(a.out, "viou_hist.png"), histogram_image([v for v, _ in per_video.values()]))
    write_html_report(os.path.join(a.out, "index.html"), rows, title=f"{os.path.basename(a.pred)} vs "
                      f"{os.path.basename(a.gt)}", summary=metrics, histogram="viou_hist.png")
    print(" ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()))
    print(f"wrote {os.path.join(a.out, 'index.html')} ({len(rows)} videos)")
    if failures:
        atomic_write_json(os.path.join(a.out, "failures.json"), failures, indent=1)
        print(f"error: {len(failures)} video(s) could not be drawn, listed in {os.path.join(a.out, 'failures.json')}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
