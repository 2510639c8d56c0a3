"""Does a description single out exactly one (person, span)?

A person matches the appearance words when every named attribute equals the person's (a bottom
colour matches whatever the garment, so "red skirt" also matches red trousers: the check is
conservative). A run of consecutive spans matches the action words when its labels (and the
enter/leave sides the sentence names) equal the described ones. The description is unique when the
only match over all people and all span positions is the target's chosen span.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from .actions import ActionSpan
from .language import Description
from .palette import Appearance

__all__ = ["appearance_matches", "action_matches", "matches", "check_unique"]


def appearance_matches(app: Appearance, desc: Description) -> bool:
    named = app.named()
    return all(named[k] == v for k, v in desc.attributes)


def action_matches(spans: Sequence[ActionSpan], desc: Description) -> List[int]:
    """Start indices ``i`` where ``spans[i:i+len(desc.actions)]`` fits the described actions."""
    n = len(desc.actions)
    out = []
    for i in range(len(spans) - n + 1):
        run = spans[i:i + n]
        if all(s.action == a and (side is None or s.side == side)
               for s, a, side in zip(run, desc.actions, desc.sides)):
            out.append(i)
    return out


def matches(people: Dict[str, Tuple[Appearance, Sequence[ActionSpan]]], desc: Description) -> List[Tuple[str, int]]:
    """Every ``(person id, start span index)`` the description fits."""
    return [(pid, i) for pid, (app, spans) in people.items() if appearance_matches(app, desc)
            for i in action_matches(spans, desc)]


def check_unique(people: Dict[str, Tuple[Appearance, Sequence[ActionSpan]]], desc: Description,
                 target: str, start: int) -> List[str]:
    """Problems (empty when the description fits the target's span ``start`` and nothing else)."""
    found = matches(people, desc)
    problems = []
    if (target, start) not in found:
        problems.append(f"the description does not fit its own target {target} at span {start}")
    for pid, i in found:
        if pid != target:
            problems.append(f"person {pid} also fits (appearance and actions at span {i})")
        elif i != start:
            problems.append(f"the target {target} also does the described actions at span {i}")
    return problems
