#!/usr/bin/env python
"""MMN benchmark: training step time, inference time per video, peak memory.

Settings (the reference configs, docs/temporal.md): Charades-STA (VGG 4096-d, 32 -> 16 clips, [15], conv 5 x 8 layers) and
ActivityNet (C3D 500-d, 256 -> 64 clips, [15, 8, 8], conv 9 x 4 layers). Random features,
3 sentences of 12 tokens per video, a full-size DistilBERT built from the library-default config
with random weights (no download), trainable. A training step = forward + MMN losses + backward +
gradient clipping + AdamW step. Inference = forward + test-score fusion, no grad, eval mode.

Reference implementation figures from the issue (measured with 2 CPU threads, same settings):
Charades batch 48: 86 s/step, 0.55 s/video inference; ActivityNet batch 8: 129 s/step, 4.9 s/video.
At another batch size the training comparison uses seconds per video-step (reference step time /
its batch), which assumes time linear in the batch (true for the conv stack that dominates).

On CUDA it also runs AMP (float16 autocast + GradScaler) with channels_last and prints the ratio
to float32 (target >= 2x).

    python bench/bench_temporal.py --device cpu --threads 2 --batch-size 4 --steps 1
    python bench/bench_temporal.py --device cuda                  # full reference batch sizes
"""
from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import threading
import time

import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from temporal.defaults import load_temporal_config  # noqa: E402
from temporal.losses import MMNLoss  # noqa: E402
from temporal.maps import iou_map  # noqa: E402
from temporal.model import MMN  # noqa: E402
from machine_info import cpu_model  # noqa: E402  (bench/ is on sys.path when run as a script)

SETTINGS = {
    "charades": dict(overrides=[], ref_batch=48, ref_step=86.0, ref_infer=0.55),
    "activitynet": dict(overrides=["MODEL.FEAT_DIM", "500", "MODEL.NUM_PRE_CLIPS", "256", "MODEL.NUM_CLIPS", "64",
                                   "MODEL.POOL_KERNEL", "4", "MODEL.POOLING_COUNTS", "[15, 8, 8]",
                                   "MODEL.CONV_KERNEL", "9", "MODEL.CONV_LAYERS", "4", "LOSS.MARGIN", "0.3",
                                   "LOSS.CONTRASTIVE_WEIGHT", "0.1"],
                        ref_batch=8, ref_step=129.0, ref_infer=4.9),
}
SENTS_PER_VIDEO, TOKENS = 3, 12


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = cpu_model()
    return f"{cpu}, {torch.get_num_threads()} torch threads"


class PeakMemory:
    """Peak memory of a block: CUDA max_memory_allocated, or on CPU the process RSS sampled every 5 ms."""

    def __init__(self, device: torch.device):
        self.device, self.peak, self._stop = device, 0, threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.005)

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak = self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self._rss())


def make_batch(cfg, batch: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    m = cfg.MODEL
    feats = torch.nn.functional.normalize(torch.rand(batch, m.NUM_PRE_CLIPS, m.FEAT_DIM, generator=g), dim=-1)
    s = batch * SENTS_PER_VIDEO
    ids = torch.randint(1000, 30000, (s, TOKENS), generator=g)
    ids[:, 0], ids[:, -1] = 101, 102
    att = torch.ones(s, TOKENS, dtype=torch.long)
    sv = torch.arange(batch).repeat_interleave(SENTS_PER_VIDEO)
    duration = 30.0
    starts = torch.rand(s, generator=g) * 20
    segs = torch.stack([starts, starts + 2 + torch.rand(s, generator=g) * 8], 1)
    targets = torch.stack([iou_map(tuple(seg.tolist()), duration, m.NUM_CLIPS) for seg in segs])
    to = lambda t: t.to(device)  # noqa: E731
    return to(feats), to(ids), to(att), to(sv), to(targets), to(segs)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, steps: int, device):
    """Median wall seconds and median process CPU seconds (all threads) of ``fn`` over ``steps``."""
    fn()  # warm-up (allocator, cudnn autotune)
    sync(device)
    times, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu)


def run_setting(name: str, device: torch.device, batch: int, steps: int, amp: bool, dense: bool = False) -> dict:
    spec = SETTINGS[name]
    cfg = load_temporal_config(None, ["MODEL.TEXT_ENCODER_PRETRAINED", "False"] + spec["overrides"])
    torch.manual_seed(0)
    model = MMN(cfg.MODEL).to(device)
    model.proposal_conv.dense = dense
    if amp:
        model = model.to(memory_format=torch.channels_last)
    crit = MMNLoss(cfg.LOSS, model.mask)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), weight_decay=1e-5)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    feats, ids, att, sv, targets, segs = make_batch(cfg, batch, device)
    if amp:
        feats = feats.contiguous()

    def train_step():
        model.train()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            out = model(feats, ids, att, sv)
        loss = crit(out, targets, sv, 1, segs)["loss"]
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()

    @torch.no_grad()
    def infer():
        model.eval()
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            model.test_scores(model(feats, ids, att, sv))

    with PeakMemory(device) as mem_train:
        step, step_cpu = timed(train_step, steps, device)
    with PeakMemory(device) as mem_infer:
        inf, inf_cpu = timed(infer, steps, device)
    return dict(step=step, infer_per_video=inf / batch, mem_train=mem_train.peak, mem_infer=mem_infer.peak,
                step_cpu=step_cpu, infer_cpu_per_video=inf_cpu / batch)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=None,
                   help="videos per batch for every setting (default: the reference's, 48 / 8)")
    p.add_argument("--steps", type=int, default=3, help="timed repetitions after one warm-up (median reported)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (the reference figures used 2)")
    p.add_argument("--no-amp", action="store_true", help="on CUDA, skip the AMP + channels_last runs")
    p.add_argument("--dense", action="store_true",
                   help="run the literal full-map proposal conv stack instead of the (exact) banded one")
    p.add_argument("--allow-tf32", action="store_true", help="on CUDA, let fp32 convs / matmuls use TF32")
    p.add_argument("--compare-dense", action="store_true",
                   help="also time the literal full-map stack (the reference's arithmetic) in fp32 on this "
                        "machine and print the speed-up of the banded stack")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # fp32 rows are true float32 unless --allow-tf32 (PyTorch lets cuDNN convs use TF32 by default)
        torch.backends.cudnn.allow_tf32 = args.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = args.allow_tf32
    print(f"machine: {machine(device)}; torch {torch.__version__}; {SENTS_PER_VIDEO} sentences/video, "
          f"{TOKENS} tokens, DistilBERT (default config, random init) trainable; median of {args.steps} "
          f"after 1 warm-up; proposal convs {'dense' if args.dense else 'banded (exact)'}"
          + (f"; TF32 {'on' if args.allow_tf32 else 'off'} for fp32" if device.type == "cuda" else ""))
    modes = [False] + ([True] if device.type == "cuda" and not args.no_amp else [])
    if args.compare_dense and not args.dense:
        modes = ["dense"] + modes
    header = (f"{'setting':<12} {'mode':<14} {'batch':>5} {'step s':>9} {'s/video-step':>12} {'ref s/v-step':>12} "
              f"{'x ref':>7} {'infer s/vid':>11} {'ref':>6} {'x ref':>7} {'peak train':>11} {'peak infer':>11}")
    print(header)
    print("-" * len(header))
    for name in args.settings:
        spec = SETTINGS[name]
        batch = args.batch_size or spec["ref_batch"]
        results = {}
        for amp in modes:
            if amp == "dense":
                r = run_setting(name, device, batch, args.steps, False, True)
            else:
                r = run_setting(name, device, batch, args.steps, amp, args.dense)
            results[amp] = r
            ref_pv = spec["ref_step"] / spec["ref_batch"]
            pv = r["step"] / batch
            mode = "fp32 dense" if amp == "dense" else ("AMP+chlast" if amp else "fp32")
            print(f"{name:<12} {mode:<14} {batch:>5} {r['step']:>9.3f} {pv:>12.4f} {ref_pv:>12.4f} "
                  f"{ref_pv / pv:>6.1f}x {r['infer_per_video']:>11.4f} {spec['ref_infer']:>6.2f} "
                  f"{spec['ref_infer'] / r['infer_per_video']:>6.1f}x {r['mem_train'] / 2**20:>8.0f} MB "
                  f"{r['mem_infer'] / 2**20:>8.0f} MB", flush=True)
            if device.type == "cpu":
                # On a shared machine wall time includes waiting for a core; process CPU time does not.
                # The reference's 2 threads give at most 2 CPU-seconds per wall second.
                ref_cpu_pv = 2 * ref_pv
                cpu_pv = r["step_cpu"] / batch
                print(f"{'':<12} {'CPU-seconds':<14} {batch:>5} {r['step_cpu']:>9.3f} {cpu_pv:>12.4f} "
                      f"{ref_cpu_pv:>12.4f} {ref_cpu_pv / cpu_pv:>6.1f}x {r['infer_cpu_per_video']:>11.4f} "
                      f"{2 * spec['ref_infer']:>6.2f} {2 * spec['ref_infer'] / r['infer_cpu_per_video']:>6.1f}x", flush=True)
        if "dense" in results:
            d, f = results["dense"], results[False]
            print(f"{name:<12} banded vs dense (fp32, same machine): training {d['step'] / f['step']:.2f}x "
                  f"({d['step_cpu'] / f['step_cpu']:.2f}x in CPU time), inference "
                  f"{d['infer_per_video'] / f['infer_per_video']:.2f}x "
                  f"({d['infer_cpu_per_video'] / f['infer_cpu_per_video']:.2f}x in CPU time)")
        if True in results:
            a, f = results[True], results[False]
            print(f"{name:<12} AMP+channels_last vs fp32: training {f['step'] / a['step']:.2f}x, "
                  f"inference {f['infer_per_video'] / a['infer_per_video']:.2f}x (target >= 2x)")
    print("x ref = reference time / ours (> 1: faster than the reference figures of the issue, which were "
          "measured on another machine with 2 CPU threads). CPU peak = process RSS (includes the model).")
    if device.type == "cpu":
        print("CPU-seconds rows: process CPU time (all threads); reference columns = 2 threads x its wall "
              "time, an upper bound of its CPU time. Use them when the machine is shared (load > cores).")
        print(f"load average now: {', '.join(f'{v:.1f}' for v in __import__('os').getloadavg())} "
              f"on {__import__('os').cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
