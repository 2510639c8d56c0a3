"""Real-data check of linking: MOTChallenge pedestrian ground truth, simulated detections, motmetrics.

    python bench/bench_mot.py [--seeds 5] [--drop 0.2] [--jitter 0.05] [--fp 1.0] [--device cpu]

motmetrics ships the ground truth of TUD-Campus and TUD-Stadtmitte (MOTChallenge format, no images).
For each sequence and seed a simulated detector keeps each ground-truth box with probability
``1 - drop``, jitters its centre and size by ``jitter`` x its size (Gaussian), scores it U(0.5, 1),
and adds Poisson(``fp``) false positives per frame scored U(0.3, 0.8). The same detections go to

* ours: :func:`spatial.linking.link_detections` with the LINKING defaults of :mod:`spatial.defaults`
  (``--link KEY VALUE ...`` overrides them), every tube frame reported (interpolated frames included);
* the peer, ``deep-sort-realtime`` 1.3.2 (Kalman filter + matching cascade + IoU matching;
  ``pip install --no-deps deep-sort-realtime==1.3.2``, for this bench only). There are no images,
  so its bundled MobileNetV2 embedder cannot run; it gets ``embedder=None`` and one of two
  image-free embeddings: ``const`` (every detection the same unit vector: appearance neutral, the
  cascade associates on Kalman gating and track age) or ``random`` (a fresh random unit vector per
  detection with ``max_cosine_distance`` 0.2: appearance never matches, so association falls to its
  IoU stage, i.e. SORT-like). Confirmed tracks updated on the frame are reported.

Scores: MOTA, IDF1, ID switches, precision, recall (motmetrics, IoU >= 0.5), mean over seeds, and the
wall time of the tracking call only (median over seeds). Prints the machine and a table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from spatial.defaults import SPATIAL_DEFAULTS  # noqa: E402
from spatial.linking import LinkParams, link_detections  # noqa: E402
from stvg.config import load_config  # noqa: E402
from stvg.ops import box_iou  # noqa: E402
from stvg.structures import Detections  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
FRAME_SIZE = (640, 480)


def load_gt(name: str) -> np.ndarray:
    """``float[N, 6]`` rows (frame 1-based, id, x, y, w, h) of active pedestrians."""
    import motmetrics
    path = os.path.join(os.path.dirname(motmetrics.__file__), "data", name, "gt.txt")
    gt = np.loadtxt(path, delimiter=",")
    return gt[gt[:, 6] != 0, :6] if gt.shape[1] > 6 else gt[:, :6]


def simulate(gt: np.ndarray, seed: int, drop: float, jitter: float, fp: float):
    """-> list over frames (1..F) of (boxes float[N, 4] x1y1x2y2, scores float[N])."""
    rng = np.random.default_rng(seed)
    frames = int(gt[:, 0].max())
    w_mean, h_mean = gt[:, 4].mean(), gt[:, 5].mean()
    out = []
    for f in range(1, frames + 1):
        g = gt[gt[:, 0] == f]
        g = g[rng.random(len(g)) >= drop]
        cx = g[:, 2] + g[:, 4] / 2 + rng.normal(0, jitter, len(g)) * g[:, 4]
        cy = g[:, 3] + g[:, 5] / 2 + rng.normal(0, jitter, len(g)) * g[:, 5]
        w = g[:, 4] * np.exp(rng.normal(0, jitter, len(g)))
        h = g[:, 5] * np.exp(rng.normal(0, jitter, len(g)))
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        scores = rng.uniform(0.5, 1.0, len(g))
        n_fp = rng.poisson(fp)
        if n_fp:
            fw = w_mean * rng.uniform(0.6, 1.4, n_fp)
            fh = h_mean * rng.uniform(0.6, 1.4, n_fp)
            fx = rng.uniform(0, FRAME_SIZE[0] - fw)
            fy = rng.uniform(0, FRAME_SIZE[1] - fh)
            boxes = np.concatenate([boxes, np.stack([fx, fy, fx + fw, fy + fh], 1)])
            scores = np.concatenate([scores, rng.uniform(0.3, 0.8, n_fp)])
        boxes = np.clip(boxes, 0, [FRAME_SIZE[0], FRAME_SIZE[1]] * 2)
        ok = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        out.append((boxes[ok], scores[ok]))
    return out


def run_ours(dets, device: str, params: LinkParams):
    """-> ({frame: [(id, x1, y1, x2, y2)]}, seconds)."""
    items = [Detections(torch.tensor(b, dtype=torch.float32, device=device),
                        torch.tensor(s, dtype=torch.float32, device=device), frame=f)
             for f, (b, s) in enumerate(dets)]
    t0 = time.perf_counter()
    tubes, _ = link_detections(items, frame_size=FRAME_SIZE, params=params)
    dt = time.perf_counter() - t0
    hyp = {}
    for tid, tube in enumerate(tubes):
        for f, box in zip(tube.frames.tolist(), tube.boxes.tolist()):
            hyp.setdefault(f + 1, []).append((tid, *box))
    return hyp, dt


def run_deepsort(dets, mode: str, seed: int):
    from deep_sort_realtime.deepsort_tracker import DeepSort
    rng = np.random.default_rng(seed + 1000)
    tracker = DeepSort(max_age=30, n_init=3, embedder=None, max_cosine_distance=0.2 if mode == "random" else 0.5)
    const = np.zeros(128)
    const[0] = 1.0
    hyp = {}
    t0 = time.perf_counter()
    for f, (b, s) in enumerate(dets, start=1):
        raw = [([x1, y1, x2 - x1, y2 - y1], sc, "person") for (x1, y1, x2, y2), sc in zip(b.tolist(), s.tolist())]
        if mode == "const":
            embeds = [const] * len(raw)
        else:
            e = rng.normal(size=(len(raw), 128))
            embeds = list(e / np.linalg.norm(e, axis=1, keepdims=True))
        for t in tracker.update_tracks(raw, embeds=embeds):
            if t.is_confirmed() and t.time_since_update == 0:
                hyp.setdefault(f, []).append((t.track_id, *t.to_ltrb()))
    return hyp, time.perf_counter() - t0


def score(gt: np.ndarray, hyp, name: str):
    import motmetrics as mm
    acc = mm.MOTAccumulator(auto_id=True)
    for f in range(1, int(gt[:, 0].max()) + 1):
        g = gt[gt[:, 0] == f]
        h = np.asarray([r[1:] for r in hyp.get(f, [])], dtype=np.float64).reshape(-1, 4)
        g_box = np.concatenate([g[:, 2:4], g[:, 2:4] + g[:, 4:6]], 1)
        # motmetrics' own iou_matrix calls np.asfarray (gone in NumPy 2): same distance, computed here.
        dist = 1.0 - box_iou(torch.from_numpy(g_box), torch.from_numpy(h)).numpy()
        dist[dist > 0.5] = np.nan
        acc.update(g[:, 1].astype(int).tolist(), [r[0] for r in hyp.get(f, [])], dist)
    mh = mm.metrics.create()
    s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "precision", "recall"], name=name)
    return {k: float(s[k].iloc[0]) for k in s.columns}


def machine(device: str) -> str:
    cpu = cpu_model()
    text = f"CPU: {cpu} ({os.cpu_count()} logical cores), torch {torch.__version__}"
    if device.startswith("cuda") and torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)} (inputs on {device}; linking runs on the CPU)"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--drop", type=float, default=0.2)
    ap.add_argument("--jitter", type=float, default=0.05)
    ap.add_argument("--fp", type=float, default=1.0)
    ap.add_argument("--device", default="cpu", help="where the input Detections live (cpu | cuda)")
    ap.add_argument("--no-peer", action="store_true", help="skip deep-sort-realtime")
    ap.add_argument("--link", nargs="*", default=[], metavar="KEY VALUE",
                    help="LINKING overrides, e.g. --link MOTION last MAX_GAP 5 (default: spatial.defaults)")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda but CUDA is not available")
    cfg = load_config(None, SPATIAL_DEFAULTS, [f"LINKING.{x}" if i % 2 == 0 else x for i, x in enumerate(args.link)])
    params = LinkParams.from_config(cfg.LINKING)
    peer = not args.no_peer
    if peer:
        try:
            import deep_sort_realtime  # noqa: F401
        except ImportError:
            print("deep-sort-realtime not installed (pip install --no-deps deep-sort-realtime==1.3.2): peer skipped")
            peer = False
    print(machine(args.device))
    print(f"simulated detector: drop {args.drop}, jitter {args.jitter}, false positives {args.fp}/frame, "
          f"seeds 0..{args.seeds - 1}")
    print(f"ours: {params}")
    methods = ["ours"] + (["deepsort-const", "deepsort-random"] if peer else [])
    header = f"{'sequence':15s} {'tracker':16s} {'MOTA':>6s} {'IDF1':>6s} {'IDsw':>6s} {'prec':>6s} {'recall':>6s} {'time ms':>8s}"
    print(header)
    print("-" * len(header))
    for seq in SEQUENCES:
        gt = load_gt(seq)
        res = {m: [] for m in methods}
        times = {m: [] for m in methods}
        for seed in range(args.seeds):
            dets = simulate(gt, seed, args.drop, args.jitter, args.fp)
            for m in methods:
                hyp, dt = run_ours(dets, args.device, params) if m == "ours" else run_deepsort(dets, m.split("-")[1], seed)
                res[m].append(score(gt, hyp, m))
                times[m].append(dt)
        for m in methods:
            mean = {k: statistics.fmean(r[k] for r in res[m]) for k in res[m][0]}
            print(f"{seq:15s} {m:16s} {mean['mota']:6.3f} {mean['idf1']:6.3f} {mean['num_switches']:6.1f} "
                  f"{mean['precision']:6.3f} {mean['recall']:6.3f} {1000 * statistics.median(times[m]):8.2f}")
        if peer:
            best = max(statistics.fmean(r["idf1"] for r in res[m]) for m in methods[1:])
            ours = statistics.fmean(r["idf1"] for r in res["ours"])
            fastest = min(statistics.median(times[m]) for m in methods[1:])
            print(f"{seq:15s} ours vs best peer: IDF1 {ours:.3f} vs {best:.3f}; "
                  f"{fastest / statistics.median(times['ours']):.1f}x faster than the fastest peer run")


if __name__ == "__main__":
    main()
