#!/usr/bin/env python
"""Learning benchmark of a model file on synthetic videos no training run saw (official metrics).

    python bench/bench_synthetic_grounding.py [--model models/stvg_synthetic.pth] \
        [--tube-model models/stvg_synthetic_tube_mmn.pth] \
        [--data DIR [--splits test] | --make 150 --seed 2026] [--out results.json]

The set: ``--data`` (a folder written by tools/make_synthetic.py: every split is used as test data,
or only those named by ``--splits``) or a fresh one generated with ``--make N --seed S`` and the
generator's default settings (so any seed gives a set in the model's distribution). ``--model`` is
a two_stage model file. Rows, each scored with ``stvg.evaluation.evaluate``
against the exact ground truth (m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5, %):

* the four reference baselines of the synthetic data (``stvg.data.synthetic.baselines``; random ones
  averaged over 5 draws);
* oracle: the best available person tube (the model's own detector and linking) cut to the
  ground-truth span — the ceiling that tube quality allows;
* temporal only: the MMN span with the largest person's tube on it;
* spatial only: the ground-truth span with the matcher's tube (seen through that span);
* the full pipeline under each join option (TUBE_COVERAGE keep / cut, PAIR_SCORE product /
  temporal_first, MATCHER_NORM softmax), the model file's own join first; with a matcher that has a
  span head also SPAN_MODE moments (MMN's moments x the tubes) and SPAN_MODE runs with the span head
  alone, x the matcher, and x the matcher x MMN;
* with ``--tube-model`` (a tube_mmn model file): the tube-MMN oracle (the best sub-tube of the
  tubes' cell grids: the ceiling of the mode with these tubes) and the tube_mmn mode itself.

Each video is prepared once (decode, detection, linking, features); the rows of both modes reuse
it when the two files share their feature and spatial settings and backbone (checked), and the tube
model prepares its own otherwise (the shipped two-stage file's crop-net rows, for one). Prints the
table, the margin of the full pipeline over the best baseline, the margin of tube_mmn over
two_stage, and seconds per video (prepare; the grounding of each mode).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5")
FULL = "full pipeline (model file's join)"


def _entry(tube, first: int, last: int) -> dict:
    from stvg.join import fill_tube
    from stvg.submission import tube_to_entry

    return tube_to_entry(fill_tube(tube, first, last))


def _load_set(data: str):
    from stvg.io import read_json

    gt = {}
    for split in ("train", "val", "test"):
        path = os.path.join(data, f"{split}.json")
        if os.path.isfile(path):
            gt.update(read_json(path, f"synthetic {split} split"))
    return gt, read_json(os.path.join(data, "all_tubes.json"), "synthetic all_tubes file")


def _input_differences(a, b) -> list:
    """Feature/spatial settings (RUN.* and the detector's device aside) and backbone that differ."""
    from stvg.config import flatten_config

    out = []
    for part in ("features", "spatial"):
        x, y = flatten_config(a.data[part]["config"]), flatten_config(b.data[part]["config"])
        out += [f"{part}.config.{k}: {x.get(k)!r} vs {y.get(k)!r}" for k in sorted(set(x) | set(y))
                if not k.startswith("RUN.") and k != "DETECTOR.DEVICE" and x.get(k) != y.get(k)]
    fa, fb = (p.data["features"]["backbone"]["fingerprint"] for p in (a, b))
    if fa != fb:
        out.append(f"features.backbone.fingerprint: {fa} vs {fb}")
    return out


def _prepare_all(predictor, data: str, vids) -> tuple:
    """``({vid: PreparedVideo}, seconds per video)`` of ``predictor.prepare`` on each video, with progress."""
    preps, t0 = {}, time.perf_counter()
    for i, vid in enumerate(vids):
        preps[vid] = predictor.prepare(os.path.join(data, "videos", vid))
        if (i + 1) % 25 == 0:
            print(f"  prepared {i + 1}/{len(vids)} ({(time.perf_counter() - t0) / (i + 1):.2f} s/video)", flush=True)
    return preps, (time.perf_counter() - t0) / max(len(vids), 1)


def _tube_oracle(predictor, prep, gt_tube):
    """The best sub-tube over every predictable (tube, cell) of the tube-MMN grid (official vIoU)."""
    from stvg.ops import tube_viou
    from temporal.st_iou import cell_sub_tube, st_iou_map
    from temporal.tube_mmn import nonempty_cells

    n = predictor.tube_mmn.num_clips
    valid = predictor.tube_mmn.mmn.mask.cpu()
    best, best_v = None, -1.0
    for tube, ok in zip(prep.tubes, nonempty_cells([len(t) for t in prep.tubes], n)):
        m = torch.where(ok & valid, st_iou_map(tube, gt_tube, n), torch.full((n, n), -1.0))
        flat = int(torch.argmax(m))
        if float(m.flatten()[flat]) > best_v:
            best = cell_sub_tube(tube, flat // n, flat % n, n)
            best_v = float(tube_viou(best, gt_tube))
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(REPO, "models", "stvg_synthetic.pth"),
                    help="two_stage model file")
    ap.add_argument("--tube-model", default=None, help="a tube_mmn model file to compare on the same videos")
    ap.add_argument("--data", default=None, help="an existing synthetic folder (all splits are test data)")
    ap.add_argument("--splits", default="train,val,test", help="with --data: the splits used, comma-separated")
    ap.add_argument("--make", type=int, default=150, help="generate this many videos when --data is not given")
    ap.add_argument("--seed", type=int, default=2026, help="seed of the generated set")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (fixed, for comparable timings)")
    ap.add_argument("--out", default=None, help="write the figures as JSON")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from machine_info import cpu_model  # bench/ is on sys.path when run as a script
    from stvg.data import load_hcstvg
    from stvg.data.synthetic import generate
    from stvg.data.synthetic.baselines import BASELINES, RANDOM_BASELINES, baseline_predictions
    from stvg.evaluation import evaluate
    from stvg.join import join_config
    from stvg.ops import best_cut_tube
    from stvg.pipeline import STVGPredictor

    data = a.data
    splits = [s for s in a.splits.split(",") if s] if a.data else ["train", "val", "test"]
    if data is None:
        data = os.path.join(tempfile.gettempdir(), f"stvg_bench_synth_{a.make}_{a.seed}")
        generate(data, a.make, seed=a.seed, progress=False)
    gt_raw, all_tubes = _load_set(data)
    gt = {}
    for split in splits:
        path = os.path.join(data, f"{split}.json")
        if os.path.isfile(path):
            gt.update(load_hcstvg(path, strict=True)[0])
        elif a.data:
            ap.error(f"--splits: {path} not found")
    gt_raw = {vid: gt_raw[vid] for vid in gt}
    predictor = STVGPredictor.from_file(a.model, device=a.device)
    if predictor.mode != "two_stage":
        ap.error(f"--model {a.model} is a {predictor.mode} model file; --model takes a two_stage one "
                 "(--tube-model a tube_mmn one)")
    tube_pred = None
    if a.tube_model:
        tube_pred = STVGPredictor.from_file(a.tube_model, device=a.device)
        if tube_pred.mode != "tube_mmn":
            ap.error(f"--tube-model {a.tube_model} is a {tube_pred.mode} model file, not tube_mmn")
        diff = _input_differences(predictor, tube_pred)
        if diff:
            print(f"--model and --tube-model do not share their inputs ({'; '.join(diff)}): each video is "
                  "prepared once for each", flush=True)
    print(f"{len(gt)} videos from {data} ({', '.join(splits)}); model {a.model}"
          + (f", tube model {a.tube_model}" if tube_pred else "") + f"; {cpu_model()}, {a.threads} thread(s)",
          flush=True)

    preps, prep_s = _prepare_all(predictor, data, sorted(gt))
    tube_preps, tube_prep_s = preps, None
    if tube_pred is not None and _input_differences(predictor, tube_pred):
        tube_preps, tube_prep_s = _prepare_all(tube_pred, data, sorted(gt))

    rows = {}
    for name in BASELINES:
        runs = [evaluate(baseline_predictions(name, gt_raw, all_tubes, seed=s), gt_raw)
                for s in range(5 if name in RANDOM_BASELINES else 1)]
        rows[f"baseline: {name}"] = {k: float(np.mean([r[k] for r in runs])) for k in KEYS}

    oracle, temporal_only, spatial_only = {}, {}, {}
    for vid, prep in preps.items():
        g, sentence = gt[vid].tube, gt[vid].sentence
        best = best_cut_tube(prep.tubes, g)
        if best is not None:
            oracle[vid] = _entry(best, best.start_frame, best.end_frame)
        res = predictor.ground(prep, [sentence], top_k=0)[0]
        a0, b0 = (int(x) for x in res.moment_frames[0])
        on = [t for t in prep.tubes if len(t.crop(a0, b0))]
        if on:
            areas = [float(((t.boxes[:, 2] - t.boxes[:, 0]) * (t.boxes[:, 3] - t.boxes[:, 1])).mean()) for t in on]
            temporal_only[vid] = _entry(on[int(np.argmax(areas))], a0, b0)
        if prep.tubes:
            roi = torch.from_numpy(np.ascontiguousarray(prep.roi_features))
            s = predictor.matcher.score(prep.tubes, roi, [sentence], prep.frame_indices, prep.width, prep.height,
                                        window=(g.start_frame, g.end_frame), num_frames=prep.num_frames)[0]
            spatial_only[vid] = _entry(prep.tubes[int(torch.argmax(s))], g.start_frame, g.end_frame)
    rows["oracle tube cut to the GT span"] = {k: evaluate(oracle, gt_raw)[k] for k in KEYS}
    rows["temporal only (MMN span + largest person)"] = {k: evaluate(temporal_only, gt_raw)[k] for k in KEYS}
    rows["spatial only (GT span + matcher tube)"] = {k: evaluate(spatial_only, gt_raw)[k] for k in KEYS}

    own = dict(predictor.join)
    variants = [(FULL, {})]
    for cov in ("keep", "cut"):
        for pair in ("product", "temporal_first"):
            variants.append((f"join TUBE_COVERAGE {cov}, PAIR_SCORE {pair}", {"TUBE_COVERAGE": cov, "PAIR_SCORE": pair}))
    variants.append(("join MATCHER_NORM softmax", {"MATCHER_NORM": "softmax"}))
    if predictor.matcher.span_head is not None:   # the span head's runs against MMN's moments
        variants += [("join SPAN_MODE moments (MMN moments x tubes)", {"SPAN_MODE": "moments"}),
                     ("join SPAN_MODE runs (x matcher)", {"SPAN_MODE": "runs", "SPAN_MOMENT_POW": 0.0}),
                     ("join SPAN_MODE runs, span head alone", {"SPAN_MODE": "runs", "SPAN_MATCHER_POW": 0.0,
                                                               "SPAN_MOMENT_POW": 0.0}),
                     ("join SPAN_MODE runs x matcher x MMN", {"SPAN_MODE": "runs", "SPAN_MOMENT_POW": 1.0})]
    ground_s = {}
    for label, opts in variants:
        predictor.join = join_config({**own, **opts})
        preds, t = {}, time.perf_counter()
        for vid, prep in preps.items():
            r = predictor.ground(prep, [gt[vid].sentence], top_k=0)[0]
            if len(r.tube):
                preds[vid] = r.entry()
        ground_s[label] = (time.perf_counter() - t) / len(preps)
        rows[label] = {k: evaluate(preds, gt_raw)[k] for k in KEYS}
    predictor.join = join_config(own)

    if tube_pred is not None:
        oracle_t, preds, t = {}, {}, time.perf_counter()
        for vid, prep in tube_preps.items():
            r = tube_pred.ground(prep, [gt[vid].sentence], top_k=0)[0]
            if len(r.tube):
                preds[vid] = r.entry()
        ground_s["tube_mmn (model file)"] = (time.perf_counter() - t) / len(preps)
        for vid, prep in tube_preps.items():
            best = _tube_oracle(tube_pred, prep, gt[vid].tube)
            if best is not None:
                oracle_t[vid] = _entry(best, best.start_frame, best.end_frame)
        rows["tube_mmn oracle (best cell of the tube grids)"] = {k: evaluate(oracle_t, gt_raw)[k] for k in KEYS}
        rows["tube_mmn (model file)"] = {k: evaluate(preds, gt_raw)[k] for k in KEYS}

    print(f"\n{'row':48s} " + " ".join(f"{k:>9s}" for k in KEYS))
    for label, r in rows.items():
        print(f"{label:48s} " + " ".join(f"{100 * r[k]:9.1f}" for k in KEYS))
    best_base = max(v["m_vIoU"] for k, v in rows.items() if k.startswith("baseline"))
    full = rows[FULL]["m_vIoU"]
    print(f"\nfull pipeline m_vIoU {100 * full:.1f} vs best baseline {100 * best_base:.1f}: "
          f"{100 * (full - best_base):+.1f} points (target: >= 50.0 and >= +10)")
    two = [v for k, v in ground_s.items() if not k.startswith("tube_mmn")]
    print(f"seconds per video: prepare {prep_s:.2f} (decode, detection, linking, features), "
          f"ground {np.mean(two):.3f}")
    if tube_pred is not None:
        tube = rows["tube_mmn (model file)"]["m_vIoU"]
        print(f"tube_mmn m_vIoU {100 * tube:.1f} vs two_stage {100 * full:.1f}: {100 * (tube - full):+.1f} points; "
              f"seconds per video: prepare {prep_s:.2f}"
              + (" (shared)" if tube_prep_s is None else f", tube_mmn's own {tube_prep_s:.2f}")
              + ", ground two_stage "
              f"{ground_s[FULL]:.3f}, "
              f"tube_mmn {ground_s['tube_mmn (model file)']:.3f}")
    if a.out:
        from stvg.io import atomic_write_json

        def shown(path):  # no machine path in the results: paths inside the repository are relative
            if path is None or not os.path.isabs(path):
                return path
            rel = os.path.relpath(path, REPO)
            return path if rel.startswith("..") else rel

        atomic_write_json(a.out, {"data": shown(data), "splits": splits, "num_videos": len(gt),
                                  "model": shown(a.model), "tube_model": shown(a.tube_model), "machine": cpu_model(),
                                  "threads": a.threads, "rows": rows, "seconds_prepare": prep_s,
                                  "seconds_prepare_tube_model": tube_prep_s,
                                  "seconds_ground": ground_s}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
