"""Person-detector speed: seconds per frame for each backend, on the CPU and (when present) CUDA.

    python bench/bench_detectors.py [--video vtest.avi] [--frames 8] [--device all|cpu|cuda]
                                    [--backends hog torchvision detectron2] [--min-size 800]

Frames: ``--frames`` consecutive frames of ``--video`` (e.g. OpenCV's vtest.avi, 768 x 576), or, without
a video, the shipped pedestrian crop (tests/spatial/data) tiled to 768 x 576. torchvision and detectron2
run with random weights (no downloads; the time of a forward pass does not depend on the weight values,
only the number of boxes surviving the score threshold does, which is why the threshold is 0.5 and the
detections column is only meaningful for HOG). One warm-up batch is not timed; CUDA is synchronised.
HOG is CPU-only (OpenCV). detectron2 is skipped when not installed.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from spatial.detectors import build_detector  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_frames(video, n: int) -> np.ndarray:
    if video:
        from stvg.video import VideoReader
        r = VideoReader(video)
        return r.get_frames(list(range(min(n, r.num_frames))))
    import cv2
    crop = cv2.cvtColor(cv2.imread(os.path.join(ROOT, "tests", "spatial", "data", "vtest_pedestrian.png")),
                        cv2.COLOR_BGR2RGB)
    tile = np.tile(crop, (576 // crop.shape[0] + 1, 768 // crop.shape[1] + 1, 1))[:576, :768]
    return np.stack([np.roll(tile, 4 * t, axis=1) for t in range(n)])


def machine() -> str:
    cpu = cpu_model()
    text = f"CPU: {cpu} ({os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}), torch {torch.__version__}"
    if torch.cuda.is_available():
        text += f"; GPU: {torch.cuda.get_device_name(0)}"
    return text


def time_detector(det, frames: np.ndarray, device: str) -> tuple:
    bs = det.batch_size
    det(frames[:bs])  # warm-up (allocations, cuDNN autotuning)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = det(frames)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    return dt / len(frames), float(np.mean([len(d) for d in out]))


def configurations(backends, devices, min_size: int, batch: int):
    for backend in backends:
        if backend == "hog":
            for up in (1.0, 2.0):
                yield "hog", f"upscale {up:g}", "cpu", dict(upscale=up)
            continue
        for dev in devices:
            if backend == "torchvision":
                for model in ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn"):
                    yield "torchvision", model, dev, dict(model=model, weights=None, min_size=min_size,
                                                          batch_size=batch, device=dev)
            elif backend == "detectron2":
                yield "detectron2", "faster_rcnn_R_50_FPN_3x", dev, dict(
                    config="COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml", weights=None, min_size=min_size,
                    batch_size=batch, device=dev)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--device", default="all", help="all (CPU, and CUDA when present) | cpu | cuda")
    ap.add_argument("--backends", nargs="+", default=["hog", "torchvision", "detectron2"])
    ap.add_argument("--min-size", type=int, default=800, help="shorter side fed to the CNN detectors")
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("--device cuda but CUDA is not available")
    else:
        devices = [args.device]
    frames = load_frames(args.video, args.frames)
    print(machine())
    print(f"frames: {len(frames)} x {frames.shape[2]}x{frames.shape[1]} "
          f"({'from ' + args.video if args.video else 'tiled pedestrian crop'}); CNN shorter side {args.min_size}")
    header = f"{'backend':12s} {'model':36s} {'device':7s} {'batch':>5s} {'s/frame':>9s} {'frames/s':>9s} {'dets/frame':>10s}"
    print(header)
    print("-" * len(header))
    for backend, model, dev, opts in configurations(args.backends, devices, args.min_size, args.batch):
        try:
            torch.manual_seed(0)
            det = build_detector(backend, **opts)
        except ImportError as e:
            print(f"{backend:12s} {model:36s} {dev:7s} skipped: {str(e)[:110]}")
            continue
        spf, n = time_detector(det, frames, dev)
        print(f"{backend:12s} {model:36s} {dev:7s} {det.batch_size:5d} {spf:9.4f} {1 / spf:9.2f} {n:10.1f}")
        del det
        if dev.startswith("cuda"):
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
