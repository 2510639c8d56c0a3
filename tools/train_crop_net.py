#!/usr/bin/env python
"""Train the crop net (a trained RoI source, ``ROI.CROP_NET``) on a synthetic folder's person crops.

    python tools/train_crop_net.py --data data/synth --features-config configs/features/synthetic_resnet18.yaml \
        --out data/synth/crop_net.pth [--epochs 6] [--val-videos 60] [--jitter 0.1] [--seed 0] [--jobs 2]

Crops every person of the folder's train split on the frames the features config samples, labelled
with the generator's action on that frame (stvg.data.synthetic.crop_labels), trains the net
(stvg.features.crop_train) and scores it on the first ``--val-videos`` val videos; writes ``--out``
atomically (stvg.features.crop_net) with the data, seed and accuracies in its ``meta``. Labels come
from the synthetic generator: this net is a synthetic-data crutch (no pretrained weights exist
offline), not a model of real actions. An existing ``--out`` is kept (delete it to retrain).
Exit codes: 0 written or kept, 2 bad input.
"""
import logging
import os
import sys
import time

import torch

from stvg.cli import tool_main, tool_parser


@tool_main()
def main(argv=None) -> int:
    from stvg.data.synthetic.actions import ACTIONS
    from stvg.data.synthetic.crop_labels import action_crops
    from stvg.features.crop_net import save_crop_net
    from stvg.features.crop_train import train_crop_net
    from stvg.features.defaults import load_features_config
    from stvg.model_file import portable

    ap = tool_parser(__doc__, device=False, config=False, overrides=False)
    ap.add_argument("--data", required=True, help="a folder written by tools/make_synthetic.py")
    ap.add_argument("--features-config", required=True, help="the features config the net will serve")
    ap.add_argument("--out", required=True, help="the crop-net file to write")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--val-videos", type=int, default=60, help="val videos scored after each epoch")
    ap.add_argument("--train-videos", type=int, default=0, help="train videos used (0: all)")
    ap.add_argument("--jitter", type=float, default=0.1, help="random box shift / scale, share of its size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="decoding processes")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for training (0: torch's default)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level), format="%(message)s")
    if args.epochs < 1 or args.val_videos < 1 or args.jobs < 1 or not 0 <= args.jitter < 0.5:
        ap.error("--epochs, --val-videos and --jobs must be >= 1, --jitter in [0, 0.5)")
    if os.path.exists(args.out):
        print(f"{args.out}: exists, kept (delete it to retrain)")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_features_config(args.features_config, ["ROI.CROP_NET", ""])
    t0 = time.time()
    try:
        x, y, n = action_crops(args.data, "train", cfg, args.train_videos or None, args.jitter, args.seed, args.jobs)
        xv, yv, nv = action_crops(args.data, "val", cfg, args.val_videos, 0.0, args.seed, args.jobs)
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"crops: {n['crops']} of {n['videos']} train videos, {nv['crops']} of {nv['videos']} val videos "
          f"({time.time() - t0:.0f} s)", flush=True)
    t1 = time.time()
    net, history = train_crop_net(x, y, ACTIONS, (xv, yv), args.epochs, seed=args.seed,
                                  flip_pairs=[("walk_left", "walk_right")], log=lambda m: print(m, flush=True))
    acc = max(h["val_accuracy"] for h in history)   # the kept epoch's (train_crop_net keeps the best)
    meta = {"data": os.path.abspath(args.data), "train_videos": n["videos"], "train_crops": n["crops"],
            "val_videos": nv["videos"], "val_crops": nv["crops"], "val_accuracy": acc, "epochs": args.epochs,
            "seed": args.seed, "jitter": args.jitter, "history": history,
            "labels": "the synthetic generator's action on each frame (meta.json)"}
    save_crop_net(args.out, net, portable(meta))
    print(f"{args.out}: val accuracy {acc:.3f} per crop ({time.time() - t1:.0f} s training)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
