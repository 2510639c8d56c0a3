"""Test a trained (or converted) checkpoint: R@n,IoU@m (tube mode: m_vIoU, vIoU@R, oracle), metrics
file, score dump."""
from __future__ import annotations

import logging
import os
from typing import Dict, Mapping, Optional


from stvg.io import atomic_torch_save, atomic_write_json

from stvg.checkpoint import load_state_dict, read_checkpoint
from stvg.engine import CheckpointConfigError, resolve_device

from ..checkpoint_import import mmn_config_hint
from .build import build_dataset, build_model, build_test_loader
from .checkpoint import check_model_config
from .inference import run_inference

__all__ = ["evaluate_checkpoint"]

log = logging.getLogger(__name__)


def check_mode(ckpt: Mapping, cfg, source: str) -> None:
    """Raise :class:`CheckpointConfigError` when the checkpoint's ``MODEL.MODE`` (``moment`` when its
    config predates the key) differs from the config's."""
    saved = ckpt.get("config")
    if not isinstance(saved, Mapping) or not isinstance(saved.get("MODEL"), Mapping):
        return
    mode = saved["MODEL"].get("MODE", "moment")
    if mode != cfg.MODEL.MODE:
        raise CheckpointConfigError(f"{source} was trained with another model config:\n  MODEL.MODE: checkpoint "
                                    f"{mode!r}, config {cfg.MODEL.MODE!r}")


def evaluate_checkpoint(cfg, weights: str, out: Optional[str] = None, dump_scores: Optional[str] = None,
                    skip_missing: Optional[bool] = None, progress: bool = True) -> Dict[str, float]:
    """Evaluate ``weights`` on ``DATASET.TEST_ANN``.

    Writes the resolved config next to the outputs (``<out or dump>.config.yaml``, else
    ``OUTPUT_DIR/test_config.yaml``), the metrics JSON to ``out`` and the score dump (dict
    ``"<video_id>/<k>" -> FloatTensor[N, N]``, tube mode ``FloatTensor[K tubes, N, N]``; see
    :func:`run_inference`) to ``dump_scores``, all atomically.
    Raises :class:`stvg.engine.CheckpointConfigError` when the checkpoint was trained
    with another model config, and ``stvg.checkpoint.CheckpointMismatchError`` on missing/unexpected keys.
    """
    ckpt = read_checkpoint(weights)
    check_mode(ckpt, cfg, weights)
    check_model_config(ckpt, cfg, weights)
    device = resolve_device(cfg.DEVICE)
    model, tokenizer = build_model(cfg)
    report = load_state_dict(model, ckpt["model"], weights, hint=mmn_config_hint)
    log.info("loaded %s: %s", weights, report.summary())
    model.to(device)
    dataset = build_dataset(cfg, "test", skip_missing)
    loader = build_test_loader(cfg, dataset, tokenizer, pin_memory=device.type == "cuda")
    metrics, scores = run_inference(model, loader, cfg, device, keep_scores=dump_scores is not None,
                                    progress=progress, amp=bool(cfg.SOLVER.AMP))
    anchor = out or dump_scores
    cfg_path = f"{os.path.splitext(anchor)[0]}.config.yaml" if anchor else \
        os.path.join(cfg.OUTPUT_DIR, "test_config.yaml")
    cfg.dump(cfg_path)
    result = dict(metrics)
    if out:
        atomic_write_json(out, {**result, "num_sentences": dataset.num_queries, "weights": weights,
                                "missing_videos": len(dataset.missing)}, indent=1)
    if dump_scores:
        atomic_torch_save(scores, dump_scores)
    return result
