"""Default configuration of the temporal stage (MMN), Charades-STA values.

Every key a config file or ``KEY VALUE`` override may set is declared here; see
``stvg.config.load_config`` for the strict merge rules. Per-dataset files live in
``configs/temporal/`` and share a ``_BASE_``.

Keys of note:

* ``MODEL.TEXT_ENCODER``: a transformers hub name or a local directory.
  ``MODEL.TOKENIZER``: the same, for the tokenizer; empty means "same as TEXT_ENCODER".
* ``MODEL.TEXT_ENCODER_PRETRAINED``: False builds the architecture ``MODEL.TEXT_ENCODER_ARCH``
  (a transformers ``model_type`` such as ``"distilbert"``) from the library-default config with
  random init, changed by ``MODEL.TEXT_CONFIG_OVERRIDES`` (None or a mapping, e.g.
  ``{dim: 32, n_layers: 1}``). Used offline (checkpoint import, tests).
* ``DEVICE``: "auto" picks CUDA when available (under torchrun: ``cuda:LOCAL_RANK``), else CPU.
* ``MODEL.PROPOSAL_CONV_BANDS``: the proposal convs compute only row bands covering each layer's
  valid cells (this many per layer; the same numbers, less work); 0 runs the literal full-map stack.
* ``LOSS.FULL_CONTRASTIVE_EPOCHS`` (the reference code's ``ONLY_IOU``): the contrastive terms have
  their full weight for epochs <= this, and 0.01 x that weight after it.
* ``SOLVER.FREEZE_TEXT_EPOCHS`` (the reference's ``FREEZE_BERT``, which applies to any encoder): the
  transformers text encoder is frozen for epochs <= this.
* ``LOSS.EXCLUDED_CELLS_IN_DENOMINATOR``: True reproduces the reference code, where same-video
  cells excluded from the sentence->video softmax still add exp(0) = 1 to its denominator.
* ``MODEL.MODE``: ``"moment"`` (MMN on each video's clip features, R@n,IoU@m) or ``"tube"``
  (tube-conditioned MMN, :mod:`temporal.tube_mmn`: one map per candidate tube, read from
  ``DATASET.TUBES`` (one ``<video id>.json`` tube file per video) and the per-tube RoI features
  ``f[vid][DATASET.FEATURE_KEY]`` ``[N, S, C]`` of ``DATASET.FEATURES``; m_vIoU, vIoU@R at
  ``TEST.IOU_THRESHOLDS``). See docs/tube_mmn.md.
* ``LOSS.ST_IOU_PLUS_ONE`` (tube mode): train toward st-IoU targets with the released entry's +1
  box widths instead of the official convention (:func:`temporal.st_iou_map`); evaluation always
  uses the official one.
* ``MODEL.TUBE_GEOMETRY`` (tube mode): each tube segment's row is its L2-normalised RoI features
  followed by the segment's ``GEOMETRY_DIM`` (9) box-geometry values of :mod:`stvg.tube_geometry`
  (position, size, velocity, time, extent, presence: the matcher's), so ``MODEL.FEAT_DIM`` = C + 9.
  Not in the released entry, which sees appearance only; box motion is what tells walking,
  jumping, crouching, entering and leaving apart (docs/tube_mmn.md).
"""
from __future__ import annotations

from typing import Iterable, Optional

from stvg.config import Config, ConfigError, load_config

__all__ = ["TEMPORAL_DEFAULTS", "MODES", "load_temporal_config"]

TEMPORAL_DEFAULTS: dict = {
    "MODEL": {
        "FEAT_DIM": 4096,
        "NUM_PRE_CLIPS": 32,
        "NUM_CLIPS": 16,
        "HIDDEN": 512,
        "JOINT_DIM": 256,
        "POOL_KERNEL": 2,
        "POOLING_COUNTS": [15],
        "CONV_KERNEL": 5,
        "CONV_LAYERS": 8,
        "TEXT_ENCODER": "distilbert-base-uncased",
        "TOKENIZER": "",
        "TEXT_ENCODER_PRETRAINED": True,
        "TEXT_ENCODER_ARCH": "distilbert",
        "TEXT_CONFIG_OVERRIDES": None,
        "IOU_SCALE": 10.0,
        "CONTRASTIVE_SCORE_POW": 0.5,
        "PROPOSAL_CONV_BANDS": 2,
        "MODE": "moment",  # "moment" | "tube"
        "TUBE_GEOMETRY": False,  # tube mode: append each segment's box geometry to its RoI features
    },
    "LOSS": {
        "MIN_IOU": 0.5,
        "MAX_IOU": 1.0,
        "NUM_POSITIVE": 1,
        "MARGIN": 0.4,
        "TAU_VIDEO": 0.1,
        "TAU_SENT": 0.1,
        "NEGATIVE_VIDEO_IOU": 0.5,
        "SENT_REMOVAL_IOU": 0.5,
        "CONTRASTIVE_WEIGHT": 0.05,
        "FULL_CONTRASTIVE_EPOCHS": 7,
        "EXCLUDED_CELLS_IN_DENOMINATOR": True,
        "ST_IOU_PLUS_ONE": False,
    },
    "SOLVER": {
        "LR": 1e-4,
        "BATCH_SIZE": 48,
        "EPOCHS": 18,
        "MILESTONES": [8, 13],
        "GAMMA": 0.1,
        "TEXT_LR_FACTOR": 0.1,
        "WEIGHT_DECAY": 1e-5,
        "BETAS": [0.9, 0.99],
        "CLIP_GRAD": 5.0,
        "FREEZE_TEXT_EPOCHS": 4,
        "AMP": True,
        "SEED": 0,
        "NUM_WORKERS": 0,
    },
    "DATASET": {
        "NAME": "charades",
        "TRAIN_ANN": "",
        "VAL_ANN": "",
        "TEST_ANN": "",
        "FEATURES": "",
        "FEATURE_KEY": "",
        "SKIP_MISSING": False,
        "MAX_SENT_LEN": 64,
        "TUBES": "",  # tube mode: folder of tube files, one <video id>.json per video
    },
    "TEST": {
        "NMS_THRESH": 0.5,
        "IOU_THRESHOLDS": [0.5, 0.7],
        "RECALL_AT": [1, 5],
        "BATCH_SIZE": 16,
    },
    "OUTPUT_DIR": "outputs/temporal",
    "DEVICE": "auto",  # "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:1", ...
}


MODES = ("moment", "tube")


def load_temporal_config(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Config:
    """Frozen temporal config: defaults <- ``path`` (with its ``_BASE_`` chain) <- overrides.

    Raises :class:`stvg.config.ConfigError` when ``MODEL.MODE`` is not one of :data:`MODES`."""
    cfg = load_config(path, TEMPORAL_DEFAULTS, overrides)
    if cfg.MODEL.MODE not in MODES:
        raise ConfigError(f"{path or '<defaults>'}: MODEL.MODE must be one of {list(MODES)}, "
                          f"got {cfg.MODEL.MODE!r}")
    if cfg.MODEL.TUBE_GEOMETRY and cfg.MODEL.MODE != "tube":
        raise ConfigError(f"{path or '<defaults>'}: MODEL.TUBE_GEOMETRY needs MODEL.MODE tube (clip features "
                          "have no boxes)")
    return cfg
