"""What is MMN's own about its checkpoints: which config keys shape the model and which may change
on resume. Files, ``last``/``best`` and RNG capture are :mod:`stvg.engine` / :mod:`stvg.checkpoint`."""
from __future__ import annotations

from typing import Mapping

from stvg.engine import CheckpointConfigError, config_diff

__all__ = ["ARCH_KEYS", "RESUME_FREE", "LEAVES", "check_model_config"]

# MODEL keys that change the parameters' shapes or meaning.
ARCH_KEYS = ("FEAT_DIM", "NUM_PRE_CLIPS", "NUM_CLIPS", "HIDDEN", "JOINT_DIM", "POOL_KERNEL",
             "POOLING_COUNTS", "CONV_KERNEL", "CONV_LAYERS", "TEXT_CONFIG_OVERRIDES")
# Keys that may change between an interrupted run and its --resume (they do not change the epochs
# already run; a larger SOLVER.EPOCHS extends a finished run).
RESUME_FREE = ("OUTPUT_DIR", "SOLVER.NUM_WORKERS", "SOLVER.EPOCHS", "DEVICE", "DATASET.SKIP_MISSING", "TEST.BATCH_SIZE",
               "DATASET.TRAIN_ANN", "DATASET.VAL_ANN", "DATASET.TEST_ANN", "DATASET.FEATURES", "DATASET.TUBES",
               "MODEL.TEXT_ENCODER", "MODEL.TOKENIZER")
LEAVES = ("TEXT_CONFIG_OVERRIDES",)  # mapping-valued options compared whole


def check_model_config(ckpt: Mapping, cfg, source: str) -> None:
    """Raise :class:`CheckpointConfigError` naming every architecture key (``MODEL.*``) that differs."""
    saved = ckpt.get("config")
    if not isinstance(saved, Mapping) or "MODEL" not in saved:
        return  # no config stored: the strict state_dict load is the only check
    diffs = config_diff(saved, cfg.to_dict(), [f"MODEL.{k}" for k in ARCH_KEYS], leaves=LEAVES)
    if diffs:
        raise CheckpointConfigError(f"{source} was trained with another model config:\n  " + "\n  ".join(diffs))
