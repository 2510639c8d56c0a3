"""Defaults of the synthetic-dataset config (every key a YAML file or override may set)."""
from __future__ import annotations

import math
from typing import Iterable, Optional

from ...config import Config, load_config

__all__ = ["SYNTH_DEFAULTS", "load_synth_config", "check_synth_config"]

SYNTH_DEFAULTS = {
    "VIDEO": {
        "WIDTH": 480,            # pixels (even, for H.264)
        "HEIGHT": 270,
        "FPS": 10.0,
        "DURATION": 8.0,         # seconds per clip (written to each entry as "duration")
        "CRF": 23,               # H.264 quality (lower = larger files)
        "NOISE": 3.0,            # per-frame Gaussian sensor noise, grey levels
    },
    "PEOPLE": {
        "MIN": 2,                # people per video
        "MAX": 4,
        "HEIGHT": [0.38, 0.5],   # standing height / frame height (the HOG detector needs >= ~96 px)
        "ENTER_PROB": 0.2,       # chance a person walks in from off-screen at the start
        "LEAVE_PROB": 0.08,      # chance, at each span boundary, that a person walks out for good
    },
    "HARD": {
        "TWIN_PROB": 0.25,       # a distractor dressed exactly like the target who never does the described actions
        "NEAR_TWIN_PROB": 0.35,  # a distractor differing in one named attribute who does the described action
    },
    "SENTENCE": {
        "TWO_ACTION_PROB": 0.35,  # describe two consecutive spans ("waves, then walks to the left")
        "EXTRA_ATTR_PROB": 0.3,   # name more appearance than strictly needed
        "MIN_SPAN_SECONDS": 0.8,  # shortest ground-truth tube per described span
    },
    "SPLITS": {
        "VAL": 0.15,             # fractions of the videos; train gets the rest
        "TEST": 0.15,
    },
}


def load_synth_config(path: Optional[str] = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults, then a YAML file (optional), then ``KEY VALUE`` overrides; frozen."""
    return load_config(path, defaults=SYNTH_DEFAULTS, overrides=list(overrides))


def check_synth_config(cfg: Config) -> None:
    """The value ranges the generator needs (the loader checks keys and types); raises
    ``ValueError`` naming the first key out of range."""
    v, p = cfg.VIDEO, cfg.PEOPLE
    for key in ("FPS", "DURATION"):
        if not (math.isfinite(v[key]) and v[key] > 0):
            raise ValueError(f"VIDEO.{key} must be a positive number, got {v[key]}")
    if round(v.DURATION * v.FPS) < 2:
        raise ValueError(f"VIDEO.DURATION x VIDEO.FPS must give at least 2 frames, got "
                         f"{v.DURATION} s x {v.FPS} fps")
    for key in ("WIDTH", "HEIGHT"):
        if v[key] % 2 or v[key] < 16:
            raise ValueError(f"VIDEO.{key} must be even (H.264) and >= 16, got {v[key]}")
    if not 0 <= v.CRF <= 51:
        raise ValueError(f"VIDEO.CRF must be in [0, 51] (H.264 quality), got {v.CRF}")
    if not (math.isfinite(v.NOISE) and v.NOISE >= 0):
        raise ValueError(f"VIDEO.NOISE must be >= 0, got {v.NOISE}")
    if not 1 <= p.MIN <= p.MAX:
        raise ValueError(f"PEOPLE.MIN and PEOPLE.MAX need 1 <= MIN <= MAX, got {p.MIN} and {p.MAX}")
    h = list(p.HEIGHT)
    if len(h) != 2 or not 0 < h[0] <= h[1] <= 1:
        raise ValueError(f"PEOPLE.HEIGHT must be [low, high] with 0 < low <= high <= 1, got {h}")
    probs = [("PEOPLE", "ENTER_PROB"), ("PEOPLE", "LEAVE_PROB"), ("HARD", "TWIN_PROB"), ("HARD", "NEAR_TWIN_PROB"),
             ("SENTENCE", "TWO_ACTION_PROB"), ("SENTENCE", "EXTRA_ATTR_PROB"), ("SPLITS", "VAL"), ("SPLITS", "TEST")]
    for section, key in probs:
        if not 0 <= cfg[section][key] <= 1:
            raise ValueError(f"{section}.{key} must be in [0, 1], got {cfg[section][key]}")
    if cfg.SPLITS.VAL + cfg.SPLITS.TEST > 1:
        raise ValueError(f"SPLITS.VAL + SPLITS.TEST must be <= 1, got {cfg.SPLITS.VAL} + {cfg.SPLITS.TEST}")
    if not (math.isfinite(cfg.SENTENCE.MIN_SPAN_SECONDS) and cfg.SENTENCE.MIN_SPAN_SECONDS > 0):
        raise ValueError(f"SENTENCE.MIN_SPAN_SECONDS must be positive, got {cfg.SENTENCE.MIN_SPAN_SECONDS}")
