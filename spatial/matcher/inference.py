"""Test a matcher on ``DATASET.TEST_ANN``: the learned model from a checkpoint, or the zero-shot CLIP
backend reading the videos. What ``tools/test_matcher.py`` calls.

Outputs (each optional): ``out`` metrics JSON (:mod:`spatial.matcher.evaluate`), ``predictions``
JSON ``[{"video_id", "sentence" (a video may hold several queries), "ranking" (tube indices of the tube file, best first), "scores", "viou" (of the
first), "reason" (why a video has no ranking, e.g. "no tubes")}]``, and the resolved config next to
the first of them (``<out>.config.yaml``).
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional

from stvg.config import Config
from stvg.engine import progress_bar, resolve_device
from stvg.io import atomic_write_json

from .data import load_matcher_split
from .evaluate import MatcherEvaluator, evaluate_videos
from stvg.tube_geometry import window_mask
from .model import load_matcher

__all__ = ["test_matcher"]

log = logging.getLogger(__name__)


def _find_video(video_dir: str, vid: str) -> str:
    path = os.path.join(video_dir, vid)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"video {vid}: no file {path} (--video-dir)")
    return path


def test_matcher(cfg, weights: Optional[str] = None, backend: str = "learned", video_dir: Optional[str] = None,
                 out: Optional[str] = None, predictions: Optional[str] = None, progress: bool = True) -> Dict[str, float]:
    """Metrics of ``backend`` ("learned": ``weights`` is a matcher checkpoint, whose config gives
    every ``MODEL`` key; "clip": :class:`~spatial.matcher.clip_backend.ClipTubeMatcher` of
    ``CLIP.MODEL`` over the videos in ``video_dir``) on ``DATASET.TEST_ANN``, windows per ``TEST.WINDOW``."""
    device = resolve_device(cfg.DEVICE)
    ks = [int(k) for k in cfg.TEST.RECALL_K]
    gt_window = cfg.TEST.WINDOW == "gt"
    if backend == "learned":
        if not weights:
            raise ValueError("the learned matcher needs --weights (best.pth of tools/train_matcher.py)")
        model = load_matcher(weights, device)
        if model.cfg.MODEL.to_dict() != cfg.MODEL.to_dict():
            log.info("MODEL settings come from %s (the config's MODEL section is not used)", weights)
        data_cfg = cfg.to_dict()
        data_cfg["MODEL"] = model.cfg.MODEL.to_dict()
        videos, report = load_matcher_split(Config(data_cfg), "test")
        bar = progress_bar(len(videos), desc="matcher test", unit="video", enabled=progress)
        ev = evaluate_videos(model, videos, cfg.TEST.WINDOW, ks, int(cfg.TEST.BATCH_SIZE), progress=bar)
        bar.close()
    elif backend == "clip":
        from .clip_backend import ClipTubeMatcher

        if not video_dir:
            raise ValueError("the clip backend reads the videos: give --video-dir")
        clip = ClipTubeMatcher.from_config(cfg, device)
        videos, report = load_matcher_split(cfg, "test", with_features=False)
        ev = MatcherEvaluator(ks)
        for v in _iter(videos, progress):
            if not v.num_tubes:
                ev.process(v, None)
                continue
            window = v.gt_window if gt_window else None
            scores = clip.score_video(_find_video(video_dir, v.video_id), v.tubes, [v.sentence], window,
                                      v.video_id)[0]
            ev.process(v, scores.cpu(), window_mask(v.layout, window)[0])
    else:
        raise ValueError(f"backend must be 'learned' or 'clip', got {backend!r}")
    metrics = ev.evaluate()
    metrics["backend"] = backend
    metrics["window"] = cfg.TEST.WINDOW
    log.info("%s", report.summary())
    log.info("test: %s", " ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float)))
    first = out or predictions
    if first:
        cfg.dump(os.path.splitext(first)[0] + ".config.yaml")
    if out:
        atomic_write_json(out, metrics, indent=1)
    if predictions:
        atomic_write_json(predictions, ev.predictions, indent=1)
    return metrics


def _iter(videos, progress: bool):
    bar = progress_bar(len(videos), desc="clip test", unit="video", enabled=progress)
    for v in videos:
        yield v
        bar.update(1)
    bar.close()
