"""Tube matcher benchmark: scoring speed, training-step speed, and accuracy on the synthetic data.

    python bench/bench_matcher.py [--device cpu|cuda] [--repeat 50]
    python bench/bench_matcher.py --data DIR [--epochs 40] [--out bench/results/matcher_cpu.json]

1. Scoring: one sentence (already encoded) against 50 tubes x 16 segments (C = 512), the default
   model (frozen MiniLM, H = J = 128, 2 conv layers, IoU head): median wall time of
   ``score_encoded`` (geometry included) and of ``score_layout`` (geometry precomputed), median and
   minimum of the repeats (on a shared machine the minimum is the unloaded figure). Target < 10 ms on CPU.
2. A training step (forward, loss, backward, AdamW) at batch 32 videos x 4 tubes, frozen text (cached
   encoder means, as the trainer does) and, with ``--finetune-step``, the encoder in the loop.
3. With ``--data DIR`` (a synthetic folder holding ``train.json``/``val.json``/``test.json``, ``tubes/``
   and ``roi_resnet18.h5``; see configs/spatial/matcher_synthetic.yaml for the recipe): train on the
   train split (val for best.pth) and report on the test split, given the ground-truth span, top-1
   accuracy and mean vIoU of the chosen tube, with the window and without it (whole tubes), next to the
   random-tube and largest-tube baselines and the oracle tube.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)
from spatial.matcher import build_matcher, load_matcher_config, tube_layout  # noqa: E402
from spatial.matcher.loss import MatcherLoss  # noqa: E402
from stvg.structures import Tube  # noqa: E402


def _tubes(rng, n, num_frames=300, width=640, height=360):
    out = []
    for _ in range(n):
        a = int(rng.integers(0, num_frames - 20))
        b = int(rng.integers(a + 10, num_frames))
        t = b - a + 1
        xy = np.cumsum(rng.normal(0, 2, (t, 2)), 0) + [width / 2, height / 2]
        boxes = np.concatenate([xy - 20, xy + 20], 1).clip(0, [width, height, width, height])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
        out.append(Tube(np.arange(a, b + 1), boxes.astype(np.float32)))
    return out


def _timeit(fn, repeat, sync):
    fn()
    times = []
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(1000 * statistics.median(times), 3), "min_ms": round(1000 * min(times), 3)}


def bench_scoring(cfg, device, repeat):
    model = build_matcher(cfg).to(device).eval()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rng = np.random.default_rng(0)
    tubes = _tubes(rng, 50)
    fi = np.arange(0, 300, 6)
    roi = torch.randn(50, 16, 512, device=device)
    sent = model.encode_sentences(["the man in the red shirt walks to the left, then waves"])
    lay = tube_layout(tubes, fi, 16, 640, 360, 300)
    full = _timeit(lambda: model.score_encoded(sent, tubes, roi, fi, 640, 360, (60, 200), 300), repeat, sync)
    pre = _timeit(lambda: model.score_layout(sent, roi, lay, (60, 200)), repeat, sync)
    text = _timeit(lambda: model.encode_sentences(["the man in the red shirt walks to the left"]), max(5, repeat // 5), sync)
    return {"score_encoded": full, "score_layout": pre, "encode_sentence": text}


def bench_train_step(cfg, device, repeat, finetune):
    model = build_matcher(cfg).to(device).train()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    loss_fn = MatcherLoss(cfg.LOSS, model.joint_dim, model.iou_scale)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    b, n = 32, 4
    roi = torch.randn(b * n, 16, 512, device=device)
    geo = torch.rand(b * n, 16, 9, device=device)
    mask = torch.ones(b * n, 16, dtype=torch.bool, device=device)
    tv = torch.arange(b, device=device).repeat_interleave(n)
    sv = torch.arange(b, device=device)
    viou = torch.zeros(b, b * n, device=device)
    viou[sv, sv * n] = 0.8
    sentences = [f"the person in colour {i} walks left then waves" for i in range(b)]
    ids, am = model.tokenize(sentences)
    ids, am = ids.to(device), am.to(device)
    with torch.no_grad():
        pooled = model.text_encoder.pooled(ids, am)
    amp = device.type == "cuda"

    def step():
        with torch.autocast(device_type=device.type, enabled=amp):
            if finetune:
                sent, tubes = model(roi, geo, mask, input_ids=ids, attention_mask=am)
            else:
                sent, tubes = model(roi, geo, mask, pooled=pooled)
        loss = loss_fn(sent, tubes, viou, sv, tv)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _timeit(step, repeat, sync)


def bench_synthetic(data, epochs, device, out_dir):
    from spatial.matcher.data import load_matcher_split
    from spatial.matcher.evaluate import evaluate_videos
    from spatial.matcher.train import train_videos

    paths = ["DATASET.TRAIN_ANN", os.path.join(data, "train.json"), "DATASET.VAL_ANN", os.path.join(data, "val.json"),
             "DATASET.TEST_ANN", os.path.join(data, "test.json"), "DATASET.TUBES", os.path.join(data, "tubes"),
             "DATASET.FEATURES", os.path.join(data, "roi_resnet18.h5"), "DATASET.SKIP_MISSING", "True"]
    results = {}
    for name, extra in (("full", []), ("geometry_only", ["MODEL.USE_APPEARANCE", "False"]),
                        ("appearance_only", ["MODEL.USE_GEOMETRY", "False"]),
                        ("trained_without_window", ["SOLVER.TRAIN_WINDOW", "none"])):
        cfg = load_matcher_config("configs/spatial/matcher_synthetic.yaml", paths + extra + [
            "SOLVER.EPOCHS", str(epochs), "SOLVER.MILESTONES", f"[{int(epochs * 0.75)}]", "DEVICE", str(device),
            "OUTPUT_DIR", os.path.join(out_dir, name)])
        train_set, rep = load_matcher_split(cfg, "train")
        val_set = load_matcher_split(cfg, "val")[0]
        test_set = load_matcher_split(cfg, "test")[0]
        t0 = time.time()
        summary, model = train_videos(cfg, train_set, val_set, progress=False, return_model=True)
        seconds = time.time() - t0
        from spatial.matcher import load_matcher
        best = load_matcher(os.path.join(out_dir, name, "best.pth"), device)
        res = {"train_seconds": round(seconds, 1), "best_epoch": summary["best_epoch"], "ceiling_train": summary["ceiling"],
               "train_videos": len(train_set), "test_videos": len(test_set), "data": rep.summary()}
        for window in ("gt", "none"):
            res[f"test_window_{window}"] = evaluate_videos(best, test_set, window).evaluate()
        results[name] = res
        print(name, json.dumps(res, indent=1), flush=True)
        if name == "full" and os.environ.get("BENCH_MATCHER_FULL_ONLY"):
            break
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--finetune-step", action="store_true", help="also time a step with the text encoder trained")
    ap.add_argument("--data", help="synthetic folder (train/val/test.json, tubes/, roi_resnet18.h5)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--runs", default=None, help="where the synthetic runs go (default: a temporary folder)")
    ap.add_argument("--out", help="results JSON")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfg = load_matcher_config(None, ["DEVICE", args.device])
    res = {"machine": cpu_model() if device.type == "cpu" else torch.cuda.get_device_name(device),
           "torch_threads": torch.get_num_threads(), "device": str(device)}
    res["scoring"] = bench_scoring(cfg, device, args.repeat)
    print("scoring, 1 sentence x 50 tubes x 16 segments:", res["scoring"], flush=True)
    res["train_step_frozen_text"] = bench_train_step(cfg, device, max(5, args.repeat // 5), False)
    print("training step, 32 videos x 4 tubes, frozen text:", res["train_step_frozen_text"], flush=True)
    if args.finetune_step:
        ft = load_matcher_config(None, ["DEVICE", args.device, "MODEL.FREEZE_TEXT", "False"])
        res["train_step_finetune_text"] = bench_train_step(ft, device, max(3, args.repeat // 10), True)
        print("training step, text encoder fine-tuned:", res["train_step_finetune_text"], flush=True)
    if args.data:
        runs = args.runs or tempfile.mkdtemp(prefix="bench_matcher_")
        res["synthetic"] = bench_synthetic(args.data, args.epochs, device, runs)
    if args.out:
        from stvg.io import atomic_write_json
        atomic_write_json(args.out, res, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
