"""Generate a synthetic HC-STVG-format dataset into a folder.

    out/videos/<id>.mp4           H.264 clips
    out/train.json, val.json, test.json   HC-STVG v1 entries (+ "duration")
    out/all_tubes.json            every person's tube per video (challenge format + fully_visible)
    out/meta.json                 config, seed, failures, and per video: attributes, action spans,
                                  target, description, hard cases

Deterministic: video ``i`` depends only on ``(config, seed, i)``, so the annotation files are
byte-identical for a seed whatever the number of workers. Resumable: a video already on disk
(written atomically) is not rendered again, provided the folder was made with the same seed and
config. A video that fails is listed under ``failures`` in meta.json and left out of the splits;
the batch goes on.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from ...config import Config, load_config
from ...io import atomic_write_json, read_json
from ...video import write_video
from .annotations import hcstvg_entry, meta_entry, tubes_entry, video_key
from .defaults import SYNTH_DEFAULTS, check_synth_config
from .render import render_video
from .spec import sample_video, video_id

__all__ = ["generate", "GenerateReport", "split_assignment", "SPLITS", "make_config"]

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1


@dataclass
class GenerateReport:
    out_dir: str
    num_videos: int
    rendered: int = 0
    reused: int = 0
    failures: Dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    bytes_videos: int = 0

    def summary(self) -> str:
        ok = self.num_videos - len(self.failures)
        rate = self.rendered / self.seconds if self.seconds > 0 else float("nan")
        return (f"{self.out_dir}: {ok}/{self.num_videos} videos ({self.rendered} rendered, {self.reused} reused, "
                f"{len(self.failures)} failed) in {self.seconds:.1f} s ({rate:.2f} rendered videos/s)")


def make_config(config=None, **opts) -> Config:
    """A frozen synth config: defaults <- ``config`` (a Config or plain dict) <- ``opts``, where a
    key names a section and a field joined by ``_`` (``VIDEO_FPS=5``, ``PEOPLE_MAX=3``)."""
    cfg = load_config(None, SYNTH_DEFAULTS, freeze=False)
    if config is not None:
        cfg.merge(config.to_dict() if isinstance(config, Config) else config, "<config>")
    pairs: List[str] = []
    for key, value in opts.items():
        section, _, sub = key.partition("_")
        pairs += [f"{section}.{sub}", value if isinstance(value, str) else str(value)]
    cfg.merge_from_list(pairs)
    return cfg.freeze()


def split_assignment(num_videos: int, seed: int, val: float, test: float) -> List[str]:
    """Split name per video index: a seeded permutation, ``round(test*N)`` test and ``round(val*N)``
    val videos (at least one each from N >= 3), the rest train."""
    n_test, n_val = round(test * num_videos), round(val * num_videos)
    if num_videos >= 3:
        n_test, n_val = max(1, n_test), max(1, n_val)
    perm = np.random.default_rng([seed, 7_777_777]).permutation(num_videos)
    out = ["train"] * num_videos
    for rank, i in enumerate(perm):
        out[i] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return out


def _one_video(args: Tuple[dict, int, int, str, bool]) -> Tuple[int, Optional[tuple], Optional[str], bool, int]:
    """Worker: sample, render, write one video. Returns (index, records, error, rendered, bytes)."""
    cfg_dict, seed, index, out_dir, write_videos = args
    try:
        import cv2
        cv2.setNumThreads(1)
        cfg = make_config(cfg_dict)
        spec = sample_video(cfg, seed, index)
        path = os.path.join(out_dir, "videos", video_key(spec))
        rendered = False
        if write_videos and not os.path.exists(path):
            write_video(path, render_video(spec, noise=cfg.VIDEO.NOISE), spec.fps, crf=cfg.VIDEO.CRF)
            rendered = True
        size = os.path.getsize(path) if write_videos else 0
        return index, (video_key(spec), hcstvg_entry(spec), tubes_entry(spec), spec), None, rendered, size
    except Exception as e:  # one broken video never aborts the batch
        return index, None, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}", False, 0


def generate(out_dir: str, num_videos: int, seed: int = 0, config: Optional[Config] = None,
             workers: int = 1, write_videos: bool = True, progress: bool = False, **opts) -> GenerateReport:
    """Generate ``num_videos`` videos with ``seed`` into ``out_dir`` (see the module docstring).

    ``config``: a synth config (:func:`stvg.data.synthetic.load_synth_config`); ``opts`` override
    single keys, e.g. ``VIDEO_DURATION=4, VIDEO_WIDTH=320, PEOPLE_MAX=3``. ``write_videos=False``
    writes only the JSON files (fast; for tests of the annotations).
    """
    if num_videos < 1:
        raise ValueError(f"num_videos must be >= 1, got {num_videos}")
    cfg = make_config(config, **opts)
    check_synth_config(cfg)  # every input checked before anything is written
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"output folder {out_dir} is an existing file, not a folder")
    t0 = time.perf_counter()
    os.makedirs(os.path.join(out_dir, "videos"), exist_ok=True)
    meta_path = os.path.join(out_dir, "meta.json")
    identity = {"seed": seed, "config": cfg.to_dict(), "format_version": FORMAT_VERSION}
    if os.path.exists(meta_path):
        old = read_json(meta_path, "synthetic dataset meta file")
        if {k: old.get(k) for k in identity} != identity:
            raise ValueError(f"{out_dir} holds a synthetic dataset made with another seed or config "
                             f"({meta_path}); use a new --out folder or delete it")
    else:  # claim the folder before the long part, so a resumed run checks against it
        atomic_write_json(meta_path, {**identity, "complete": False})
    cfg.dump(os.path.join(out_dir, "config.yaml"))

    report = GenerateReport(out_dir, num_videos)
    jobs = [(cfg.to_dict(), seed, i, out_dir, write_videos) for i in range(num_videos)]
    results: Dict[int, tuple] = {}

    def consume(it: Iterable):
        for n, (index, rec, err, rendered, size) in enumerate(it, 1):
            if err is not None:
                report.failures[video_id(seed, index)] = err
                log.warning("video %s failed: %s", video_id(seed, index), err.splitlines()[0])
            else:
                results[index] = rec
                report.rendered += rendered
                report.reused += (not rendered) and write_videos
                report.bytes_videos += size
            if progress and (n % 50 == 0 or n == num_videos):
                log.info("%d/%d videos (%.1f s)", n, num_videos, time.perf_counter() - t0)

    if workers > 1:
        with mp.get_context("fork").Pool(workers) as pool:
            consume(pool.imap(_one_video, jobs, chunksize=4))
    else:
        consume(map(_one_video, jobs))

    splits = split_assignment(num_videos, seed, cfg.SPLITS.VAL, cfg.SPLITS.TEST)
    files = {s: {} for s in SPLITS}
    tubes, meta_videos = {}, {}
    for index in sorted(results):
        key, entry, tube, spec = results[index]
        files[splits[index]][key] = entry
        tubes[key] = tube
        meta_videos[key] = meta_entry(spec, splits[index])
    if results:  # no empty split files when every video failed (meta.json lists the failures)
        for s in SPLITS:
            atomic_write_json(os.path.join(out_dir, f"{s}.json"), files[s])
        atomic_write_json(os.path.join(out_dir, "all_tubes.json"), tubes)
    report.seconds = time.perf_counter() - t0
    atomic_write_json(meta_path, {**identity, "complete": bool(results), "generator": "stvg.data.synthetic",
                                  "num_videos": num_videos, "failures": report.failures,
                                  "videos": meta_videos})
    return report
