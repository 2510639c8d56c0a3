#!/usr/bin/env python
"""The matcher as a (moment, tube) verifier: the two-stage join with one matcher or another.

    python bench/bench_join_verifier.py --matcher gt=runs/m_gt/best.pth --matcher proposals=runs/m_prop/best.pth \
        [--model models/stvg_synthetic.pth] [--ann outputs/demo_model/data/val.json] \
        [--tubes outputs/demo_model/tubes] [--features outputs/demo_model/features.h5] [--out table.json] \
        [--variant "top20=TOP_MOMENTS 20 MOMENT_POW 0.5" ...]

The temporal stage, the features, the tubes and the join options are the model file's (``--model``,
a two_stage model file); only its matcher is replaced by each ``--matcher NAME=CHECKPOINT`` in turn
(the matcher's RoI dimension and segment count must match the model file's features). Every video
of ``--ann`` is prepared once from the precomputed inputs (``--features``: a file of
tools/extract_features.py --tubes made with the model file's feature settings; ``--tubes``: the tube
files its RoI rows belong to) and grounded by :meth:`stvg.pipeline.STVGPredictor.ground`: the
temporal stage's top moments (after NMS) x every tube, each pair scored by the matcher through the
moment's window and ranked by the join (:func:`stvg.join.join_pairs`). Rows (``stvg.evaluation.evaluate``
against the annotations: m_tIoU, m_vIoU, vIoU@0.3, vIoU@0.5, %; and ``moment@0.5``, the share of
sentences whose answer's interval has tIoU >= 0.5 with the ground-truth span):

* oracle pair: the best answer among every (top moment, tube) pair the join can give (its own
  TUBE_COVERAGE rule), i.e. the ceiling of any matcher with this temporal stage and these tubes
  (and the same for each ``--variant``'s moments);
* temporal top-1 moment with the best tube by the oracle (the ceiling when the join trusts MMN's order);
* per matcher: the model file's join (``join``: PAIR_SCORE product by default), the same with
  PAIR_SCORE temporal_first (MMN's best moment, the matcher picks the tube), the matcher alone
  ranking the same pairs (the join with MOMENT_POW 0: every moment's MMN score weighs the same, so
  this shows how well the matcher verifies moments by itself), and the ground-truth span with the matcher's best tube seen through it (the spatial
  stage alone, as in training's "gt" window);
* per matcher and ``--variant NAME=KEY VALUE ...``: the model file's join with those options
  changed (``stvg.join.join_config`` overrides, as ``--join`` of the tools).

Prints the table; no timing.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = ("m_tIoU", "m_vIoU", "vIoU@0.3", "vIoU@0.5")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.path.join(REPO, "models", "stvg_synthetic.pth"))
    ap.add_argument("--matcher", action="append", required=True, metavar="NAME=CHECKPOINT",
                    help="a matcher checkpoint (best.pth of tools/train_matcher.py), repeatable")
    ap.add_argument("--ann", default=os.path.join(REPO, "outputs", "demo_model", "data", "val.json"))
    ap.add_argument("--tubes", default=os.path.join(REPO, "outputs", "demo_model", "tubes"))
    ap.add_argument("--features", default=os.path.join(REPO, "outputs", "demo_model", "features.h5"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="", help="also write the table as JSON here")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=KEY VALUE ...",
                    help="another join: the model file's with these options changed, repeatable")
    a = ap.parse_args(argv)

    import h5py

    from spatial.matcher import load_matcher
    from spatial.tubes import read_tube_folder
    from stvg.data import load_hcstvg
    from stvg.evaluation import evaluate
    from stvg.io import atomic_write_json, read_json
    from stvg.join import join_config, join_pairs
    from stvg.ops import tube_viou
    from stvg.pipeline import STVGPredictor
    from stvg.submission import tube_to_entry

    matchers = {}
    for item in a.matcher:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            ap.error(f"--matcher {item!r}: expected NAME=CHECKPOINT")
        matchers[name] = path
    predictor = STVGPredictor.from_file(a.model, device=a.device)
    if predictor.mode != "two_stage":
        ap.error(f"--model {a.model} is a {predictor.mode} model file, not two_stage")
    models = {}
    for name, path in matchers.items():
        m = load_matcher(path, device=predictor.device).eval()
        for key, want in (("ROI_DIM", predictor.roi_dim),
                          ("NUM_SEGMENTS", int(predictor.configs.features.ROI.NUM_SEGMENTS))):
            got = int(m.cfg.MODEL[key])
            if got != want:
                ap.error(f"--matcher {name}: MODEL.{key} is {got}, the model file's features need {want}")
        models[name] = m

    gt_raw = read_json(a.ann, "annotations")
    anns, _ = load_hcstvg(a.ann)
    tubes = read_tube_folder(a.tubes, list(anns))
    own = dict(predictor.join)
    alone = "matcher alone ranks the pairs"   # the same moments, every MMN score weighing the same
    joins = {"join": join_config(own), "temporal_first": join_config({**own, "PAIR_SCORE": "temporal_first"}),
             alone: join_config({**own, "MOMENT_POW": 0.0})}
    for item in a.variant:
        name, sep, opts = item.partition("=")
        if not sep or not name or name in joins:
            ap.error(f"--variant {item!r}: expected a new NAME=KEY VALUE ...")
        joins[name] = join_config(own, opts.split(), source=f"--variant {name}")
    preds: Dict[str, Dict[str, dict]] = {}
    oracle, top1_oracle = {}, {}
    with h5py.File(a.features, "r") as f:
        for vid, ann in anns.items():
            if vid not in f or vid not in tubes:
                raise SystemExit(f"{a.features} / {a.tubes}: no features or no tube file for video {vid}")
            g = f[vid]
            roi = g["roi_features"][()] if "roi_features" in g else None
            prep = predictor.prepare_from_arrays(
                vid, g["features"][()], g["clip_frames"][()], g["frame_indices"][()], float(g.attrs["fps"]),
                int(g.attrs["num_frames"]), int(g.attrs["width"]), int(g.attrs["height"]), tubes[vid], roi)
            gt_tube = ann.tube
            seen = {}   # join name -> the last matcher's result (the moments do not depend on the matcher)
            for name, m in models.items():
                predictor.matcher = m
                for jname, jopts in joins.items():
                    predictor.join = jopts
                    r = predictor.ground(prep, [ann.sentence], top_k=0)[0]
                    seen[jname] = r
                    if len(r.tube):
                        preds.setdefault(f"{name}: {jname}", {})[vid] = r.entry()
                if prep.tubes:   # the spatial stage alone, in the ground-truth span
                    window = (gt_tube.start_frame, gt_tube.end_frame)
                    s = m.score(prep.tubes, torch.from_numpy(np.ascontiguousarray(prep.roi_features)),
                                [ann.sentence], prep.frame_indices, prep.width, prep.height, window=window,
                                num_frames=prep.num_frames)[0]
                    best = prep.tubes[int(torch.argmax(s))].crop(*window)
                    if len(best):
                        preds.setdefault(f"{name}: GT span + matcher tube", {})[vid] = tube_to_entry(best)
            # every answer the join can give: all (moment, tube) pairs, scored alike, for the model
            # file's moments and each variant's (temporal_first and the matcher alone have the former)
            for jname, r in seen.items():
                if jname in ("temporal_first", alone):
                    continue
                moments, scores = r.moment_frames, r.moment_scores
                pairs = join_pairs(moments, scores, prep.tubes, torch.ones(len(moments), len(prep.tubes)),
                                   joins[jname])
                if not pairs:
                    continue
                v = [float(tube_viou(p.tube, gt_tube)) for p in pairs]
                oracle.setdefault(jname, {})[vid] = tube_to_entry(pairs[int(np.argmax(v))].tube)
                if jname == "join":
                    top = int(torch.argmax(scores))
                    firsts = [(x, p) for x, p in zip(v, pairs) if p.moment == top]
                    if firsts:
                        top1_oracle[vid] = tube_to_entry(max(firsts, key=lambda t: t[0])[1].tube)

    rows = {"oracle pair (top moments x tubes)": oracle.get("join", {}),
            "oracle tube in MMN's top-1 moment": top1_oracle}
    rows.update({f"oracle pair, {k}": v for k, v in oracle.items() if k != "join"})
    rows.update({k: preds.get(k, {}) for k in sorted(preds, key=lambda k: (k.split(": ")[1], k))})
    n = len(anns)
    table = {}
    for label, entries in rows.items():
        res = evaluate(entries, gt_raw, per_video=True)
        hits = sum(tiou >= 0.5 for _, tiou in res["per_video"].values())
        table[label] = {**{k: float(res[k]) for k in KEYS}, "moment@0.5": hits / n}
    print(f"{n} sentences of {a.ann}; model file {a.model}; join {own['PAIR_SCORE']} / {own['TUBE_COVERAGE']}, "
          f"top {own['TOP_MOMENTS']} moments; matchers: " + ", ".join(f"{k}={v}" for k, v in matchers.items()))
    cols = KEYS + ("moment@0.5",)
    print(f"\n{'row':44s} " + " ".join(f"{k:>10s}" for k in cols))
    for label, r in table.items():
        print(f"{label:44s} " + " ".join(f"{100 * r[k]:10.1f}" for k in cols))
    if a.out:
        atomic_write_json(a.out, {"ann": a.ann, "model": a.model, "matchers": matchers, "rows": table})
    return 0


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    sys.exit(main())
