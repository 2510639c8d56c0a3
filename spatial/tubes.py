"""Candidate person tubes of one video: detection (cached) + linking, and their JSON file.

    cfg = load_spatial_config(None, ["DETECTOR.NAME", "hog", "DETECTION.STRIDE", "2"])
    result = build_video_tubes("clip.mp4", cfg)             # VideoTubes, video_id "clip.mp4"
    write_tubes_json("tubes.json", result); tubes = read_tubes_json("tubes.json").tubes
    by_video = read_tube_folder("tubes/", ["clip.mp4"])      # {video id: [Tube]}

A whole dataset: :func:`spatial.run.build_dataset_tubes` (one ``<video id>.json`` per video).

Tube file (JSON): ``video_id`` (:mod:`stvg.data.ids`: the file name with extension), ``fps,
num_frames, width, height, stride``, ``detector`` (the detector's full setting), ``linking`` (the
link parameters), ``report`` (the link report), ``tighten`` (the box tightening setting; only when
``TIGHTEN.METHOD`` is not ``none``), and ``tubes``: a list, best first, of ``{"id", "score", "start_frame", "end_frame", "boxes": [[x1, y1, x2, y2], ...],
"scores": [...]}`` with one box per decoded frame from ``start_frame`` to ``end_frame`` (0-based,
inclusive; pixels of the decoded frame, 2 decimals).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from stvg.config import Config
from stvg.data.ids import video_id_of
from stvg.io import atomic_write_json, read_json
from stvg.structures import Detections, Tube
from stvg.tube_json import field_int, field_number, tube_from_json

from .cache import DetectionCache, detect_video
from .defaults import detector_options
from .detectors import PersonDetector, build_detector
from .linking import LinkParams, link_detections
from .tighten import TightenParams, background_model, tighten_detections

__all__ = ["VideoTubes", "build_video_tubes", "tighten_video_detections", "no_tubes_reason", "detector_from_config", "tubes_to_json", "write_tubes_json",
           "read_tubes_json", "read_tube_folder"]

log = logging.getLogger(__name__)


@dataclass
class VideoTubes:
    """Tubes of one video (best first) with what made them."""

    video_id: str
    fps: float
    num_frames: int
    width: int
    height: int
    stride: int
    tubes: List[Tube]
    detector: Dict[str, Any] = field(default_factory=dict)
    linking: Dict[str, Any] = field(default_factory=dict)
    report: Dict[str, Any] = field(default_factory=dict)
    tighten: Dict[str, Any] = field(default_factory=dict)  # the TIGHTEN setting; {} = boxes as detected
    detections: Optional[List[Detections]] = None  # not written to the JSON file (before tightening)


def detector_from_config(cfg: Config) -> PersonDetector:
    """The detector of a spatial config's ``DETECTOR`` section."""
    name, opts = detector_options(cfg.DETECTOR)
    return build_detector(name, **opts)


def build_video_tubes(video_path: str, cfg: Config, video_id: Optional[str] = None,
                      detector: Optional[PersonDetector] = None, progress: bool = False) -> VideoTubes:
    """Detect people on every ``DETECTION.STRIDE``-th frame (cached under ``DETECTION.CACHE_DIR``
    when set), tighten the boxes (``TIGHTEN``, :mod:`spatial.tighten`; the cache keeps the detector's
    own) and link them (``LINKING``) into tubes with a box on every frame of their span.
    ``video_id`` defaults to the file name (:func:`stvg.data.ids.video_id_of`)."""
    detector = detector or detector_from_config(cfg)
    vid = video_id or video_id_of(video_path)
    stride = int(cfg.DETECTION.STRIDE)
    cache = DetectionCache(cfg.DETECTION.CACHE_DIR, detector.setting(), stride) \
        if cfg.DETECTION.CACHE_DIR else None
    dets, reader = detect_video(detector, video_path, vid, cache=cache, stride=stride, progress=progress)
    params = LinkParams.from_config(cfg.LINKING)
    tight = TightenParams.from_config(cfg.TIGHTEN)
    linked = tighten_video_detections(reader, dets, tight) if tight.enabled else dets
    tubes, rep = link_detections(linked, frame_size=(reader.width, reader.height), params=params)
    report = dataclasses.asdict(rep)
    if not tubes:
        report["no_tubes_reason"] = no_tubes_reason(report, cfg, int(reader.width), int(reader.height))
    return VideoTubes(vid, float(reader.fps), int(reader.num_frames), int(reader.width),
                      int(reader.height), stride, tubes, detector.setting(), dataclasses.asdict(params),
                      report, dataclasses.asdict(tight) if tight.enabled else {}, dets)


def tighten_video_detections(reader, dets: List[Detections], params: TightenParams, chunk: int = 32) -> List[Detections]:
    """``dets`` of a whole video (a :class:`stvg.video.VideoReader`) with their boxes tightened
    (:mod:`spatial.tighten`); the frames are decoded again, ``chunk`` at a time."""
    if not dets:
        return []
    bg = background_model(reader, 0, int(reader.num_frames) - 1, params.background_frames)
    out: List[Detections] = []
    for lo in range(0, len(dets), chunk):
        part = dets[lo:lo + chunk]
        out.extend(tighten_detections(reader.get_frames([d.frame for d in part]), part, bg, params))
    return out


def no_tubes_reason(report: Dict[str, Any], cfg: Config, width: int, height: int) -> str:
    """Why linking gave no tube: too few detection steps for ``LINKING.MIN_LENGTH``, frames smaller
    than the HOG window, no person detected, or only short tracks."""
    steps, need = int(report["num_frames"]), int(cfg.LINKING.MIN_LENGTH)
    if steps < need:
        return (f"only {steps} detection step(s) (DETECTION.STRIDE {cfg.DETECTION.STRIDE}), fewer than "
                f"LINKING.MIN_LENGTH {need}: the video is too short for a tube")
    if cfg.DETECTOR.NAME == "hog":
        up = float(cfg.DETECTOR.HOG.UPSCALE)
        if width * up < 64 or height * up < 128:
            return (f"frames of {width}x{height} (x{up:g} DETECTOR.HOG.UPSCALE) are smaller than the HOG "
                    f"detector's 64x128 window: no person can be found; raise DETECTOR.HOG.UPSCALE")
    if int(report["num_detections"]) == 0:
        return f"the detector found no person on any of the {steps} detected frame(s)"
    return (f"{report['num_short']} track(s), all shorter than LINKING.MIN_LENGTH {need} detections")


def tubes_to_json(result: VideoTubes) -> Dict[str, Any]:
    """The tube file's content (see the module docstring for the format)."""
    tubes = []
    for i, t in enumerate(result.tubes):
        tubes.append({"id": i, "score": t.score, "start_frame": t.start_frame, "end_frame": t.end_frame,
                      "boxes": np.round(t.boxes.cpu().numpy().astype(np.float64), 2).tolist(),
                      "scores": None if t.scores is None
                      else np.round(t.scores.cpu().numpy().astype(np.float64), 4).tolist()})
    obj = {k: getattr(result, k) for k in ("video_id", "fps", "num_frames", "width", "height", "stride",
                                           "detector", "linking", "report")}
    if result.tighten:
        obj["tighten"] = result.tighten
    obj["tubes"] = tubes
    return obj


def write_tubes_json(path: str, result: VideoTubes) -> None:
    """Write ``result`` (see the module docstring for the format) atomically."""
    atomic_write_json(path, tubes_to_json(result))


def read_tubes_json(path: str) -> VideoTubes:
    """Read a tube file; a malformed file raises ``ValueError`` naming the file, the video, the tube
    and the field (integers must be JSON integers, numbers finite, boxes ``[[x1, y1, x2, y2], ...]``)."""
    obj = read_json(path, "tube file")
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a valid tube file (top level is {type(obj).__name__}, not an object)")
    vid = obj.get("video_id")
    if not isinstance(vid, str) or not vid:
        raise ValueError(f"{path}: not a valid tube file (video_id is {vid!r}, not a video id)")
    where = f"{path}: video {vid}"
    fps = field_number(obj, "fps", where, positive=True)
    num_frames, width, height, stride = (field_int(obj, k, where, 1)
                                         for k in ("num_frames", "width", "height", "stride"))
    extra = {}
    for key in ("detector", "linking", "report", "tighten"):
        extra[key] = obj.get(key, {})
        if not isinstance(extra[key], dict):
            raise ValueError(f"{where}: {key}: expected an object, got {type(extra[key]).__name__}")
    raw = obj.get("tubes")
    if not isinstance(raw, list):
        raise ValueError(f"{where}: tubes: expected a list, got {type(raw).__name__}")
    tubes = [tube_from_json(t, f"{where}: tube {k}") for k, t in enumerate(raw)]
    return VideoTubes(vid, fps, num_frames, width, height, stride, tubes, **extra)


def read_tube_folder(folder: str, video_ids: Sequence[str]) -> Dict[str, List[Tube]]:
    """``{video id: [Tube]}`` from the tube files in ``folder`` (every ``*.json``, matched by the
    ``video_id`` they hold, which must equal the id exactly: :mod:`stvg.data.ids`).

    Raises ``ValueError`` when the folder holds no tube file, when two files hold the same video,
    or when no file matches any of ``video_ids`` (the usual sign of ids made by another rule); logs
    a warning naming the videos that have no tube file."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"tube folder not found: {folder}")
    found: Dict[str, str] = {}
    tubes: Dict[str, List[Tube]] = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if not name.endswith(".json") or not os.path.isfile(path):
            continue
        result = read_tubes_json(path)
        if result.video_id in found:
            raise ValueError(f"{path}: video {result.video_id!r} also has the tube file {found[result.video_id]}")
        found[result.video_id] = path
        tubes[result.video_id] = result.tubes
    if not found:
        raise ValueError(f"no tube file (*.json) in {folder}")
    wanted = list(video_ids)
    out = {v: tubes[v] for v in wanted if v in tubes}
    if not out:
        raise ValueError(f"no tube file in {folder} matches any video id: the files hold "
                         f"{sorted(found)[:3]}, the videos are {wanted[:3]} (ids are file names with "
                         "their extension; rebuild tubes made by an older version)")
    missing = [v for v in wanted if v not in tubes]
    if missing:
        log.warning("%d of %d videos have no tube file in %s (e.g. %s)", len(missing), len(wanted), folder,
                    ", ".join(missing[:3]))
    return out
