"""Named colours and per-person appearance (what a sentence can name, and what is only drawn).

Named attributes (the words a sentence may use): ``gender`` (man / woman), ``top`` colour,
``bottom`` colour, ``hat`` (yes / no). Drawn-only variation (never named): skin and hair tone,
hat colour, sleeve length, skirt or trousers, body height and build.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

__all__ = ["CLOTHING_COLOURS", "SKIN_TONES", "HAIR_COLOURS", "Appearance", "NAMED_ATTRIBUTES",
           "sample_appearance"]

RGB = Tuple[int, int, int]

# Saturated or clearly distinct clothing colours; every name is a plain English colour word.
CLOTHING_COLOURS: Dict[str, RGB] = {
    "red": (200, 30, 35),
    "blue": (35, 70, 190),
    "green": (30, 140, 50),
    "yellow": (235, 205, 40),
    "black": (25, 25, 28),
    "white": (235, 235, 230),
    "orange": (235, 120, 25),
    "purple": (120, 45, 150),
    "pink": (235, 120, 170),
    "brown": (110, 70, 35),
    "grey": (120, 120, 125),
}
SKIN_TONES: Tuple[RGB, ...] = ((240, 200, 170), (215, 165, 125), (175, 120, 85), (120, 80, 55))
HAIR_COLOURS: Tuple[RGB, ...] = ((20, 15, 10), (70, 45, 25), (150, 110, 60), (200, 170, 110), (90, 90, 90))

NAMED_ATTRIBUTES = ("gender", "top", "bottom", "hat")


@dataclass(frozen=True)
class Appearance:
    """One person's look. ``height`` is the standing height as a fraction of the frame height."""

    gender: str            # "man" | "woman"
    top: str               # key of CLOTHING_COLOURS
    bottom: str            # key of CLOTHING_COLOURS
    hat: bool
    hat_colour: str        # drawn only
    skin: int              # index into SKIN_TONES
    hair: int              # index into HAIR_COLOURS
    long_sleeves: bool
    skirt: bool            # women only; drawn only (a sentence calls it by colour)
    height: float          # standing height / frame height
    build: float           # width multiplier, about 0.9 - 1.1

    def named(self) -> Dict[str, object]:
        """The attributes a sentence may name, as a dict."""
        return {"gender": self.gender, "top": self.top, "bottom": self.bottom, "hat": self.hat}

    def with_named(self, **changes: object) -> "Appearance":
        d = dict(self.__dict__)
        d.update(changes)
        if d["gender"] == "man":
            d["skirt"] = False
        return Appearance(**d)


def sample_appearance(rng: np.random.Generator, height_range: Tuple[float, float]) -> Appearance:
    names = list(CLOTHING_COLOURS)
    gender = "woman" if rng.random() < 0.5 else "man"
    top = names[rng.integers(len(names))]
    bottom = names[rng.integers(len(names))]
    while bottom == top:  # a one-colour outfit makes "top" and "bottom" indistinct
        bottom = names[rng.integers(len(names))]
    return Appearance(
        gender=gender, top=top, bottom=bottom, hat=bool(rng.random() < 0.35),
        hat_colour=names[rng.integers(len(names))], skin=int(rng.integers(len(SKIN_TONES))),
        hair=int(rng.integers(len(HAIR_COLOURS))), long_sleeves=bool(rng.random() < 0.6),
        skirt=bool(gender == "woman" and rng.random() < 0.35),
        height=float(rng.uniform(*height_range)), build=float(rng.uniform(0.9, 1.1)))
