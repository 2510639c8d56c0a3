"""Defaults of the feature-extraction config (every key a YAML file or override may set)."""
from __future__ import annotations

from typing import Iterable, Optional

from ..backbones import BACKBONES
from ..config import Config, load_config

__all__ = ["FEATURES_DEFAULTS", "load_features_config", "SETTINGS_SECTIONS", "roi_stage", "roi_feature_dim",
           "roi_description"]

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
        "OUTPUT_SIZE": 7,        # roi_align grid per box (per part), averaged to one vector
        "STAGE": None,           # backbone stage whose feature map the boxes are pooled from:
                                 # null = the last (stride 32); 1-4 for the ResNets (stride 4-32)
        "PARTS": 1,              # horizontal stripes of each box pooled apart, top first, concatenated:
                                 # C = the stage's channels x PARTS (roi_feature_dim)
        "SAMPLING_RATIO": 2,
        "NUM_SEGMENTS": 16,      # per-tube features are pooled over time into this many rows
        "CROP_NET": "",          # a crop-net file (tools/train_crop_net.py): its EMBED_DIM embedding of
                                 # each box's crop is appended to the RoI row; "" or null = none
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
    for key in ("OUTPUT_SIZE", "NUM_SEGMENTS", "PARTS"):
        if cfg.ROI[key] < 1:
            raise ConfigError(f"ROI.{key} must be >= 1, got {cfg.ROI[key]}")
    stage, spec = cfg.ROI.STAGE, BACKBONES.get(cfg.BACKBONE.NAME)
    if stage is not None and (isinstance(stage, bool) or not isinstance(stage, int)):
        raise ConfigError(f"ROI.STAGE must be null or a stage number (an integer), got {stage!r}")
    if stage is not None and spec is not None:
        try:
            spec.check_stage(stage)
        except ValueError as e:
            raise ConfigError(f"ROI.STAGE {stage}: {e}; leave ROI.STAGE null for the last stage") from None
    if cfg.ROI.CROP_NET is not None and not isinstance(cfg.ROI.CROP_NET, str):
        raise ConfigError(f"ROI.CROP_NET must be a crop-net file path, or \"\" / null for none, "
                          f"got {cfg.ROI.CROP_NET!r}")
    for key in ("BATCH_SIZE", "DECODE_CHUNK"):
        if cfg.RUN[key] < 1:
            raise ConfigError(f"RUN.{key} must be >= 1, got {cfg.RUN[key]}")
    if cfg.RUN.NUM_WORKERS < 0:
        raise ConfigError(f"RUN.NUM_WORKERS must be >= 0, got {cfg.RUN.NUM_WORKERS}")


def roi_stage(cfg: Config) -> int:
    """The backbone stage (1-based) whose map RoI features are pooled from: ``ROI.STAGE``, null = the last."""
    return BACKBONES[cfg.BACKBONE.NAME].num_stages if cfg.ROI.STAGE is None else int(cfg.ROI.STAGE)


def roi_feature_dim(cfg: Config) -> int:
    """``C`` of the RoI features a features config gives: the stage's channels x ``ROI.PARTS``
    (512 for resnet18 with the defaults; 64 x 3 = 192 with ``ROI.STAGE 1``, ``ROI.PARTS 3``), plus
    the crop net's embedding width with ``ROI.CROP_NET`` (:data:`stvg.features.crop_net.EMBED_DIM`)."""
    from .crop_net import EMBED_DIM

    return (BACKBONES[cfg.BACKBONE.NAME].stage_dim(roi_stage(cfg)) * int(cfg.ROI.PARTS)
            + (EMBED_DIM if cfg.ROI.CROP_NET else 0))


def roi_description(cfg: Config) -> str:
    """Where RoI features come from, for messages: ``"resnet18 stage 1 (64 channels) x 3 parts"``."""
    k = roi_stage(cfg)
    parts = int(cfg.ROI.PARTS)
    return (f"{cfg.BACKBONE.NAME} stage {k} ({BACKBONES[cfg.BACKBONE.NAME].stage_dim(k)} channels)"
            + (f" x {parts} parts" if parts > 1 else "") + (" + crop net" if cfg.ROI.CROP_NET else ""))
