"""Training crops for the crop net (:mod:`stvg.features.crop_net`) from a synthetic set's own truth.

    x, y, info = action_crops(data_dir, "train", features_cfg, jobs=2)
    # x float16[N, 6, 64, 32] crops (frame + difference), y int64[N] index into ACTIONS

Every person of every video of the split (``data/all_tubes.json``: boxes, 1-based frames;
``data/meta.json``: action spans, split), on every frame the feature setting samples
(``INPUT.SAMPLE_FPS``, ``INPUT.RESIZE``: the same decoding as feature extraction, so the net sees
at training what it sees on RoI features), is cut out with :func:`stvg.features.crop_net.person_crops`
and labelled with the person's action on that frame (:data:`ACTIONS`). ``jitter`` > 0 moves and
scales each box at random by up to that share of its size (seeded per video): at inference the net
is given detected boxes, which are looser than the generator's.

Labels and boxes are the generator's: the crops teach a net this synthetic task's actions only.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ...config import Config
from .actions import ACTIONS

__all__ = ["action_crops", "video_action_crops", "person_action_frames"]


def person_action_frames(actions: Sequence[dict], num_frames: int) -> np.ndarray:
    """``int64[num_frames]``: index into :data:`ACTIONS` on each 0-based frame (-1: none), from a
    meta.json person's ``actions`` (1-based inclusive ``st_frame`` / ``ed_frame``)."""
    lab = np.full(num_frames, -1, np.int64)
    for a in actions:
        if a["action"] not in ACTIONS:
            raise ValueError(f"unknown action {a['action']!r} (known: {', '.join(ACTIONS)})")
        lab[max(int(a["st_frame"]) - 1, 0):int(a["ed_frame"])] = ACTIONS.index(a["action"])
    return lab


def _transform(cfg: Config):
    from ...backbones import build_backbone
    from ...features.preprocess import build_transform

    bb = build_backbone(cfg.BACKBONE.NAME, "none", seed=0)   # only its kind and input sizes are used
    return build_transform(cfg, bb.kind, bb.resize_size, bb.crop_size)


def video_action_crops(path: str, people: Dict[str, dict], actions: Dict[str, dict], cfg: Config,
                       jitter: float = 0.0, seed: int = 0, transform=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """One video's crops and labels (module docstring). ``people``: its ``all_tubes.json`` people
    (``bbox`` {1-based frame: [x1, y1, x2, y2]}); ``actions``: its ``meta.json`` people;
    ``transform``: the features' frame transform (built from ``cfg`` when None; pass it when
    cropping many videos, building it costs ~0.1 s)."""
    from ...features.crop_net import CROP_SIZE, person_crops
    from ...features.decode import decode_video

    transform = _transform(cfg) if transform is None else transform
    video = decode_video(path, path, cfg.INPUT.SAMPLE_FPS, transform, 1, cfg.RUN.DECODE_CHUNK)
    sx, sy = video.frames.shape[2] / video.width, video.frames.shape[1] / video.height
    rng = np.random.default_rng(seed)
    pos, boxes, labels = [], [], []
    for pid, person in people.items():
        if pid not in actions:
            raise ValueError(f"{path}: person {pid} has boxes in all_tubes.json but no entry in meta.json")
        lab = person_action_frames(actions[pid]["actions"], video.num_frames)
        for k, frame in enumerate(video.frame_indices.tolist()):
            box = person["bbox"].get(str(frame + 1))
            if box is None or lab[frame] < 0:
                continue
            pos.append(k)
            boxes.append(box)
            labels.append(lab[frame])
    if not pos:
        return torch.zeros((0, 6) + CROP_SIZE, dtype=torch.float16), torch.zeros(0, dtype=torch.int64)
    b = np.asarray(boxes, np.float64)
    if jitter > 0:
        wh = np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)
        centre = (b[:, :2] + b[:, 2:]) / 2 + rng.uniform(-jitter, jitter, (len(b), 2)) * wh
        half = wh * rng.uniform(1 - jitter, 1 + jitter, (len(b), 2)) / 2
        b = np.concatenate([centre - half, centre + half], 1)
    b = b * np.array([sx, sy, sx, sy])
    x = person_crops(video.frames, torch.tensor(pos), torch.from_numpy(b).float())
    return x.half(), torch.tensor(labels, dtype=torch.int64)


def _one(job):
    path, people, actions, cfg_dict, jitter, seed, transform = job
    return video_action_crops(path, people, actions, Config(cfg_dict).freeze(), jitter, seed, transform)


def action_crops(data_dir: str, split: str, cfg: Config, limit: Optional[int] = None, jitter: float = 0.0,
                 seed: int = 0, jobs: int = 1) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, int]]:
    """Crops and labels of the first ``limit`` videos (all: None) of ``split`` of a synthetic set
    made by ``tools/make_synthetic.py`` (``data_dir`` holds meta.json, all_tubes.json, videos/),
    decoded in ``jobs`` processes; ``info``: videos and crops counted."""
    from ...io import read_json

    meta = read_json(os.path.join(data_dir, "meta.json"), "meta.json")["videos"]
    people = read_json(os.path.join(data_dir, "all_tubes.json"), "all_tubes.json")
    vids = [v for v in sorted(meta) if meta[v].get("split") == split][:limit]
    if not vids:
        raise ValueError(f"{data_dir}/meta.json: no video of split {split!r}")
    missing = [v for v in vids if v not in people]
    if missing:
        raise ValueError(f"{data_dir}/all_tubes.json: no people for {len(missing)} video(s) of meta.json, "
                         f"e.g. {missing[0]}")
    transform = _transform(cfg)
    jobs_ = [(os.path.join(data_dir, "videos", v), people[v]["people"], meta[v]["people"], cfg.to_dict(), jitter,
              seed * 1_000_003 + i, transform) for i, v in enumerate(vids)]
    if jobs > 1:
        with ProcessPoolExecutor(jobs, initializer=torch.set_num_threads, initargs=(1,)) as ex:
            parts: List = list(ex.map(_one, jobs_, chunksize=4))
    else:
        parts = [_one(j) for j in jobs_]
    x = torch.cat([p[0] for p in parts])
    y = torch.cat([p[1] for p in parts])
    return x, y, {"videos": len(vids), "crops": int(y.numel())}
