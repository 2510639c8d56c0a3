"""Defaults of the feature-extraction config (every key a YAML file or override may set)."""
from __future__ import annotations

from typing import Iterable, Optional

from ..config import Config, load_config

__all__ = ["FEATURES_DEFAULTS", "load_features_config", "SETTINGS_SECTIONS"]

FEATURES_DEFAULTS = {
    "BACKBONE": {
        "NAME": "resnet18",      # resnet18 | resnet50 (frame) | r2plus1d_18 | s3d | mvit_v2_s (clip)
        "WEIGHTS": "DEFAULT",    # torchvision weights name, a local state-dict file, or "none"
        "AMP": True,             # float16 autocast on CUDA (ignored on CPU)
        "SEED": 0,               # random initialisation seed when WEIGHTS is "none"
    },
    "INPUT": {
        "SAMPLE_FPS": 5.0,       # frames decoded per second of video
        "RESIZE": None,          # null: the weights' own size (frame models: shorter side = crop size);
                                 # an int: shorter side; [h, w]: exact size
        "CROP": None,            # clip models: null = the weights' centre crop, 0 = none, int or [h, w];
                                 # frame models never crop (whole frame kept for RoI features)
    },
    "CLIPS": {
        "LEN": 1,                # sampled frames per clip feature (frame models average them)
        "STRIDE": 0,             # sampled frames between clip starts; 0 = LEN (no overlap)
    },
    "ROI": {
        "OUTPUT_SIZE": 7,        # roi_align grid per box, averaged to one vector
        "SAMPLING_RATIO": 2,
        "NUM_SEGMENTS": 16,      # per-tube features are pooled over time into this many rows
    },
    "RUN": {
        "BATCH_SIZE": 64,        # frames (frame models) or clips (clip models) per forward
        "NUM_WORKERS": 2,        # DataLoader processes decoding ahead of the backbone (0 = inline)
        "DECODE_THREADS": 1,     # decoder threads per worker
        "DECODE_CHUNK": 32,      # frames decoded and resized at once (bounds memory on HD videos)
    },
}

SETTINGS_SECTIONS = ("BACKBONE", "INPUT", "CLIPS", "ROI")  # what the features depend on (not RUN)


def load_features_config(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults <- ``path`` <- ``KEY VALUE`` overrides, checked (see :func:`stvg.config.load_config`)."""
    cfg = load_config(path, FEATURES_DEFAULTS, overrides)
    _check(cfg)
    return cfg


def _check(cfg: Config) -> None:
    from ..config import ConfigError

    if cfg.INPUT.SAMPLE_FPS <= 0:
        raise ConfigError(f"INPUT.SAMPLE_FPS must be positive, got {cfg.INPUT.SAMPLE_FPS}")
    if cfg.CLIPS.LEN < 1 or cfg.CLIPS.STRIDE < 0:
        raise ConfigError(f"CLIPS.LEN must be >= 1 and CLIPS.STRIDE >= 0, got {cfg.CLIPS.LEN}, "
                          f"{cfg.CLIPS.STRIDE}")
    for key in ("OUTPUT_SIZE", "NUM_SEGMENTS"):
        if cfg.ROI[key] < 1:
            raise ConfigError(f"ROI.{key} must be >= 1, got {cfg.ROI[key]}")
    for key in ("BATCH_SIZE", "DECODE_CHUNK"):
        if cfg.RUN[key] < 1:
            raise ConfigError(f"RUN.{key} must be >= 1, got {cfg.RUN[key]}")
    if cfg.RUN.NUM_WORKERS < 0:
        raise ConfigError(f"RUN.NUM_WORKERS must be >= 0, got {cfg.RUN.NUM_WORKERS}")
