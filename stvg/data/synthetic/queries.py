"""More training sentences per synthetic video: other people and other spans, each described uniquely.

HC-STVG gives one sentence per video, and so does the generator's ``train.json``. But a synthetic
video holds 2-4 people with full timelines, so the same video (its pixels, tubes and features,
which are what cost time) can teach more: :func:`extra_queries` draws further (person, span)
pairs of a video and a sentence for each, under the rules of the video's own sentence
(:func:`stvg.data.synthetic.spec.unique_descriptions`: the appearance words rule out everyone but
exact twins, the actions fit one run of spans of one person; one or two consecutive spans, two
with probability ``SENTENCE.TWO_ACTION_PROB``; every described span on screen for at least
``SENTENCE.MIN_SPAN_SECONDS``). The draw uses its own random stream (``[seed, index, 1]``), so the
videos and the split files are unchanged.

:func:`write_training_queries` writes a training file for a generated folder: per video of the
train split, the list of its queries, the folder's own entry first (HC-STVG v1 entries; read with
:func:`stvg.data.load_hcstvg_queries`; docs/synthetic.md).

    python tools/synthetic_queries.py --data data/synth --per-video 3    # -> data/synth/train_multi.json
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from ...config import Config
from ...io import atomic_write_json, read_json
from .annotations import query_entry, video_key
from .language import Description, realize
from .spec import VideoSpec, choose_description, focus_tube, sample_video, unique_descriptions

__all__ = ["ExtraQuery", "extra_queries", "write_training_queries", "TRAINING_QUERIES_FILE"]

TRAINING_QUERIES_FILE = "train_multi.json"


@dataclass(frozen=True)
class ExtraQuery:
    """Person ``pid``'s spans ``start`` .. ``start + len(description.actions) - 1``; ``frames`` the
    ground-truth tube's 0-based frames (contiguous)."""

    pid: str
    start: int
    description: Description
    sentence: str
    frames: np.ndarray


def extra_queries(spec: VideoSpec, cfg: Config, max_queries: int) -> List[ExtraQuery]:
    """Up to ``max_queries`` (person, span) pairs of ``spec`` other than its own sentence's, each with
    a unique description (see the module docstring); deterministic in (seed, index, config)."""
    if max_queries < 0:
        raise ValueError(f"max_queries must be >= 0, got {max_queries}")
    rng = np.random.default_rng([spec.seed, spec.index, 1])
    fps, min_s = float(spec.fps), float(cfg.SENTENCE.MIN_SPAN_SECONDS)
    table = {p.pid: (p.appearance, p.track.spans) for p in spec.people}
    own = (spec.target, spec.span_start, len(spec.description.actions))
    cands, weights = [], []
    for p in spec.people:
        for length, weight in ((1, 1.0 - cfg.SENTENCE.TWO_ACTION_PROB), (2, cfg.SENTENCE.TWO_ACTION_PROB)):
            for start in range(len(p.track.spans) - length + 1):
                if weight <= 0 or (p.pid, start, length) == own:
                    continue
                frames = focus_tube(p, start, length, fps, min_s)
                if frames is None:
                    continue
                focus = p.track.spans[start:start + length]
                unique = unique_descriptions(table, p.pid, start, tuple(s.action for s in focus),
                                             tuple(s.side for s in focus))
                if unique:
                    cands.append((p, start, frames, unique))
                    weights.append(weight)
    k = min(int(max_queries), len(cands))
    if k == 0:
        return []
    w = np.asarray(weights, np.float64)
    picks = rng.choice(len(cands), size=k, replace=False, p=w / w.sum())
    out = []
    for i in picks:
        p, start, frames, unique = cands[int(i)]
        desc = choose_description(cfg, rng, unique, p.appearance)
        sentence = realize(desc, rng, skirt=p.appearance.skirt and "bottom" in desc.attr())
        out.append(ExtraQuery(p.pid, start, desc, sentence, frames))
    return out


def write_training_queries(data_dir: str, per_video: int, out: Optional[str] = None) -> Dict[str, int]:
    """``out`` (default ``data_dir/train_multi.json``): per video of ``data_dir/train.json``, its own
    entry followed by up to ``per_video`` :func:`extra_queries` entries. The folder's config and
    seed (``config.yaml``, ``meta.json``) rebuild each video's spec; a video whose rebuilt sentence
    differs from ``train.json`` (another generator version) is an error naming it. Written
    atomically. Returns ``{"videos": ..., "queries": ...}``."""
    from .defaults import load_synth_config

    train_path = os.path.join(data_dir, "train.json")
    train = read_json(train_path, "synthetic train split")
    meta = read_json(os.path.join(data_dir, "meta.json"), "synthetic meta file")
    cfg = load_synth_config(os.path.join(data_dir, "config.yaml"))
    seed, videos = int(meta["seed"]), meta["videos"]
    result: Dict[str, list] = {}
    for key, entry in train.items():
        if key not in videos:
            raise ValueError(f"{data_dir}/meta.json: no record of video {key} of {train_path}")
        spec = sample_video(cfg, seed, int(videos[key]["index"]))
        if video_key(spec) != key or spec.sentence != entry.get("caption"):
            raise ValueError(f"{train_path}: video {key}: the generator rebuilds another video from seed {seed} "
                             f"(sentence {spec.sentence!r}, file {entry.get('caption')!r}): made by another "
                             "version of stvg.data.synthetic?")
        extra = extra_queries(spec, cfg, per_video)
        result[key] = [entry] + [query_entry(spec, spec.person(q.pid), q.frames, q.sentence) for q in extra]
    path = out or os.path.join(data_dir, TRAINING_QUERIES_FILE)
    atomic_write_json(path, result)
    return {"videos": len(result), "queries": sum(len(v) for v in result.values())}
