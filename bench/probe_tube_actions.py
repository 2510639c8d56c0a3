#!/usr/bin/env python
"""Can a person's action be read from what the learned stages see? Action probes on detected tubes.

    python bench/probe_tube_actions.py [--work outputs/demo_model] [--train-videos 250] [--val-videos 60] \
        [--epochs 6] [--threads 2] [--seed 0] [--out table.json]

Reads the demo recipe's folder (``tools/train_demo_model.py --work``): ``data/meta.json`` and
``data/all_tubes.json`` (the generator's people, their boxes and action timelines), ``data/videos``,
``tubes/`` (the detected, linked tubes) and ``features.h5`` (their RoI features). The first
``--train-videos`` videos of the train split train every probe, the first ``--val-videos`` of the val
split score it.

Labels: a detected tube belongs to the generator's person whose box has IoU >= 0.4 with the tube's
box on the most of the tube's frames, if that is at least 70% of them (other tubes are left out);
each segment of the tube (the 16 segments of the RoI features: :func:`stvg.tube_geometry.tube_layout`)
is labelled with that person's action on most of its sampled frames, each sampled frame with the
action on it (9 actions, docs/synthetic.md).

Rows (per-segment accuracy on the val videos; the majority-class rate for scale; per action):

* ``linear`` and ``conv`` (two 1-D convolutions over the 16 segments) probes of the per-segment inputs
  of the matcher and tube-MMN: the 9 geometry values (:mod:`stvg.tube_geometry`), the same with their
  temporal differences, and the 384-d RoI features (random ResNet-18 stage 1, 6 stripes) with both;
* ``crop CNN``: a 4-layer CNN trained here from scratch on person crops, the tube's box on the
  sampled frame and on the frame ``LAG`` frames before (``torchvision.ops.roi_align`` to 64 x 32,
  RGB and the difference: 6 channels), scored per sampled frame and per segment (its frames' mean
  logits), and per segment fused with the conv probe of geometry + differences (the sum of the two
  log-probabilities; segments that hold a crop).

Training data and labels are the synthetic generator's; the figures say which features carry the
actions of this synthetic task, nothing about real video. Prints the table and each stage's seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from stvg.data.synthetic.actions import ACTIONS  # noqa: E402  (the generator's 9 actions, in its order)
CROP_H, CROP_W, LAG = 64, 32, 2


def person_of(tube, people: Dict[str, dict]) -> Optional[str]:
    """The generator's person a detected tube follows (see the module docstring), or None.
    ``people``: ``all_tubes.json``'s challenge-format tube per person."""
    from stvg.ops import box_iou_aligned_np
    from stvg.submission import entry_to_tube
    frames, boxes = tube.frames.numpy(), tube.boxes.numpy().astype(np.float64)
    best, who = 0.0, None
    for pid, p in people.items():
        person = entry_to_tube(p)
        pf = person.frames.numpy()
        at = np.searchsorted(pf, frames).clip(max=len(pf) - 1)
        gt = np.where((pf[at] == frames)[:, None], person.boxes.numpy()[at].astype(np.float64), np.nan)
        share = float((box_iou_aligned_np(boxes, gt) >= 0.4).mean())
        if share > best:
            best, who = share, pid
    return who if best >= 0.7 else None


def action_timeline(person: dict, num_frames: int) -> np.ndarray:
    """``int64[num_frames]`` action index per 0-based frame (-1 where the person has none)."""
    lab = np.full(num_frames, -1, np.int64)
    for a in person["actions"]:
        lab[a["st_frame"] - 1:a["ed_frame"]] = ACTIONS.index(a["action"])
    return lab


def majority(labels: np.ndarray) -> int:
    labels = labels[labels >= 0]
    return int(np.bincount(labels, minlength=len(ACTIONS)).argmax()) if labels.size else -1


def collect(work: str, split: str, count: int, crops: bool):
    """Per labelled tube: RoI ``[S, C]``, geometry ``[S, G]``, segment labels ``[S]``; with ``crops``
    also the crops ``[R, 6, H, W]`` (float16), their labels ``[R]`` and the (tube, segment) of each
    ``int64[R, 2]`` (segment -1: the crop's frame lies in none of the tube's segment spans)."""
    import h5py
    from torchvision.ops import roi_align

    from spatial.tubes import read_tube_folder
    from stvg.tube_geometry import tube_layout
    from stvg.io import read_json
    from stvg.video import VideoReader

    meta = read_json(os.path.join(work, "data", "meta.json"), "meta.json")["videos"]
    people_boxes = read_json(os.path.join(work, "data", "all_tubes.json"), "all_tubes.json")
    vids = [v for v in meta if meta[v]["split"] == split][:count]
    tubes = read_tube_folder(os.path.join(work, "tubes"), vids)
    roi, geo, seg_lab, crop_x, crop_y, crop_seg = [], [], [], [], [], []
    with h5py.File(os.path.join(work, "features.h5"), "r") as f:
        for vid in vids:
            g = f[vid]
            fi, nf = g["frame_indices"][()], int(g.attrs["num_frames"])
            if not tubes[vid]:
                continue
            lay = tube_layout(tubes[vid], fi, g["roi_features"].shape[1], g.attrs["width"], g.attrs["height"], nf)
            frames, at = None, None
            for i, tube in enumerate(tubes[vid]):
                pid = person_of(tube, people_boxes[vid]["people"])
                if pid is None:
                    continue
                lab = action_timeline(meta[vid]["people"][pid], nf)
                segs = lay.seg_frames[i].numpy()
                roi.append(g["roi_features"][i])
                geo.append(lay.geometry[i].numpy())
                seg_lab.append([majority(lab[a:b + 1]) for a, b in segs])
                if not crops:
                    continue
                if frames is None:  # the sampled frames and those LAG before them, once per video
                    need = sorted({int(x) for x in fi} | {max(int(x) - LAG, 0) for x in fi})
                    vr = VideoReader(os.path.join(work, "data", "videos", vid), num_threads=1)
                    frames = torch.from_numpy(vr.get_frames(need)).permute(0, 3, 1, 2).float() / 255
                    at = {fr: k for k, fr in enumerate(need)}
                pos = {int(fr): k for k, fr in enumerate(tube.frames.tolist())}
                rows = [int(fr) for fr in fi if int(fr) in pos and lab[int(fr)] >= 0]
                if not rows:
                    continue
                boxes = torch.stack([tube.boxes[pos[fr]].float() for fr in rows])
                idx = torch.arange(len(rows), dtype=torch.float32)[:, None]
                now = roi_align(frames[[at[fr] for fr in rows]], torch.cat([idx, boxes], 1), (CROP_H, CROP_W),
                                aligned=True)
                before = roi_align(frames[[at[max(fr - LAG, 0)] for fr in rows]], torch.cat([idx, boxes], 1),
                                   (CROP_H, CROP_W), aligned=True)
                crop_x.append(torch.cat([now, now - before], 1).half())
                crop_y.append(torch.from_numpy(lab[rows]))
                fr = np.array(rows)[:, None]
                inside = (segs[None, :, 0] <= fr) & (fr <= segs[None, :, 1])   # a crop's segment: the one holding its frame
                seg_of = np.where(inside.any(1), inside.argmax(1), -1)
                crop_seg.append(torch.from_numpy(np.stack([np.full(len(rows), len(roi) - 1), seg_of], 1)))
    out = (np.stack(roi), np.stack(geo), np.array(seg_lab, np.int64))
    if crops:
        out += (torch.cat(crop_x), torch.cat(crop_y), torch.cat(crop_seg))
    return out, len(vids)


def with_deltas(z: np.ndarray) -> np.ndarray:
    """``[T, S, D] -> [T, S, 2D]``: the rows and their central temporal differences (one-sided at the ends)."""
    d = np.concatenate([z[:, 1:2] - z[:, :1], (z[:, 2:] - z[:, :-2]) / 2, z[:, -1:] - z[:, -2:-1]], 1)
    return np.concatenate([z, d], -1)


def fit(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int, lr: float) -> nn.Module:
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-2)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x)).split(batch):
            loss = F.cross_entropy(net(x[idx].float()), y[idx], ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


class _Seq(nn.Module):
    """``[T, S, D] -> [T, 9, S]`` logits."""

    def __init__(self, d: int, conv: bool):
        super().__init__()
        self.net = (nn.Sequential(nn.Conv1d(d, 128, 3, padding=1), nn.GELU(), nn.Dropout(0.2),
                                  nn.Conv1d(128, 128, 3, padding=1), nn.GELU(), nn.Conv1d(128, len(ACTIONS), 1))
                    if conv else nn.Conv1d(d, len(ACTIONS), 1))

    def forward(self, x):
        return self.net(x.transpose(1, 2))


def crop_cnn() -> nn.Module:
    def block(i, o):
        return nn.Sequential(nn.Conv2d(i, o, 3, 2, 1), nn.BatchNorm2d(o), nn.ReLU())
    return nn.Sequential(block(6, 32), block(32, 64), block(64, 64), block(64, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, len(ACTIONS)))


def score(pred: torch.Tensor, y: torch.Tensor) -> dict:
    keep = y >= 0
    p, y = pred[keep], y[keep]
    per = {a: float((p[y == c] == c).float().mean()) for c, a in enumerate(ACTIONS) if bool((y == c).any())}
    return {"accuracy": float((p == y).float().mean()), "majority": float(torch.bincount(y).max()) / len(y),
            "per_action": per, "count": int(len(y))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=os.path.join(REPO, "outputs", "demo_model"))
    ap.add_argument("--train-videos", type=int, default=250)
    ap.add_argument("--val-videos", type=int, default=60)
    ap.add_argument("--epochs", type=int, default=6, help="crop CNN epochs (the segment probes train 60)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-crops", action="store_true", help="skip the crop CNN (no video decoding)")
    ap.add_argument("--out", default="")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from stvg.io import atomic_write_json

    t = time.perf_counter()
    (tr, ntr), (va, nva) = (collect(a.work, s, n, not a.no_crops)
                            for s, n in (("train", a.train_videos), ("val", a.val_videos)))
    seconds = {"collect": time.perf_counter() - t}
    print(f"{a.work}: {len(tr[0])} labelled tubes of {ntr} train videos, {len(va[0])} of {nva} val videos "
          f"({seconds['collect']:.0f} s)")
    rows: Dict[str, dict] = {}
    inputs = {"geometry": (tr[1], va[1]), "geometry + differences": (with_deltas(tr[1]), with_deltas(va[1])),
              "RoI + geometry + differences": (with_deltas(np.concatenate([tr[0], tr[1]], -1)),
                                               with_deltas(np.concatenate([va[0], va[1]], -1)))}
    t = time.perf_counter()
    for name, (x0, x1) in inputs.items():
        mu, sd = x0.reshape(-1, x0.shape[-1]).mean(0), x0.reshape(-1, x0.shape[-1]).std(0) + 1e-6
        x0t, x1t = torch.tensor((x0 - mu) / sd, dtype=torch.float32), torch.tensor((x1 - mu) / sd, dtype=torch.float32)
        for kind in ("linear", "conv"):
            torch.manual_seed(a.seed)
            net = fit(_Seq(x0.shape[-1], kind == "conv"), x0t, torch.from_numpy(tr[2]), 60, 64, 1e-3)
            with torch.no_grad():
                out = net(x1t)                                           # [T, 9, S]
            rows[f"{kind}: {name}"] = score(out.argmax(1).flatten(), torch.from_numpy(va[2]).flatten())
            if kind == "conv" and name == "geometry + differences":
                geo_logits = out
    seconds["segment probes"] = time.perf_counter() - t
    for name, r in rows.items():
        print(f"{name:42s} {r['accuracy']:.3f} (majority {r['majority']:.3f})", flush=True)
    if not a.no_crops:
        t = time.perf_counter()
        torch.manual_seed(a.seed)
        net = fit(crop_cnn(), tr[3], tr[4], a.epochs, 128, 2e-3)
        with torch.no_grad():
            logits = torch.cat([net(x.float()) for x in va[3].split(512)])
        rows["crop CNN, per sampled frame"] = score(logits.argmax(1), va[4])
        # per segment: mean logits of the segment's crops, against the segment's label
        held = va[5][:, 1] >= 0
        keys, inv = torch.unique(va[5][held], dim=0, return_inverse=True)   # [U, 2] (tube, segment)
        pooled = torch.zeros(len(keys), logits.shape[1]).index_add_(0, inv, logits[held])
        pooled /= torch.bincount(inv, minlength=len(keys))[:, None].float()
        seg_y = torch.from_numpy(va[2])[keys[:, 0], keys[:, 1]]
        rows["crop CNN, per segment"] = score(pooled.argmax(1), seg_y)
        # late fusion with the geometry conv probe: summed log-probabilities on the same segments
        fused = F.log_softmax(pooled, 1) + F.log_softmax(geo_logits[keys[:, 0], :, keys[:, 1]], 1)
        rows["crop CNN + conv geometry (late fusion)"] = score(fused.argmax(1), seg_y)
        seconds["crop CNN"] = time.perf_counter() - t
    print(f"\n{'probe (val accuracy)':42s} {'acc':>6s} {'major':>6s}  " + " ".join(f"{x[:7]:>7s}" for x in ACTIONS))
    for name, r in rows.items():
        print(f"{name:42s} {r['accuracy']:6.3f} {r['majority']:6.3f}  "
              + " ".join(f"{r['per_action'].get(x, float('nan')):7.2f}" for x in ACTIONS))
    print("\nseconds: " + ", ".join(f"{k} {v:.0f}" for k, v in seconds.items()))
    if a.out:
        atomic_write_json(a.out, {"work": a.work, "train_videos": ntr, "val_videos": nva, "rows": rows,
                                  "seconds": seconds, "threads": a.threads, "seed": a.seed})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    sys.exit(main())
