"""Extraction over many videos: sharded, resumable, one broken video never stops the run.

    summary = extract_features(videos, "features.h5", cfg, device="cuda")   # videos: [(id, path)]

Each process takes its share of the ids (:func:`stvg.sharding.shard_items`: ``num_shards``/``shard``
or torchrun's WORLD_SIZE/RANK), skips the ids already in the output or in a part file, decodes in
``RUN.NUM_WORKERS`` DataLoader workers while the backbone runs, and writes one part file per video
(:mod:`stvg.features.store`, a :class:`stvg.store.VideoStore`). The process that finds every id
accounted for merges the parts into the output. Unreadable videos are recorded with their reason and
reported in the :class:`stvg.store.JobSummary`.

Progress (``progress=True``, :func:`stvg.engine.logs.progress_bar`): videos done with an ETA, and
within the video in hand its frames (clips for clip models) through the backbone, plus the
frames decoded so far of the videos being decoded (a nested bar when decoding inline, the
``decoding=`` postfix when DataLoader workers decode). ``salvage`` (None: the
:func:`stvg.video.salvaging` setting): files cut short are read up to where they break; the
part says so (``salvaged`` attribute) and :func:`stvg.video.note_salvaged` records it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import yaml
from torch.utils.data import DataLoader

from ..config import Config
from ..data.ids import check_video_id
from ..engine.logs import progress_bar
from ..sharding import resolve_shard, shard_items
from ..store import JobSummary, VideoStore
from ..structures import Tube
from .decode import DecodeProgress, VideoDecodeDataset, first, worker_init
from .defaults import SETTINGS_SECTIONS
from .extractor import FeatureExtractor
from .store import (failures_path, feature_arrays, feature_store, merge_into_hdf5, read_output_ids,
                    recorded_settings)

__all__ = ["extract_features", "feature_settings", "settings_yaml"]

log = logging.getLogger(__name__)


def feature_settings(cfg: Config) -> Dict[str, dict]:
    """The sections the features depend on (not RUN): recorded and checked on resume. A crop net
    (``ROI.CROP_NET``) is recorded by its identity (:func:`stvg.features.crop_net.crop_net_identity`:
    its weights' fingerprint), not its path: a retrained net at the same path is other features."""
    out = {k: cfg[k].to_dict() for k in SETTINGS_SECTIONS}
    if cfg.ROI.CROP_NET:
        from .crop_net import file_identity

        out["ROI"]["CROP_NET"] = file_identity(cfg.ROI.CROP_NET)
    return out


def settings_yaml(cfg: Config) -> str:
    """:func:`feature_settings` as YAML (the output file's ``settings`` attribute)."""
    return yaml.safe_dump(feature_settings(cfg), sort_keys=True)


def extract_features(videos: Sequence[Tuple[str, str]], out: str, cfg: Config, device=None,
                     num_shards: Optional[int] = None, shard: Optional[int] = None,
                     tubes: Optional[Mapping[str, Sequence[Tube]]] = None,
                     progress: bool = True,
                     extractor: Optional[FeatureExtractor] = None,
                     salvage: Optional[bool] = None) -> JobSummary:
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
    summary = JobSummary("features", out, failures_path(out), n, i, verb="extracted")
    paths = dict(videos)
    mine = shard_items(ids, n, i)
    summary.num_assigned = len(mine)

    store = feature_store(out, feature_settings(cfg))
    made = _missing_folders(store.root)  # what this run creates (nothing when resuming)
    store.check_settings(recorded_settings(out), source=out)
    done = read_output_ids(out) | store.done_ids()
    todo = [v for v in mine if v not in done]
    summary.num_skipped = len(mine) - len(todo)

    if todo:
        try:
            if extractor is None:
                extractor = FeatureExtractor.from_config(cfg, device if device is not None else "cpu")
            from ..video import salvage_default
            _run(extractor, [(v, paths[v]) for v in todo], store, cfg, extractor.backbone.device, tubes,
                 progress, summary, salvage_default() if salvage is None else bool(salvage))
        except BaseException:  # e.g. the backbone's weights cannot be had offline, Ctrl-C
            _remove_if_unused(store, made)
            raise
    else:
        old = store.failures()
        summary.failures = {v: old[v] for v in mine if v in old}

    bb_name, weights, dim = _describe(cfg, extractor)
    attrs = {"backbone": bb_name, "weights": weights, "feature_dim": dim, "settings": settings_yaml(cfg)}
    def combine(parts) -> None:
        merge_into_hdf5(out, store, parts, attrs)
        if os.path.exists(out):
            cfg.dump(out + ".config.yaml")  # the resolved config, next to the output (none without one)

    return summary.finish(store.merge(ids, combine, existing=lambda: read_output_ids(out), cleanup=True))


def _missing_folders(root: str) -> List[str]:
    """``root`` and the folders above it that do not exist yet, deepest first."""
    missing, path = [], os.path.abspath(root)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        missing.append(path)
        path = os.path.dirname(path)
    return missing


def _remove_if_unused(store: VideoStore, made: List[str]) -> None:
    """Remove the parts folder (and the folders above it) that this run made (``made``, deepest
    first) when it holds nothing but the recorded settings: a run stopped before any video was
    extracted or failed leaves nothing behind. A folder holding a part or a failure record, or
    one that was there before the run, is kept (resume needs it)."""
    if not made:
        return
    meta = os.path.dirname(store.settings_path)
    failed = os.path.join(meta, "failed")
    with contextlib.suppress(OSError):
        if os.listdir(store.root) != [os.path.basename(meta)]:
            return
        if not set(os.listdir(meta)) <= {"settings.json", "failed"}:
            return
        if os.path.isdir(failed) and os.listdir(failed):
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(store.settings_path)
        for folder in (failed, meta, *made):
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(folder)  # only ever an empty folder


def _describe(cfg: Config, extractor: Optional[FeatureExtractor]) -> Tuple[str, str, int]:
    if extractor is not None:
        bb = extractor.backbone
        return bb.name, bb.weights, bb.feature_dim
    from ..backbones import BACKBONES, weights_label  # same labels without building the model
    name = cfg.BACKBONE.NAME
    return name, weights_label(name, cfg.BACKBONE.WEIGHTS), BACKBONES[name].feature_dim


def _run(extractor: FeatureExtractor, items: List[Tuple[str, str]], store: VideoStore, cfg: Config,
         device: torch.device, tubes, progress: bool, summary: JobSummary, salvage: bool = False) -> None:
    from ..video import note_salvaged, salvage_note

    workers, paths = cfg.RUN.NUM_WORKERS, dict(items)
    bar = progress_bar(total=len(items), unit="video", enabled=progress,
                       desc=f"features {summary.shard}/{summary.num_shards}" if summary.num_shards > 1 else "features")
    inline = _InlineDecodeBar(items, progress) if progress and not workers else None
    decoding = DecodeProgress(max(1, workers), inline) if progress else None
    dataset = VideoDecodeDataset(items, cfg.INPUT.SAMPLE_FPS, extractor.transform,
                                 cfg.RUN.DECODE_THREADS, cfg.RUN.DECODE_CHUNK, salvage, decoding)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # pinning and autocast then stay on this rank's GPU
    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers,
                        collate_fn=first, pin_memory=device.type == "cuda",
                        worker_init_fn=worker_init if workers else None,
                        prefetch_factor=2 if workers else None, persistent_workers=False)
    failures = summary.failures
    poller = _DecodePoller(bar, decoding, items, failures) if progress and workers else None
    try:
        for video in loader:
            if inline is not None:
                inline.close()
            vid = video.video_id
            reason = video.error
            if reason is None:
                total, unit = extractor.progress_total(int(video.frames.shape[0]))
                inner = progress_bar(total=total, desc=f"{vid} features", unit=unit, enabled=progress,
                                     leave=False)
                try:
                    feats = extractor.extract(video, None if tubes is None else tubes.get(vid, []),
                                              progress=lambda done, _t: inner.update(done - inner.n))
                except (RuntimeError, ValueError) as e:  # e.g. a bad tube, out of memory on a huge video
                    reason = f"{type(e).__name__}: {e}"
                else:
                    store.write(vid, feature_arrays(feats))
                    summary.num_done += 1
                    if feats.salvaged is not None:
                        note_salvaged(paths[vid], *feats.salvaged)
                        log.warning("video %s: %s (the file is cut short)", vid, salvage_note(*feats.salvaged))
                finally:
                    inner.close()
            if reason is not None:
                failures[vid] = reason
                store.write_failure(vid, reason)
                log.warning("video %s: %s", vid, reason)
            if poller is None:
                bar.set_postfix(failed=len(failures), refresh=False)
            bar.update(1)
    finally:
        if poller is not None:
            poller.stop()
        if inline is not None:
            inline.close()
        bar.close()


class _InlineDecodeBar:
    """The nested ``<id> decode`` bar (frames) of the video the main process is decoding."""

    def __init__(self, items: List[Tuple[str, str]], enabled: bool) -> None:
        self.items, self.enabled, self.bar, self.item = items, enabled, None, None

    def __call__(self, item: int, done: int, total: int) -> None:
        if self.item != item:
            self.close()
            self.item = item
            self.bar = progress_bar(total=total, desc=f"{self.items[item][0]} decode", unit="frame",
                                    enabled=self.enabled, leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.item = None, None


class _DecodePoller:
    """Every second, the videos the DataLoader workers are decoding, as the bar's postfix
    (``decoding=v7.mp4 120/3000``), and a refresh (so a log line comes even while the main
    process waits for a long video)."""

    def __init__(self, bar, decoding: DecodeProgress, items: List[Tuple[str, str]], failures: Dict[str, str],
                 every: float = 1.0) -> None:
        self.bar, self.decoding, self.items, self.failures, self.every = bar, decoding, items, failures, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="decode-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            busy = [f"{self.items[i][0]} {d}/{t}" for i, d, t in self.decoding.busy() if 0 <= i < len(self.items)]
            post = {"failed": len(self.failures)}
            if busy:
                post["decoding"] = ", ".join(busy)
            self.bar.set_postfix(post, refresh=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
