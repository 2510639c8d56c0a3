"""Defaults of the synthetic-dataset config (every key a YAML file or override may set)."""
from __future__ import annotations

from typing import Iterable, Optional

from ..config import Config, load_config

__all__ = ["SYNTH_DEFAULTS", "load_synth_config"]

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
