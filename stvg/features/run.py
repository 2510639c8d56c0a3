"""Extraction over many videos: sharded, resumable, one broken video never stops the run.

    summary = extract_features(videos, "features.h5", cfg, device="cuda")   # videos: [(id, path)]

Each process takes its share of the ids (:func:`stvg.sharding.shard_items`: ``num_shards``/``shard``
or torchrun's WORLD_SIZE/RANK), skips the ids already in the output or in a part file, decodes in
``RUN.NUM_WORKERS`` DataLoader workers while the backbone runs, and writes one part file per video
(:mod:`stvg.features.store`). The process that finds every id accounted for merges the parts into
the output. Unreadable videos are recorded with their reason and reported in the summary.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import yaml
from torch.utils.data import DataLoader

from ..config import Config
from ..sharding import resolve_shard, shard_items
from ..structures import Tube
from .decode import VideoDecodeDataset, first, worker_init
from .defaults import SETTINGS_SECTIONS
from .extractor import FeatureExtractor
from .store import PartStore, check_video_id, failures_path, merge_parts, read_output_ids

__all__ = ["ExtractionSummary", "extract_features", "settings_yaml"]

log = logging.getLogger(__name__)


@dataclass
class ExtractionSummary:
    """What one process did. ``failures``: id -> reason for this shard's unreadable videos;
    ``merged``: whether this process wrote the final file; ``all_failures``: every failure at merge."""

    out: str
    num_shards: int
    shard: int
    num_assigned: int = 0
    num_skipped: int = 0
    num_extracted: int = 0
    failures: Dict[str, str] = field(default_factory=dict)
    merged: bool = False
    all_failures: Dict[str, str] = field(default_factory=dict)

    def message(self) -> str:
        text = (f"shard {self.shard}/{self.num_shards}: {self.num_extracted} extracted, "
                f"{self.num_skipped} already done, {len(self.failures)} failed of {self.num_assigned}")
        if self.merged:
            text += f"; merged into {self.out}"
        else:
            text += (f"; parts kept in {self.out}.parts until every shard is done "
                     f"(the last one to finish merges)")
        failed = self.all_failures or self.failures
        if failed:
            text += f"; {len(failed)} video(s) could not be read, see {failures_path(self.out)}"
        return text


def settings_yaml(cfg: Config) -> str:
    """YAML of the sections the features depend on (not RUN): recorded and checked on resume."""
    return yaml.safe_dump({k: cfg[k].to_dict() for k in SETTINGS_SECTIONS}, sort_keys=True)


def extract_features(videos: Sequence[Tuple[str, str]], out: str, cfg: Config, device=None,
                     num_shards: Optional[int] = None, shard: Optional[int] = None,
                     tubes: Optional[Mapping[str, Sequence[Tube]]] = None,
                     progress: bool = True,
                     extractor: Optional[FeatureExtractor] = None) -> ExtractionSummary:
    """Extract ``videos`` (``(video_id, path)`` pairs) into the HDF5 file ``out``; see module docstring.

    ``tubes`` (optional): video id -> tubes whose RoI features are stored as ``roi_features``.
    ``extractor`` (optional): an already built :class:`FeatureExtractor` for ``cfg`` (reused across
    calls); otherwise one is built from ``cfg`` on ``device`` when there is work to do.
    """
    out = os.fspath(out)
    ids = [v for v, _ in videos]
    for vid in ids:
        check_video_id(vid)
    if len(set(ids)) != len(ids):
        dup = sorted({v for v in ids if ids.count(v) > 1})
        raise ValueError(f"duplicate video ids: {dup[:5]}")
    n, i = resolve_shard(num_shards, shard)
    summary = ExtractionSummary(out, n, i)
    paths = dict(videos)
    mine = shard_items(ids, n, i)
    summary.num_assigned = len(mine)

    store = PartStore(out)
    have = read_output_ids(out)
    settings = settings_yaml(cfg)
    store.check_settings(settings)
    cfg.dump(out + ".config.yaml")  # the resolved config, next to the output
    done = have | store.done_ids()
    todo = [v for v in mine if v not in done]
    summary.num_skipped = len(mine) - len(todo)

    if todo:
        if extractor is None:
            extractor = FeatureExtractor.from_config(cfg, device if device is not None else "cpu")
        device = extractor.backbone.device
        summary_failures = _run(extractor, [(v, paths[v]) for v in todo], store, cfg, device,
                                tubes, progress, summary)
        summary.failures = summary_failures
    else:
        old = store.failures()
        summary.failures = {v: old[v] for v in mine if v in old}

    bb_name, weights, dim = _describe(cfg, extractor)
    attrs = {"backbone": bb_name, "weights": weights, "feature_dim": dim, "settings": settings}
    merged = merge_parts(out, ids, attrs)
    if merged is not None:
        summary.merged, summary.all_failures = True, merged
    return summary


def _describe(cfg: Config, extractor: Optional[FeatureExtractor]) -> Tuple[str, str, int]:
    if extractor is not None:
        bb = extractor.backbone
        return bb.name, bb.weights, bb.feature_dim
    from ..backbones import BACKBONES, weights_label  # same labels without building the model
    name = cfg.BACKBONE.NAME
    return name, weights_label(name, cfg.BACKBONE.WEIGHTS), BACKBONES[name].feature_dim


def _run(extractor: FeatureExtractor, items: List[Tuple[str, str]], store: PartStore, cfg: Config,
         device: torch.device, tubes, progress: bool, summary: ExtractionSummary) -> Dict[str, str]:
    from tqdm import tqdm

    dataset = VideoDecodeDataset(items, cfg.INPUT.SAMPLE_FPS, extractor.transform,
                                 cfg.RUN.DECODE_THREADS, cfg.RUN.DECODE_CHUNK)
    workers = cfg.RUN.NUM_WORKERS
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # pinning and autocast then stay on this rank's GPU
    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers,
                        collate_fn=first, pin_memory=device.type == "cuda",
                        worker_init_fn=worker_init if workers else None,
                        prefetch_factor=2 if workers else None, persistent_workers=False)
    failures: Dict[str, str] = {}
    bar = tqdm(total=len(items), unit="video", disable=not progress, dynamic_ncols=True,
               desc=f"features {summary.shard}/{summary.num_shards}" if summary.num_shards > 1 else "features")
    for video in loader:
        vid = video.video_id
        reason = video.error
        if reason is None:
            try:
                feats = extractor.extract(video, None if tubes is None else tubes.get(vid, []))
            except (RuntimeError, ValueError) as e:  # e.g. a bad tube, out of memory on a huge video
                reason = f"{type(e).__name__}: {e}"
            else:
                store.write(vid, feats)
                summary.num_extracted += 1
        if reason is not None:
            failures[vid] = reason
            store.write_failure(vid, reason)
            log.warning("video %s: %s", vid, reason)
        bar.set_postfix(failed=len(failures), refresh=False)
        bar.update(1)
    bar.close()
    return failures
