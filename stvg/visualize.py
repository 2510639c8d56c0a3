"""Drawing helpers: tube overlays, contact sheets, score maps, the HTML report (RGB ``uint8`` images).

    sheet = contact_sheet(frames, frame_indices, tubes, cols=4)       # uint8[H', W', 3] RGB
    save_image("sheet.png", sheet)
    frame = draw_answer(frame, f, pred=tube, gt=gt_tube, sentence=s, timeline=Timeline(...))
    write_overlay("out.mp4" or "out.gif", frames, fps)               # atomic
    img = score_map_image(scores[N, N], mask, pred_cell=(i, j), gt_cell=(k, l))   # matplotlib heatmap
    save_image("hist.png", histogram_image(vious, "vIoU"))
    write_html_report("out/index.html", rows)                         # sorted worst first

Only tensors, arrays and ``stvg.structures`` types come in; nothing here runs a model. Prediction
boxes are drawn in :data:`PRED_COLOUR`, ground truth in :data:`GT_COLOUR`.
"""
from __future__ import annotations

import colorsys
import html
import io
import math
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from .io import atomic_write
from .structures import Tube

__all__ = ["tube_colour", "draw_tubes", "contact_sheet", "save_image", "PRED_COLOUR", "GT_COLOUR", "Timeline",
           "draw_answer", "answer_frames", "tile_images", "write_overlay", "score_cell", "score_map_image",
           "result_score_map", "histogram_image", "stack_images", "write_html_report", "sheet_frames"]

PRED_COLOUR = (40, 220, 40)    # prediction: green
GT_COLOUR = (255, 120, 0)      # ground truth: orange


def sheet_frames(first: int, last: int, count: int = 8, margin: int = 0, num_frames: Optional[int] = None
                 ) -> np.ndarray:
    """``int64[<= count]``: frames spread evenly over ``first - margin .. last + margin`` (clamped to
    ``0 .. num_frames - 1``), duplicates removed: the frames a contact sheet shows."""
    lo, hi = first - margin, last + margin
    lo, hi = max(0, lo), (hi if num_frames is None else min(num_frames - 1, hi))
    return np.unique(np.linspace(lo, max(lo, hi), max(1, count)).round().astype(np.int64))


def tube_colour(i: int) -> tuple:
    """A distinct, saturated RGB colour for tube ``i`` (golden-ratio hue steps, deterministic)."""
    h = (i * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_tubes(frame: np.ndarray, frame_index: int, tubes: Sequence[Tube],
               ids: Optional[Sequence[int]] = None, thickness: int = 2) -> np.ndarray:
    """Copy of ``frame uint8[H, W, 3]`` with the box of every tube present on ``frame_index``
    drawn in the tube's colour and labelled with its id (default: its position in ``tubes``)."""
    out = np.ascontiguousarray(frame).copy()
    ids = list(range(len(tubes))) if ids is None else list(ids)
    scale = max(0.4, out.shape[0] / 600)
    for tid, tube in zip(ids, tubes):
        if len(tube) == 0 or not tube.start_frame <= frame_index <= tube.end_frame:
            continue
        pos = int(np.searchsorted(tube.frames.cpu().numpy(), frame_index))
        if pos >= len(tube) or int(tube.frames[pos]) != frame_index:
            continue  # a sparse tube with no box on this frame
        x1, y1, x2, y2 = (int(round(float(v))) for v in tube.boxes[pos])
        col = tube_colour(tid)
        cv2.rectangle(out, (x1, y1), (x2, y2), col, thickness)
        label = str(tid)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, 1)
        ty = max(y1, th + base)
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 4, ty), col, -1)
        cv2.putText(out, label, (x1 + 2, ty - base), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return out


def contact_sheet(frames: np.ndarray, frame_indices: Sequence[int], tubes: Sequence[Tube],
                  cols: int = 4, thumb_width: int = 384, ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """Frames ``uint8[N, H, W, 3]`` (RGB, decoded frames ``frame_indices``) with the tubes drawn,
    resized to ``thumb_width`` and tiled ``cols`` per row, each captioned with its frame index.
    -> ``uint8[rows * h', cols * thumb_width, 3]`` RGB."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"contact_sheet: expected uint8 frames [N, H, W, 3], got {frames.dtype} "
                         f"{list(frames.shape)}")
    if len(frame_indices) != frames.shape[0]:
        raise ValueError(f"contact_sheet: {frames.shape[0]} frames but {len(frame_indices)} indices")
    n, h, w = frames.shape[:3]
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    th = max(1, int(round(h * thumb_width / w)))
    sheet = np.zeros((rows * th, cols * thumb_width, 3), np.uint8)
    for k, (img, f) in enumerate(zip(frames, frame_indices)):
        drawn = draw_tubes(img, int(f), tubes, ids, thickness=max(2, int(round(2 * w / thumb_width))))
        thumb = cv2.resize(drawn, (thumb_width, th), interpolation=cv2.INTER_AREA)
        cv2.putText(thumb, f"frame {int(f)}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
        r, c = divmod(k, cols)
        sheet[r * th:(r + 1) * th, c * thumb_width:(c + 1) * thumb_width] = thumb
    return sheet


def save_image(path: str, image: np.ndarray) -> None:
    """Write an RGB ``uint8[H, W, 3]`` image (format from the suffix: .png, .jpg) atomically."""
    ext = os.path.splitext(path)[1] or ".png"
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"{path}: OpenCV cannot encode an image as {ext!r}")
    with atomic_write(path, "wb", encoding=None) as fh:
        fh.write(buf.tobytes())


# ---------------------------------------------------------------------------------------------
# One answer drawn on the frames
# ---------------------------------------------------------------------------------------------
@dataclass
class Timeline:
    """What the time bar shows: the video ``duration`` (s), the predicted and true spans (s)."""

    duration: float
    pred: Optional[Tuple[float, float]] = None
    gt: Optional[Tuple[float, float]] = None
    section: Optional[Tuple[float, float]] = None


def _box_at(tube: Optional[Tube], frame_index: int):
    if tube is None or len(tube) == 0 or not tube.start_frame <= frame_index <= tube.end_frame:
        return None
    pos = int(np.searchsorted(tube.frames.cpu().numpy(), frame_index))
    if pos >= len(tube) or int(tube.frames[pos]) != frame_index:
        return None
    return [int(round(float(v))) for v in tube.boxes[pos]]


def _wrap(text: str, width_px: int, scale: float) -> list:
    words, lines, line = text.split(), [], ""
    for w in words:
        trial = f"{line} {w}".strip()
        if cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > width_px and line:
            lines.append(line)
            line = w
        else:
            line = trial
    return lines + ([line] if line else [])


def draw_answer(frame: np.ndarray, frame_index: int, fps: float, pred: Optional[Tube] = None,
                gt: Optional[Tube] = None, sentence: str = "", timeline: Optional[Timeline] = None,
                label: str = "") -> np.ndarray:
    """Copy of ``frame uint8[H, W, 3]`` with the predicted box (green), the true box (orange), the
    sentence on top, ``label`` (e.g. the vIoU) and a time bar at the bottom: the section in grey,
    the predicted span in green over the true span in orange, a white cursor at this frame."""
    out = np.ascontiguousarray(frame).copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(0.7, w / 900))
    thick = max(1, int(round(w / 400)))
    for tube, col, name in ((gt, GT_COLOUR, "GT"), (pred, PRED_COLOUR, "pred")):
        box = _box_at(tube, frame_index)
        if box is not None:
            cv2.rectangle(out, (box[0], box[1]), (box[2], box[3]), col, thick + 1)
            cv2.putText(out, name, (box[0] + 2, min(h - 4, box[3] - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale * 0.8, col,
                        1, cv2.LINE_AA)
    lines = _wrap(sentence, w - 12, scale) if sentence else []
    if label:
        lines.append(label)
    line_h = int(cv2.getTextSize("Ag", cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][1] * 1.8) + 2
    if lines:
        band = out[: line_h * len(lines) + 6]
        band[:] = (band.astype(np.float32) * 0.45).astype(np.uint8)
        for k, text in enumerate(lines):
            cv2.putText(out, text, (6, (k + 1) * line_h), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                        cv2.LINE_AA)
    if timeline is not None and timeline.duration > 0:
        bar_h = max(6, h // 30)
        y0 = h - 2 * bar_h - 4

        def x(t: float) -> int:
            return int(round(min(max(t / timeline.duration, 0.0), 1.0) * (w - 1)))

        out[y0:h] = (out[y0:h].astype(np.float32) * 0.4).astype(np.uint8)
        if timeline.section is not None:
            out[y0 + 1:h - 1, x(timeline.section[0]):x(timeline.section[1]) + 1] = (90, 90, 90)
        if timeline.gt is not None:
            out[y0 + bar_h + 2:h - 2, x(timeline.gt[0]):x(timeline.gt[1]) + 1] = GT_COLOUR
        if timeline.pred is not None:
            out[y0 + 2:y0 + bar_h, x(timeline.pred[0]):x(timeline.pred[1]) + 1] = PRED_COLOUR
        cx = x(frame_index / fps)
        out[y0:h, max(0, cx - 1):cx + 2] = (255, 255, 255)
    return out


def answer_frames(frames: np.ndarray, frame_indices: Sequence[int], fps: float, pred: Optional[Tube] = None,
                  gt: Optional[Tube] = None, sentence: str = "", timeline: Optional[Timeline] = None,
                  label: str = "", max_width: int = 0) -> np.ndarray:
    """:func:`draw_answer` on every frame ``uint8[T, H, W, 3]`` (decoded frames ``frame_indices``);
    ``max_width`` > 0 first shrinks wider frames to it (boxes are scaled with them)."""
    frames = np.asarray(frames)
    if len(frame_indices) != frames.shape[0]:
        raise ValueError(f"answer_frames: {frames.shape[0]} frames but {len(frame_indices)} indices")
    scale = 1.0
    if max_width and frames.shape[2] > max_width:
        scale = max_width / frames.shape[2]
    tubes = [t if t is None or scale == 1.0 else Tube(t.frames, t.boxes * scale, score=t.score) for t in (pred, gt)]
    out = []
    for img, f in zip(frames, frame_indices):
        if scale != 1.0:
            img = cv2.resize(img, (max_width, max(2, int(round(img.shape[0] * scale)))), interpolation=cv2.INTER_AREA)
        out.append(draw_answer(img, int(f), fps, tubes[0], tubes[1], sentence, timeline, label))
    return np.stack(out)


def tile_images(images: np.ndarray, cols: int = 4, thumb_width: int = 320) -> np.ndarray:
    """Images ``uint8[N, H, W, 3]`` resized to ``thumb_width`` and tiled ``cols`` per row."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    th = max(1, int(round(h * thumb_width / w)))
    sheet = np.full((rows * th, cols * thumb_width, 3), 255, np.uint8)
    for k, img in enumerate(images):
        r, c = divmod(k, cols)
        sheet[r * th:(r + 1) * th, c * thumb_width:(c + 1) * thumb_width] = cv2.resize(
            img, (thumb_width, th), interpolation=cv2.INTER_AREA)
    return sheet


def write_overlay(path: str, frames: np.ndarray, fps: float) -> None:
    """Write ``uint8[T, H, W, 3]`` RGB frames atomically as a video (.mp4, .mkv, ...: H.264, odd sizes
    padded by one pixel) or an animated .gif (Pillow)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise ValueError(f"write_overlay: expected uint8 frames [T >= 1, H, W, 3], got {frames.dtype} "
                         f"{list(frames.shape)}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        buf = io.BytesIO()
        images[0].save(buf, format="GIF", save_all=True, append_images=images[1:],
                       duration=max(20, int(round(1000 / fps))), loop=0)
        with atomic_write(path, "wb", encoding=None) as fh:
            fh.write(buf.getvalue())
        return
    from .video import write_video

    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    write_video(path, frames, fps)


# ---------------------------------------------------------------------------------------------
# Score maps and histograms (matplotlib, Agg)
# ---------------------------------------------------------------------------------------------
def score_cell(segment: Tuple[float, float], window: Tuple[float, float], num_clips: int) -> Optional[Tuple[int, int]]:
    """The map cell ``(i, j)`` whose moment ``[i, j + 1] x (window length / N)`` best covers
    ``segment`` (seconds) in ``window``; None when the segment is outside the window."""
    ws, we = window
    dur = we - ws
    s, e = max(segment[0], ws), min(segment[1], we)
    if dur <= 0 or e <= s:
        return None
    i = min(num_clips - 1, max(0, int(math.floor((s - ws) / dur * num_clips + 1e-9))))
    j = min(num_clips - 1, max(i, int(math.ceil((e - ws) / dur * num_clips - 1e-9)) - 1))
    return i, j


def _figure(size: Tuple[float, float]):
    """A matplotlib figure on its own Agg canvas (no pyplot state, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _figure_to_image(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def score_map_image(scores, mask=None, pred_cell: Optional[Tuple[int, int]] = None,
                    gt_cell: Optional[Tuple[int, int]] = None, title: str = "",
                    window: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """The MMN score map ``[N, N]`` (row = start clip i, column = end clip j) as a heatmap, cells
    outside ``mask`` blank, the predicted cell boxed in green and the true one in orange ->
    ``uint8[H, W, 3]``. ``window`` (seconds) labels the axes in seconds."""
    from matplotlib.patches import Rectangle

    a = np.asarray(scores.cpu() if hasattr(scores, "cpu") else scores, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"score_map_image: expected a square map [N, N], got {list(a.shape)}")
    n = a.shape[0]
    m = np.ones_like(a, dtype=bool) if mask is None else np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask, bool)
    shown = np.ma.masked_where(~m, a)
    fig, ax = _figure((4.2, 3.6))
    im = ax.imshow(shown, cmap="viridis", origin="upper", interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    for cell, col, name in ((gt_cell, GT_COLOUR, "true"), (pred_cell, PRED_COLOUR, "predicted")):
        if cell is not None:
            i, j = cell
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, lw=2.2,
                                   edgecolor=tuple(c / 255 for c in col), label=name))
    if pred_cell is not None or gt_cell is not None:
        ax.legend(loc="lower left", fontsize=7, framealpha=0.7)
    unit = ""
    if window is not None:
        step = (window[1] - window[0]) / n
        ticks = np.linspace(0, n - 1, min(n, 5)).round().astype(int)
        ax.set_xticks(ticks, [f"{window[0] + (t + 1) * step:.1f}" for t in ticks], fontsize=7)
        ax.set_yticks(ticks, [f"{window[0] + t * step:.1f}" for t in ticks], fontsize=7)
        unit = " (s)"
    ax.set_xlabel(f"end{unit}")
    ax.set_ylabel(f"start{unit}")
    ax.set_title(title or "MMN score map", fontsize=9)
    fig.tight_layout()
    return _figure_to_image(fig)


def result_score_map(score_map, mask, windows: Sequence[Tuple[float, float]], segment: Tuple[float, float],
                     gt_segment: Optional[Tuple[float, float]] = None, title: str = "") -> np.ndarray:
    """The score map of the window holding the middle of ``segment`` (``score_map Tensor[W, N, N]``,
    ``windows`` their spans in seconds), the cell of ``segment`` marked as predicted and that of
    ``gt_segment`` as true."""
    maps = np.asarray(score_map.cpu() if hasattr(score_map, "cpu") else score_map, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    mid = (segment[0] + segment[1]) / 2
    w = next((k for k, (a, b) in enumerate(windows) if a <= mid < b), 0)
    n = maps.shape[-1]
    window = tuple(windows[w]) if windows else None
    pred = score_cell(segment, window, n) if window else None
    true = score_cell(gt_segment, window, n) if window and gt_segment is not None else None
    name = title or "MMN score map"
    if len(windows) > 1:
        name += f" (window {w + 1}/{len(windows)}: {window[0]:.1f}-{window[1]:.1f} s)"
    return score_map_image(maps[w], mask, pred, true, name, window)


def histogram_image(values: Sequence[float], name: str = "vIoU", bins: int = 20) -> np.ndarray:
    """Histogram of per-video values in [0, 1] with their mean -> ``uint8[H, W, 3]``."""
    v = np.asarray(list(values), dtype=np.float64)
    fig, ax = _figure((5, 3))
    ax.hist(v, bins=np.linspace(0, 1, bins + 1), color="#3a7", edgecolor="white")
    if v.size:
        ax.axvline(v.mean(), color="#e60", lw=2, label=f"mean {v.mean():.3f}")
        ax.legend(fontsize=8)
    ax.set_xlabel(f"per-video {name}")
    ax.set_ylabel("videos")
    ax.set_title(f"{name} over {v.size} videos", fontsize=9)
    fig.tight_layout()
    return _figure_to_image(fig)


def stack_images(images: Sequence[np.ndarray], axis: int = 0, fill: int = 255) -> np.ndarray:
    """Images side by side (``axis=1``) or one under the other (``axis=0``), padded with ``fill``."""
    images = [np.asarray(im) for im in images]
    size = max(im.shape[1 - axis] for im in images)
    padded = []
    for im in images:
        pad = size - im.shape[1 - axis]
        spec = ((0, 0), (0, pad), (0, 0)) if axis == 0 else ((0, pad), (0, 0), (0, 0))
        padded.append(np.pad(im, spec, constant_values=fill))
    return np.concatenate(padded, axis=axis)


# ---------------------------------------------------------------------------------------------
# The HTML report
# ---------------------------------------------------------------------------------------------
def write_html_report(path: str, rows: Sequence[Mapping], title: str = "STVG predictions",
                      summary: Optional[Mapping[str, float]] = None, histogram: Optional[str] = None) -> None:
    """A static page listing every video, sorted by vIoU, worst first (videos without a score last).

    ``rows``: mappings with ``video_id``, ``sentence``, ``tiou``, ``viou`` (or None), and optional
    ``thumb``, ``overlay``, ``sheet``, ``score_map`` (paths relative to the page) and ``note``.
    ``summary``: metrics shown on top; ``histogram``: an image path relative to the page."""
    def key(r):
        v = r.get("viou")
        return (v is None, v if v is not None else 0.0, str(r.get("video_id")))

    def link(r, k, text):
        return f'<a href="{html.escape(r[k], quote=True)}">{text}</a>' if r.get(k) else ""

    def fmt(v):
        return "-" if v is None else f"{v:.3f}"

    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', f"<title>{esc(title)}</title>",
             "<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}img{max-width:240px}</style>",
             "</head><body>", f"<h1>{esc(title)}</h1>"]
    if summary:
        parts.append("<p>" + ", ".join(f"{esc(k)} {v:.4f}" if isinstance(v, float) else f"{esc(k)} {esc(str(v))}"
                                       for k, v in summary.items()) + "</p>")
    if histogram:
        parts.append(f'<p><img src="{esc(histogram, quote=True)}" alt="vIoU histogram" style="max-width:500px"></p>')
    parts.append("<table><thead><tr><th>#</th><th>video</th><th>sentence</th><th>tIoU</th><th>vIoU</th>"
                 "<th>thumbnail</th><th>files</th></tr></thead><tbody>")
    for n, r in enumerate(sorted(rows, key=key), 1):
        thumb = (f'<a href="{esc(r.get("overlay") or r["thumb"], quote=True)}"><img src="{esc(r["thumb"], quote=True)}" '
                 f'alt="{esc(str(r["video_id"]), quote=True)}"></a>') if r.get("thumb") else ""
        files = " ".join(x for x in (link(r, "overlay", "overlay"), link(r, "sheet", "contact sheet"),
                                     link(r, "score_map", "score map")) if x)
        note = f"<br><em>{esc(r['note'])}</em>" if r.get("note") else ""
        parts.append(f"<tr><td>{n}</td><td>{esc(str(r['video_id']))}</td><td>{esc(r.get('sentence') or '')}{note}</td>"
                     f"<td>{fmt(r.get('tiou'))}</td><td>{fmt(r.get('viou'))}</td><td>{thumb}</td><td>{files}</td></tr>")
    parts += ["</tbody></table>", "</body></html>"]
    from .io import atomic_write_text
    atomic_write_text(path, "\n".join(parts) + "\n")
