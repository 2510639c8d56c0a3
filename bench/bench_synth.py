#!/usr/bin/env python
"""Synthetic data benchmark: generation throughput, HOG detectability, reference baselines.

    python bench/bench_synth.py                       # defaults sized for a shared CPU
    python bench/bench_synth.py --videos 100 --workers 8 --baseline-videos 1000 --device cuda

1. Throughput: generate --videos clips (default config) with --workers processes; videos/s,
   CPU seconds per video, bytes per video, projected wall time for 1,000 videos.
2. Detectability: OpenCV's default HOG people detector on the decoded clips (every --frame-step
   frames, optionally upscaled by --upscale first): recall at IoU >= 0.5 on fully visible people,
   false positives per frame (and those touching no person), recall per action.
3. Baselines: the four reference baselines on the test split of an annotations-only set of
   --baseline-videos clips, scored by stvg.evaluation.evaluate on --device (CPU and, when CUDA
   is available, also CUDA, checking both give the same numbers).
Generation and HOG are CPU work (OpenCV's pip wheel has no CUDA); the machine is printed.
"""
import argparse
import os
import pathlib
import resource
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from spatial.detectors import build_detector  # noqa: E402
from stvg.data.synthetic import generate  # noqa: E402
from stvg.data.synthetic.baselines import score_all  # noqa: E402
from stvg.data.synthetic.detectability import detectability  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)


def machine() -> str:
    cpu = cpu_model()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA"
    return f"CPU: {cpu} ({os.cpu_count()} logical cores); GPU: {gpu}"


def cpu_seconds() -> float:
    r = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(x.ru_utime + x.ru_stime for x in r)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--frame-step", type=int, default=4)
    ap.add_argument("--upscale", type=float, default=1.0, help="resize frames before HOG")
    ap.add_argument("--baseline-videos", type=int, default=400)
    ap.add_argument("--device", default=None, help="evaluator device for the baselines (default: cpu, "
                    "plus cuda when available)")
    ap.add_argument("--out", default=None, help="keep the generated data here (default: a temp folder)")
    args = ap.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or os.path.join(tmp, "synth")
        c0, t0 = cpu_seconds(), time.perf_counter()
        rep = generate(out, args.videos, args.seed, workers=args.workers)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        n = rep.rendered or 1
        print(f"\n## Throughput ({args.videos} videos, 8 s at 10 fps, 480x270, {args.workers} worker(s))")
        print("| videos/s | CPU s/video | bytes/video | projected 1,000 videos |")
        print("|---|---|---|---|")
        print(f"| {rep.rendered / wall:.2f} | {cpu / n:.2f} | {rep.bytes_videos / max(1, args.videos):,.0f} | "
              f"{1000 / (rep.rendered / wall) / 60:.1f} min |")
        if rep.failures:
            print(f"failures: {rep.failures}")

        t0 = time.perf_counter()
        hog = build_detector("hog", upscale=args.upscale)
        d = detectability(out, hog, frame_step=args.frame_step)
        print(f"\n## HOG detectability (spatial 'hog' backend: cv2 default people detector, frames x{args.upscale}, "
              f"windows trimmed by {hog.margins}; {d['frames']} frames, {d['visible']} fully visible people, "
              f"{time.perf_counter() - t0:.0f} s)")
        print("| recall@0.5 | recall, upright only | FP/frame | FP/frame touching no person |")
        print("|---|---|---|---|")
        print(f"| {d['recall']:.3f} | {d['upright_recall']:.3f} | {d['fp_per_frame']:.3f} | "
              f"{d['background_fp_per_frame']:.3f} |")
        print("per action: " + ", ".join(f"{a} {r:.2f} (n={c})" for a, (c, r) in d["per_action"].items()))

        base = os.path.join(tmp, "baseline")
        generate(base, args.baseline_videos, args.seed + 1, write_videos=False)
        devices = [args.device] if args.device else ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
        results = {}
        for dev in devices:
            t0 = time.perf_counter()
            results[dev] = score_all(base, "test", seeds=5, device=dev)
            secs = time.perf_counter() - t0
            r0 = next(iter(results[dev].values()))
            print(f"\n## Baselines, test split of {args.baseline_videos} videos ({r0['num_videos']} test videos), "
                  f"evaluator on {dev} ({secs:.1f} s, %)")
            print("| baseline | m_tIoU | m_vIoU | vIoU@0.3 | vIoU@0.5 |")
            print("|---|---|---|---|---|")
            for name, r in results[dev].items():
                print(f"| {name} | {100 * r['m_tIoU']:.1f} | {100 * r['m_vIoU']:.1f} | "
                      f"{100 * r['vIoU@0.3']:.1f} | {100 * r['vIoU@0.5']:.1f} |")
        if len(results) > 1:
            a, b = results.values()
            same = all(abs(a[k][m] - b[k][m]) <= 1e-9 for k in a for m in a[k])
            print(f"\nCPU and CUDA evaluator numbers identical: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
