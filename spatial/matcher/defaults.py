"""Defaults of the tube matcher config (strict: every key a YAML file or override may set is here).

Keys of note, by section:

``MODEL`` (the network; everything here is saved in a model file's config)
    ``TEXT_ENCODER`` / ``TOKENIZER`` (empty: same as the encoder) / ``TEXT_ENCODER_PRETRAINED`` /
    ``TEXT_ENCODER_ARCH`` / ``TEXT_CONFIG_OVERRIDES``: the sentence encoder (:mod:`stvg.text`).
    ``FREEZE_TEXT``: the encoder is not trained and its weights are not saved (a model file then
    reloads them from ``TEXT_ENCODER``). ``MAX_TOKENS``: longer sentences are truncated (warning).
    ``ROI_DIM`` (C of the RoI features), ``NUM_SEGMENTS`` (S), ``HIDDEN``, ``JOINT_DIM``,
    ``TEMPORAL_LAYERS`` (residual masked conv1d layers over the segments), ``KERNEL``, ``DROPOUT``.
    ``WINDOW_CONTEXT``: the layers see the whole tube with each segment flagged in or out of the
    window (false: they see the window's segments only); the mean is over the window either way.
    ``USE_APPEARANCE`` / ``USE_GEOMETRY``: which tube inputs are used (ablations).
    ``IOU_HEAD``: a second branch whose sigmoid(IOU_SCALE * cosine) predicts the tube's vIoU.
    Test-time fusion: ``score = ((cos_con + 1) / 2) ** SCORE_POW * iou`` with the IoU head, else
    ``(cos_con + 1) / 2``; a tube that does not overlap the window scores ``that - OUTSIDE_PENALTY``.
``LOSS``
    ``POS_VIOU``: a tube is a positive of its video's sentence when its vIoU with the ground truth,
    restricted to the ground-truth span, exceeds this; ``NEG_VIOU``: same-video tubes below it are
    negatives (between the two: neither). ``TAU_SENT`` / ``TAU_TUBE``: temperatures of the
    sentence->tubes and tube->sentences softmaxes; ``MARGIN``: subtracted from the positive pair's
    cosine in both. Another sentence of the same video is a negative of a tube only when that tube's
    vIoU with its ground truth is below ``NEG_VIOU`` (it may describe the same person). ``CROSS_VIDEO``: tubes of other videos are
    negatives of a sentence (False: own video only). ``W_SENT``, ``W_TUBE``, ``W_IOU``: weights of the
    three terms; ``MIN_IOU`` / ``MAX_IOU``: the IoU head's target is clamp((vIoU - MIN) / (MAX - MIN)).
``SOLVER``
    ``BATCH_SIZE`` in videos; ``TEXT_LR_FACTOR`` (fine-tuned encoder's lr = LR x this); ``AMP`` (CUDA
    only); ``TRAIN_WINDOW``: "gt" (tubes seen through the ground-truth span, as at test time given
    the temporal stage's span), "none" (whole tubes), "mixed" (each sample one or the other at random),
    "proposals" (each sample's tubes seen through a window drawn like the temporal stage's moments:
    the ground-truth span with probability ``PROPOSAL_GT_PROB``, otherwise a moment of the video's
    ``PROPOSAL_GRID`` equal cells, start and end cell uniform with start <= end; every tube's target,
    for the positives, the negatives and the IoU head, is then the official vIoU of the tube cut to
    that window against the ground truth, :func:`spatial.matcher.data.window_viou`, so the score
    learns to drop when the window is wrong). ``SEED``: every epoch's order and window draws come
    from (``SEED``, epoch) only (exact resume). ``PROPOSAL_GT_PROB`` (in [0, 1]) and
    ``PROPOSAL_GRID`` (>= 1) are read only by "proposals".
``DATASET``
    ``TRAIN_ANN`` / ``VAL_ANN`` / ``TEST_ANN`` (HC-STVG format), ``TUBES`` (folder of tube files),
    ``FEATURES`` (HDF5 with ``f[vid]["roi_features"]``), ``SKIP_MISSING`` (videos without tubes or
    features are skipped and counted, not an error).
``TEST``
    ``WINDOW``: "gt" (score within the ground-truth span) or "none"; ``RECALL_K``; ``BATCH_SIZE``.
``CLIP`` (the zero-shot backend, :mod:`spatial.matcher.clip_backend`)
    ``MODEL``: hub name or local directory of a transformers CLIP model; ``CROPS_PER_TUBE``: person
    crops sampled evenly along the tube (inside the window when given); ``CONTEXT``: fraction of the
    box added around each crop; ``BATCH_SIZE``.
"""
from __future__ import annotations

from typing import Iterable, Optional

from stvg.config import Config, ConfigError, load_config
from stvg.text import OFFLINE_ENCODER

__all__ = ["MATCHER_DEFAULTS", "load_matcher_config", "check_matcher_config", "matcher_config_from_dict", "TRAIN_WINDOWS", "TEST_WINDOWS"]

TRAIN_WINDOWS = ("gt", "none", "mixed", "proposals")
TEST_WINDOWS = ("gt", "none")

MATCHER_DEFAULTS = {
    "MODEL": {
        "TEXT_ENCODER": OFFLINE_ENCODER,
        "TOKENIZER": "",
        "TEXT_ENCODER_PRETRAINED": True,
        "TEXT_ENCODER_ARCH": "bert",
        "TEXT_CONFIG_OVERRIDES": None,
        "FREEZE_TEXT": True,
        "MAX_TOKENS": 64,
        "ROI_DIM": 512,
        "NUM_SEGMENTS": 16,
        "HIDDEN": 128,
        "JOINT_DIM": 128,
        "TEMPORAL_LAYERS": 2,
        "KERNEL": 3,
        "DROPOUT": 0.1,
        "WINDOW_CONTEXT": False,     # true: the layers see the whole tube, each segment flagged in or out of
                                     # the window, and only the pooling keeps to the window (see model.py)
        "USE_APPEARANCE": True,
        "USE_GEOMETRY": True,
        "IOU_HEAD": True,
        "IOU_SCALE": 10.0,
        "SCORE_POW": 1.0,
        "OUTSIDE_PENALTY": 1.0,
        "SPAN_HEAD": False,          # true: also a per-segment span head (spatial/matcher/span.py)
        "SPAN_LAYERS": 2,
        "SPAN_HEADS": 4,
    },
    "LOSS": {
        "POS_VIOU": 0.5,
        "NEG_VIOU": 0.3,
        "TAU_SENT": 0.1,
        "TAU_TUBE": 0.1,
        "MARGIN": 0.2,
        "CROSS_VIDEO": True,
        "W_SENT": 1.0,
        "W_TUBE": 1.0,
        "W_IOU": 1.0,
        "MIN_IOU": 0.3,
        "MAX_IOU": 0.9,
        "W_SPAN": 1.0,
        "SPAN_IOU": 0.5,
    },
    "SOLVER": {
        "LR": 1e-3,
        "TEXT_LR_FACTOR": 0.1,
        "WEIGHT_DECAY": 1e-4,
        "BATCH_SIZE": 32,
        "EPOCHS": 30,
        "MILESTONES": [20, 26],
        "GAMMA": 0.1,
        "CLIP_GRAD": 5.0,
        "AMP": True,
        "SEED": 0,
        "TRAIN_WINDOW": "gt",
        "PROPOSAL_GT_PROB": 0.3,
        "PROPOSAL_GRID": 16,
    },
    "DATASET": {
        "TRAIN_ANN": "",
        "VAL_ANN": "",
        "TEST_ANN": "",
        "TUBES": "",
        "FEATURES": "",
        "SKIP_MISSING": False,
        "CLIP_SECONDS": 20.0,
    },
    "TEST": {
        "WINDOW": "gt",
        "RECALL_K": [1, 3, 5],
        "BATCH_SIZE": 64,
    },
    "CLIP": {
        "MODEL": "openai/clip-vit-base-patch32",
        "CROPS_PER_TUBE": 4,
        "CONTEXT": 0.1,
        "BATCH_SIZE": 32,
    },
    "OUTPUT_DIR": "runs/matcher",
    "DEVICE": "auto",
}


def check_matcher_config(cfg: Config) -> Config:
    """Value checks the type rules of :func:`stvg.config.load_config` cannot make."""
    m, lo, so = cfg.MODEL, cfg.LOSS, cfg.SOLVER
    for key in ("ROI_DIM", "NUM_SEGMENTS", "HIDDEN", "JOINT_DIM", "KERNEL"):
        if int(m[key]) < 1:
            raise ConfigError(f"MODEL.{key} must be >= 1, got {m[key]}")
    if int(m.KERNEL) % 2 == 0:
        raise ConfigError(f"MODEL.KERNEL must be odd (centred convolution), got {m.KERNEL}")
    if not (m.USE_APPEARANCE or m.USE_GEOMETRY):
        raise ConfigError("MODEL.USE_APPEARANCE and MODEL.USE_GEOMETRY cannot both be False")
    if not 0.0 <= lo.NEG_VIOU <= lo.POS_VIOU < 1.0:
        raise ConfigError(f"need 0 <= LOSS.NEG_VIOU ({lo.NEG_VIOU}) <= LOSS.POS_VIOU ({lo.POS_VIOU}) < 1")
    if not lo.MAX_IOU > lo.MIN_IOU:
        raise ConfigError(f"LOSS.MAX_IOU ({lo.MAX_IOU}) must be > LOSS.MIN_IOU ({lo.MIN_IOU})")
    for key in ("TAU_SENT", "TAU_TUBE"):
        if not lo[key] > 0:
            raise ConfigError(f"LOSS.{key} must be > 0, got {lo[key]}")
    if so.TRAIN_WINDOW not in TRAIN_WINDOWS:
        raise ConfigError(f"SOLVER.TRAIN_WINDOW must be one of {TRAIN_WINDOWS}, got {so.TRAIN_WINDOW!r}")
    if not 0.0 <= float(so.PROPOSAL_GT_PROB) <= 1.0:
        raise ConfigError(f"SOLVER.PROPOSAL_GT_PROB must be in [0, 1], got {so.PROPOSAL_GT_PROB}")
    if int(so.PROPOSAL_GRID) < 1:
        raise ConfigError(f"SOLVER.PROPOSAL_GRID must be >= 1, got {so.PROPOSAL_GRID}")
    if cfg.TEST.WINDOW not in TEST_WINDOWS:
        raise ConfigError(f"TEST.WINDOW must be one of {TEST_WINDOWS}, got {cfg.TEST.WINDOW!r}")
    if int(so.BATCH_SIZE) < 1:
        raise ConfigError(f"SOLVER.BATCH_SIZE must be >= 1, got {so.BATCH_SIZE}")
    return cfg


def load_matcher_config(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults <- ``path`` (with its ``_BASE_`` chain) <- ``KEY VALUE`` overrides, checked, frozen."""
    return check_matcher_config(load_config(path, MATCHER_DEFAULTS, overrides))


def matcher_config_from_dict(data) -> Config:
    """The config saved in a checkpoint (``data["config"]``), merged strictly onto the defaults."""
    cfg = Config(MATCHER_DEFAULTS)
    cfg.merge(data, source="checkpoint config")
    return check_matcher_config(cfg.freeze())
