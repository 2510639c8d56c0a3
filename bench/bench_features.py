#!/usr/bin/env python
"""Feature extraction speed: decode only vs backbone alone vs the full extraction.

Generates a test clip (default 20 s, 640x360, 25 fps, H.264), then for each setting (resnet18 frames
at 5 fps, r2plus1d_18 16-frame clips at 15 fps, as in configs/features/) and each device measures:
* decode   : decoding + resizing the sampled frames (what a DataLoader worker does), one process;
* backbone : the extractor on frames already decoded (copy to the device, forward, pooling);
* full     : ``extract_features`` over N copies of the clip (workers decoding ahead, HDF5 parts, merge).
Prints videos/s, sampled frames/s and peak memory, and how far ``full`` is from the decode-only
bound and from the backbone alone. Weights are random (same compute as the pretrained ones, no
download).

    python bench/bench_features.py                      # CPU, and CUDA when present
    python bench/bench_features.py --device cuda --num-videos 32 --workers 8
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)

SETTINGS = {
    "resnet18": "configs/features/hcstvg_resnet18.yaml",
    "r2plus1d_18": "configs/features/hcstvg_r2plus1d.yaml",
}
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_clip(path: str, seconds: float, width: int, height: int, fps: float) -> None:
    """A moving textured pattern (so the encoder cannot make it trivially small)."""
    from stvg.video import write_video

    n = int(round(seconds * fps))
    y, x = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 40, (height, width, 3), dtype=np.uint8)
    frames = np.empty((n, height, width, 3), np.uint8)
    for t in range(n):
        frames[t, ..., 0] = (x + 3 * t) % 256
        frames[t, ..., 1] = (y + 2 * t) % 256
        frames[t, ..., 2] = ((x + y) // 2 + t) % 256
        frames[t] += noise
    write_video(path, frames, fps)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = cpu_model()
    return f"{name}, {os.cpu_count()} cores visible, torch threads {torch.get_num_threads()}"


def rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_setting(name: str, clip: str, device: torch.device, num_videos: int, workers: int,
                  repeats: int) -> dict:
    from stvg.features import FeatureExtractor, extract_features, load_features_config

    cfg = load_features_config(os.path.join(REPO, SETTINGS[name]),
                               ["BACKBONE.WEIGHTS", "none", "RUN.NUM_WORKERS", str(workers)])
    ex = FeatureExtractor.from_config(cfg, device)
    row = {"setting": name, "device": str(device)}

    t0 = time.perf_counter()
    for _ in range(repeats):
        decoded = ex.decode(clip)
    t_dec = (time.perf_counter() - t0) / repeats
    k = int(decoded.frames.shape[0])
    row.update(sampled=k, frame_shape="x".join(map(str, decoded.frames.shape[1:3])))

    ex.extract(decoded)  # warm-up (allocator, cuDNN / oneDNN kernel choice)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        out = ex.extract(decoded)
    sync(device)
    t_bb = (time.perf_counter() - t0) / repeats
    row["dim"] = f"{out.features.shape[0]}x{out.features.shape[1]}"

    with tempfile.TemporaryDirectory() as tmp:
        videos = [(f"v{i:03d}.mp4", clip) for i in range(num_videos)]
        t0 = time.perf_counter()
        s = extract_features(videos, os.path.join(tmp, "f.h5"), cfg, extractor=ex, progress=False)
        sync(device)
        t_full = (time.perf_counter() - t0) / num_videos
        assert s.finished and not s.all_failures, s.message()
    row.update(
        decode_vps=1 / t_dec, decode_fps=k / t_dec,
        backbone_vps=1 / t_bb, backbone_fps=k / t_bb,
        full_vps=1 / t_full, full_fps=k / t_full,
        full_vs_decode=t_full / t_dec, full_vs_backbone=t_full / t_bb,
        peak_host_mb=rss_mb(), peak_worker_mb=rss_mb(resource.RUSAGE_CHILDREN),
        peak_gpu_mb=torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else float("nan"),
    )
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="all", help="cpu, cuda, cuda:N, or all (cpu + cuda when present)")
    p.add_argument("--settings", default="resnet18,r2plus1d_18", help=f"comma list of {list(SETTINGS)}")
    p.add_argument("--num-videos", type=int, default=None, help="videos in the full run (default 2 on CPU, 16 on GPU)")
    p.add_argument("--workers", type=int, default=None, help="decode workers (default 1 on CPU, 6 on GPU)")
    p.add_argument("--repeats", type=int, default=1, help="repeats of the decode-only / backbone timings")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--size", default="640x360")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--video", help="use this clip instead of generating one (--seconds/--size/--fps ignored)")
    p.add_argument("--make-clip", metavar="PATH", help="only write the generated clip to PATH and exit")
    args = p.parse_args(argv)

    if args.device == "all":
        devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    else:
        devices = [torch.device(args.device)]
    w, h = map(int, args.size.lower().split("x"))
    if args.make_clip:
        make_clip(args.make_clip, args.seconds, w, h, args.fps)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.video or os.path.join(tmp, "clip.mp4")
        if not args.video:
            make_clip(clip, args.seconds, w, h, args.fps)
        from stvg.video import VideoReader
        r = VideoReader(clip)
        print(f"test clip: {r.duration:g} s, {r.width}x{r.height}, {r.fps:g} fps, "
              f"{os.path.getsize(clip) / 2**20:.1f} MiB")
        for dev in devices:
            print(f"device {dev}: {machine(dev)}")
            gpu = dev.type == "cuda"
            n = args.num_videos or (16 if gpu else 2)
            workers = args.workers if args.workers is not None else (6 if gpu else 1)
            for name in args.settings.split(","):
                rows.append(bench_setting(name.strip(), clip, dev, n, workers, args.repeats))
                r = rows[-1]
                print(f"  {name}: done ({r['full_vps']:.3f} videos/s full)", flush=True)

    hdr = (f"{'setting':<12} {'device':<7} {'frames':>6} {'input':>8} {'out':>8} | {'decode v/s':>10} "
           f"{'fr/s':>7} | {'backbone v/s':>12} {'fr/s':>7} | {'full v/s':>8} {'fr/s':>7} | "
           f"{'full/dec':>8} {'full/bb':>7} | {'host MB':>7} {'wrk MB':>6} {'GPU MB':>7}")
    print("\n" + hdr + "\n" + "-" * len(hdr))
    for r in rows:
        print(f"{r['setting']:<12} {r['device']:<7} {r['sampled']:>6} {r['frame_shape']:>8} {r['dim']:>8} | "
              f"{r['decode_vps']:>10.3f} {r['decode_fps']:>7.1f} | {r['backbone_vps']:>12.3f} "
              f"{r['backbone_fps']:>7.1f} | {r['full_vps']:>8.3f} {r['full_fps']:>7.1f} | "
              f"{r['full_vs_decode']:>7.2f}x {r['full_vs_backbone']:>6.2f}x | {r['peak_host_mb']:>7.0f} "
              f"{r['peak_worker_mb']:>6.0f} {r['peak_gpu_mb']:>7.0f}")
    print("full/dec: time per video of the full extraction / decode-only time (1.00x = as fast as the "
          "decoder in one process);\nfull/bb: / backbone-alone time (1.00x = decoding fully hidden). "
          "Peak memory: host process RSS, largest worker RSS, torch.cuda.max_memory_allocated.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
