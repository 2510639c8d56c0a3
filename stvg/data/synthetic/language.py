"""Sentences from a description: subject templates with synonyms, action phrases, connectors.

A :class:`Description` is what a sentence commits to: the named appearance attributes
(a subset of gender / top / bottom / hat) and the sequence of actions it describes (one span, or
two consecutive spans joined by "then"). :func:`realize` turns it into varied English.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ["Description", "realize", "ACTION_PHRASES"]

NOUNS = {"man": ("man", "guy", "gentleman"), "woman": ("woman", "lady"), None: ("person", "individual")}
TOP_NOUNS = ("top", "shirt", "sweater", "jacket")
BOTTOM_NOUNS = ("trousers", "pants")
ACTION_PHRASES = {
    "walk_left": ("walks to the left", "walks left", "heads to the left", "moves to the left"),
    "walk_right": ("walks to the right", "walks right", "heads to the right", "moves to the right"),
    "stand": ("stands still", "stands in place", "waits without moving"),
    "jump": ("jumps", "jumps up and down", "hops in place"),
    "wave": ("waves", "waves {poss} hand", "raises {poss} hand and waves"),
    "crouch": ("crouches", "crouches down", "squats down"),
    "turn": ("turns around", "turns to face the other way"),
    "enter": ("walks into the scene from the {side}", "enters from the {side}", "comes in from the {side}"),
    "leave": ("walks out of the scene on the {side}", "leaves to the {side}", "exits on the {side}"),
}
CONNECTORS = ("{a}, then {b}", "{a} and then {b}", "{a}, and after that {b}")


@dataclass(frozen=True)
class Description:
    """``attributes``: named appearance (``gender``/``top``/``bottom``/``hat``), ``actions``: the
    described action labels in order, ``sides``: the enter/leave side of each (None otherwise)."""

    attributes: Tuple[Tuple[str, object], ...]
    actions: Tuple[str, ...]
    sides: Tuple[Optional[str], ...]

    def attr(self) -> Dict[str, object]:
        return dict(self.attributes)


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def realize(desc: Description, rng: np.random.Generator, skirt: bool = False) -> str:
    """One English sentence for ``desc`` (``skirt``: call the target's bottom garment a skirt)."""
    a = desc.attr()
    gender = a.get("gender")
    noun = _pick(rng, NOUNS[gender])
    poss = {"man": "his", "woman": "her"}.get(gender, "their")
    clothes = []
    tn = _pick(rng, TOP_NOUNS)
    if "top" in a and "bottom" in a:
        bn = "skirt" if skirt else _pick(rng, BOTTOM_NOUNS)
        clothes.append(_pick(rng, (f"in the {a['top']} {tn} and {a['bottom']} {bn}",
                                   f"wearing {_a(a['top'])} {tn} and {_a(a['bottom']) if skirt else a['bottom']} {bn}")))
    elif "top" in a:
        clothes.append(_pick(rng, (f"in the {a['top']} {tn}", f"wearing {_a(a['top'])} {tn}",
                                   f"with the {a['top']} {tn}")))
    elif "bottom" in a:
        bn = "skirt" if skirt else _pick(rng, BOTTOM_NOUNS)
        what = f"{_a(a['bottom']) if skirt else a['bottom']} {bn}"
        clothes.append(_pick(rng, (f"in {what}", f"wearing {what}")))
    if "hat" in a:
        clothes.append(_pick(rng, ("with a hat", "wearing a hat")) if a["hat"]
                       else _pick(rng, ("without a hat", "with no hat")))
    subject = " ".join(["The", noun] + clothes)
    phrases = [_pick(rng, ACTION_PHRASES[act]).format(poss=poss, side=side or "")
               for act, side in zip(desc.actions, desc.sides)]
    verb = phrases[0] if len(phrases) == 1 else _pick(rng, CONNECTORS).format(a=phrases[0], b=phrases[1])
    return f"{subject} {verb}."
