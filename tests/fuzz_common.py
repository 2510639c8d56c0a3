"""Shared pieces of the hypothesis fuzz tests: settings, hostile JSON values, type-changed copies.

Every fuzz file is derandomized (CI must be deterministic) with no deadline (a loaded 2-core machine);
each names its own odd numbers, since what is hostile depends on the reader."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = ["fuzz_settings", "json_values", "retyped"]


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
