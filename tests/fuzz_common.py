"""Shared pieces of the hypothesis fuzz tests: settings, hostile JSON values, type-changed copies.

Every fuzz file is derandomized (CI must be deterministic) with no deadline (a loaded 2-core machine);
each names its own odd numbers, since what is hostile depends on the reader."""
from __future__ import annotations

import math

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["fuzz_settings", "json_values", "retyped", "mutate", "tube_entry", "tube_entry_by_hand",
           "TUBE_NUMBER", "TUBE_JSON"]


def fuzz_settings(max_examples: int) -> settings:
    """Derandomized, no deadline, fixtures allowed: the settings of every fuzz test here."""
    return settings(max_examples=max_examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def json_values(odd, ints=(-3, 12), max_leaves: int = 10):
    """``(NUMBER, JSON)``: numbers (small ints, any float, the reader's ``odd`` values) and nested
    JSON-like values built from them, strings, bools and None."""
    number = st.integers(*ints) | st.floats() | odd
    scalar = st.none() | st.booleans() | st.integers() | number | st.text(max_size=4)
    return number, st.recursive(scalar, lambda c: st.lists(c, max_size=4)
                                | st.dictionaries(st.text(max_size=4), c, max_size=4), max_leaves=max_leaves)


def retyped(draw, v):
    """The same value as another type: a number as float or string (0 / 1 also as a bool), lists item by item."""
    if isinstance(v, list):
        return [retyped(draw, x) for x in v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return draw(st.sampled_from([float(v), str(v)] + ([bool(v)] if v in (0, 1) else [])))
    return v


# --- tube-file entries (stvg.tube_json.tube_from_json, read by both tube-file readers) ---------------
TUBE_ODD = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, 1e39, 10 ** 20, 2 ** 63, 10 ** 400, -1,
                            0, 1.5, 2.0, True, False, "3", None])
TUBE_NUMBER, TUBE_JSON = json_values(TUBE_ODD)


def mutate(draw, obj: dict, most: int) -> dict:
    """Up to ``most`` fields dropped, replaced by junk or odd numbers, or retyped (3 -> 3.0 or "3")."""
    for key in draw(st.lists(st.sampled_from(sorted(obj)), max_size=most)):
        how = draw(st.sampled_from(["drop", "json", "number", "retype"]))
        if how == "drop":
            obj.pop(key, None)
        elif how == "retype":
            obj[key] = retyped(draw, obj.get(key))
        else:
            obj[key] = draw(TUBE_JSON if how == "json" else TUBE_NUMBER)
    return obj


@st.composite
def tube_entry(draw):
    """A valid tube entry with one or two fields changed (mostly), sometimes one box of odd values."""
    first, n = draw(st.integers(0, 10)), draw(st.integers(1, 4))
    boxes = [[float(draw(st.integers(0, 20))), 2.0, 30.5, 40.0] for _ in range(n)]
    scores = draw(st.sampled_from([None, [0.25] * n]))
    t = mutate(draw, {"id": 0, "score": 0.5, "start_frame": first, "end_frame": first + n - 1, "boxes": boxes,
                      "scores": scores}, most=2)
    if isinstance(t.get("boxes"), list) and t["boxes"] and draw(st.booleans()):
        t["boxes"][draw(st.integers(0, len(t["boxes"]) - 1))] = draw(st.lists(TUBE_NUMBER, max_size=5))
    return t


def _is(v, types) -> bool:
    return isinstance(v, types) and not isinstance(v, bool)


def tube_entry_by_hand(t):
    """``(frames, boxes, scores, score)`` of an entry that must read, checked one value at a time
    (None when it must not read)."""
    if not isinstance(t, dict):
        return None
    first, last, boxes = t.get("start_frame"), t.get("end_frame"), t.get("boxes")
    if not (_is(first, int) and _is(last, int) and 0 <= first <= last < 2 ** 53 and isinstance(boxes, list)
            and len(boxes) == last - first + 1):
        return None
    for b in boxes:
        if not (isinstance(b, list) and len(b) == 4 and all(_is(c, (int, float)) and abs(c) < 3e38 for c in b)
                and all(math.isfinite(c) for c in b) and b[2] >= b[0] and b[3] >= b[1]):
            return None
    scores, score = t.get("scores"), t.get("score")
    if scores is not None and not (isinstance(scores, list) and len(scores) == len(boxes) and all(
            _is(c, (int, float)) and abs(c) < 3e38 and math.isfinite(c) for c in scores)):
        return None
    if score is not None and not (_is(score, (int, float)) and abs(score) < 1e308 and math.isfinite(score)):
        return None
    return list(range(first, last + 1)), boxes, scores, score
