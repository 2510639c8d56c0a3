"""Defaults of the spatial-stage config: detector, detection schedule/cache, linking, box tightening.

Every key a YAML file or ``KEY VALUE`` override may set is listed here (strict: a typo is an error).
"""
from __future__ import annotations

from typing import Iterable, Optional

from stvg.config import Config, ConfigError, load_config

from .tighten import TightenParams

__all__ = ["SPATIAL_DEFAULTS", "load_spatial_config", "detector_options"]

SPATIAL_DEFAULTS = {
    "DETECTOR": {
        # Only the chosen backend's section is used; detector_options() below maps its keys to the
        # backend's keyword options (see docs/spatial.md).
        "NAME": "hog",              # hog | torchvision | detectron2 | precomputed
        "SCORE_THRESHOLD": None,    # null: the backend's default (hog 0.0 SVM margin, others 0.5)
        "TOP_K": 30,                # at most this many persons per frame, best first (<= 0: no cap)
        "BATCH_SIZE": None,         # frames per forward pass (null: the backend's default)
        "DEVICE": "auto",           # auto (CUDA when available) | cpu | cuda | cuda:1 ...
        "HOG": {
            "UPSCALE": 1.0,         # enlarge frames first (HOG needs people >= ~96 px tall)
            "WIN_STRIDE": 8,
            "PADDING": 8,
            "SCALE": 1.05,
            "GROUP_THRESHOLD": 2.0,
            "MARGINS": [0.25, 0.125],
            "NMS_IOU": 0.0,         # > 0: torchvision.ops.nms on the grouped windows
        },
        "TORCHVISION": {
            "MODEL": "fasterrcnn_resnet50_fpn_v2",  # | fasterrcnn_mobilenet_v3_large_fpn | retinanet_resnet50_fpn_v2
            "WEIGHTS": "DEFAULT",   # torchvision weights name (downloads), a local state-dict file; null = random
            "MIN_SIZE": 800,
            "MAX_SIZE": 1333,
        },
        "DETECTRON2": {
            "CONFIG": "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml",  # model-zoo name or a config file
            "WEIGHTS": "model_zoo", # model_zoo (the config's zoo weights), a path or URL as detectron2
                                    # accepts; null / none = random initialisation
            "MIN_SIZE": 0,          # 0 = the config's INPUT.MIN_SIZE_TEST
            "MAX_SIZE": 0,          # 0 = the config's INPUT.MAX_SIZE_TEST
        },
        "PRECOMPUTED": {
            "COCO_RESULTS": "",     # COCO-results JSON (person boxes) ...
            "COCO_IMAGES": "",      # ... and a COCO dataset JSON whose images carry video_id/frame_id
                                    # (or file_name "<video>/<frame>.jpg"); see docs/spatial.md
            "CACHE_DIR": "",        # or a folder of our own detection cache files
            "CATEGORY_ID": 1,       # COCO person
            "FRAME_BASE": 0,        # frame numbers in the JSON minus this = 0-based decoded frames
        },
    },
    "DETECTION": {
        "STRIDE": 4,                # detect every STRIDE-th decoded frame (frames 0, STRIDE, 2*STRIDE ...)
        "CACHE_DIR": "",            # "" = no cache; else one file per video and detector setting
    },
    "LINKING": {
        "IOU_THRESHOLD": 0.3,       # gate: a detection joins a track only with IoU >= this to its prediction
        "APPEARANCE_WEIGHT": 0.0,   # cost = (1-w)(1-IoU) + w(1-cos)/2 when per-box features are given
        "APPEARANCE_MOMENTUM": 0.7, # track feature = m * old + (1-m) * new (then renormalised)
        "MAX_GAP": 3,               # bridge up to this many detection steps without a match
        "MOTION": "velocity",       # velocity (constant velocity over gaps) | last (last box)
        "VELOCITY_MOMENTUM": 0.7,   # v = m * v + (1 - m) * (centre velocity between detections)
        "POSITION_GAIN": 0.5,       # alpha-beta filter: track box += gain * (detection - prediction);
                                    # 1 = the last detection
        "MIN_LENGTH": 3,            # keep tracks with at least this many detections
        "SMOOTH_WINDOW": 1,         # centred moving average over detections (odd; 1 = none)
        "TUBE_NMS_VIOU": 0.7,       # drop a tube whose vIoU with a better kept tube is > this (>= 1: off)
        "LENGTH_PRIOR": 5.0,        # tube score = mean detection score * n / (n + LENGTH_PRIOR)
        "MIN_SCORE": None,          # drop detections below this before linking (null: keep all)
    },
    "TIGHTEN": {                    # fit detection boxes to the person's pixels (spatial/tighten.py)
        "METHOD": "none",           # none | background (static cameras: median background subtraction)
        "THRESHOLD": 25.0,          # foreground: some channel differs from the background by more
        "PAD": 0.15,                # search region = box grown by this share of its size on each side
        "MIN_IOU": 0.55,            # keep the detector's box when the fit overlaps it less
        "MIN_FILL": 0.1,            # ... or when the foreground covers less of the box than this
        "MIN_BLOB": 0.02,           # foreground pieces smaller than this share of the region are noise
        "BACKGROUND_FRAMES": 40,    # frames spread over the video whose median is the background
    },
}


def load_spatial_config(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults <- ``path`` <- ``KEY VALUE`` overrides, checked."""
    cfg = load_config(path, SPATIAL_DEFAULTS, overrides)
    lk = cfg.LINKING
    if not 0.0 <= lk.IOU_THRESHOLD <= 1.0:
        raise ConfigError(f"LINKING.IOU_THRESHOLD must be in [0, 1], got {lk.IOU_THRESHOLD}")
    if lk.MOTION not in ("velocity", "last"):
        raise ConfigError(f"LINKING.MOTION must be 'velocity' or 'last', got {lk.MOTION!r}")
    if lk.SMOOTH_WINDOW < 1 or lk.SMOOTH_WINDOW % 2 == 0:
        raise ConfigError(f"LINKING.SMOOTH_WINDOW must be odd and >= 1, got {lk.SMOOTH_WINDOW}")
    if lk.MAX_GAP < 0 or lk.MIN_LENGTH < 1:
        raise ConfigError("LINKING.MAX_GAP must be >= 0 and MIN_LENGTH >= 1")
    if cfg.DETECTION.STRIDE < 1:
        raise ConfigError(f"DETECTION.STRIDE must be >= 1, got {cfg.DETECTION.STRIDE}")
    try:
        TightenParams.from_config(cfg.TIGHTEN)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return cfg


_RENAMED = {"CATEGORY_ID": "person_category"}
_EMPTY_IS_NONE = {"COCO_RESULTS", "COCO_IMAGES", "CACHE_DIR"}


def detector_options(det_cfg: Config) -> tuple:
    """A ``DETECTOR`` config section -> ``(name, keyword options)`` for
    :func:`spatial.detectors.build_detector`: the chosen backend's section with lower-cased keys
    (``CATEGORY_ID`` -> ``person_category``; empty precomputed paths -> None) plus the common keys
    that are not null (null = the backend's default)."""
    name = det_cfg.NAME
    section = det_cfg.get(name.upper()) if isinstance(name, str) else None
    if section is None:
        raise ConfigError(f"DETECTOR.NAME: unknown detector {name!r}; choose hog, torchvision, "
                          f"detectron2 or precomputed")
    opts = {}
    for key, value in section.to_dict().items():
        if key in _EMPTY_IS_NONE and value == "":
            value = None
        opts[_RENAMED.get(key, key.lower())] = value
    for key in ("SCORE_THRESHOLD", "TOP_K", "BATCH_SIZE", "DEVICE"):
        if det_cfg[key] is not None:
            opts[key.lower()] = det_cfg[key]
    return name, opts
