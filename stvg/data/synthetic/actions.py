"""Actions in time spans: a person's timeline, and its position and pose on every frame.

A timeline is a list of :class:`ActionSpan` (half-open frame ranges, back to back). Motion is
integrated frame by frame from the start position, so the position on a frame depends only on
the spans before it. Two adjacent spans never move the same way (no "walk left" followed by
"walk left" or by "leave on the left"), so every span boundary is visible in the video.

Actions: ``walk_left``, ``walk_right``, ``stand``, ``jump``, ``wave``, ``crouch``, ``turn``,
``enter`` (first span only: walks in from off-screen; ``side`` names the edge) and ``leave``
(last span only: walks out through ``side``; the person is gone afterwards).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .figure import Pose

__all__ = ["ACTIONS", "ActionSpan", "PersonTrack", "Motion", "motion_direction", "sample_timeline",
           "person_states"]

ACTIONS = ("walk_left", "walk_right", "stand", "jump", "wave", "crouch", "turn", "enter", "leave")
# seconds (min, max) per action; enter/leave last as long as the walk takes
DURATIONS = {"walk_left": (1.5, 3.0), "walk_right": (1.5, 3.0), "stand": (1.0, 2.0),
             "jump": (1.2, 2.0), "wave": (1.2, 2.2), "crouch": (1.4, 2.2), "turn": (0.8, 1.2)}
WALK_SPEED = 0.75      # standing heights per second (about 1.3 m/s)
STRIDE = 1.1           # seconds per full gait cycle
JUMP_PERIOD = 0.8      # seconds per jump
WALK_HEADING = 0.6     # 3/4 view while walking (sin of the yaw)
STRIDE_SWING = 0.36    # thigh swing amplitude, radians
JUMP_HEIGHT = 0.22     # fraction of the standing height


@dataclass(frozen=True)
class ActionSpan:
    """``action`` over frames [start, end) (0-based); ``side`` "left"/"right" for enter/leave."""

    action: str
    start: int
    end: int
    side: Optional[str] = None


@dataclass(frozen=True)
class PersonTrack:
    """Where a person stands: feet line ``ground_y`` and height in pixels, start ``x``/heading."""

    x0: float
    ground_y: float
    height_px: float
    heading0: float
    spans: Tuple[ActionSpan, ...]


@dataclass(frozen=True)
class Motion:
    """Per frame: ``x float64[T]`` (feet centre), ``poses`` (None where the person is absent)."""

    x: np.ndarray
    poses: List[Optional[Pose]]


def motion_direction(span: ActionSpan) -> int:
    """-1 moving left, +1 moving right, 0 staying in place."""
    if span.action == "walk_left":
        return -1
    if span.action == "walk_right":
        return 1
    if span.action == "enter":
        return 1 if span.side == "left" else -1
    if span.action == "leave":
        return -1 if span.side == "left" else 1
    return 0


def sample_timeline(rng: np.random.Generator, num_frames: int, fps: float, width: int, height_px: float,
                    ground_y: float, enter_prob: float = 0.2, leave_prob: float = 0.2,
                    must_include: Optional[str] = None) -> PersonTrack:
    """A random timeline covering the clip (or until the person leaves). ``must_include``: an
    in-place or walking action to schedule once, at a random time in the first half of the clip
    (skipped only when a walk has no room there)."""
    speed = WALK_SPEED * height_px / fps                    # pixels per frame
    half = 0.3 * height_px                                  # generous half width of the figure
    spans: List[ActionSpan] = []
    t = 0
    if rng.random() < enter_prob:
        side = "left" if rng.random() < 0.5 else "right"
        x = -half if side == "left" else width + half
        target = rng.uniform(0.15, 0.45) * width
        target = target if side == "left" else width - target
        n = max(2, int(math.ceil(abs(target - x) / speed)))
        x0 = x
        spans.append(ActionSpan("enter", 0, min(n, num_frames), side))
        t = spans[-1].end
        x = x + (t * speed if side == "left" else -t * speed)
        heading0 = 0.8 if side == "left" else -0.8
    else:
        x0 = x = rng.uniform(0.15, 0.85) * width
        heading0 = float(rng.choice([-0.8, -0.5, 0.5, 0.8]))
    pending = [must_include] if must_include in DURATIONS else []
    insert_at = rng.uniform(0.0, 0.5) * num_frames       # when the required action gets its turn
    while t < num_frames:
        left = num_frames - t
        prev = spans[-1] if spans else None
        if (prev is not None and not pending and rng.random() < leave_prob and left > 1.5 * fps
                and prev.action != "enter"):
            side = "left" if x < width / 2 else "right"
            dist = (x + half) if side == "left" else (width + half - x)
            n = int(math.ceil(dist / speed))
            cand = ActionSpan("leave", t, t + n, side)
            if t + n <= num_frames and motion_direction(cand) != motion_direction(prev):
                spans.append(cand)
                break
        options = [a for a in DURATIONS if prev is None or a != prev.action]
        if pending and pending[0] in options and t >= insert_at:
            action = pending.pop(0)  # popped even if it does not fit below: tried once, never looped
        else:
            action = options[rng.integers(len(options))]
        lo, hi = DURATIONS[action]
        n = int(round(rng.uniform(lo, hi) * fps))
        if action in ("walk_left", "walk_right"):
            room = (x - 0.08 * width) if action == "walk_left" else (0.92 * width - x)
            n = min(n, int(room / speed))
            probe = ActionSpan(action, t, t + 1)
            if n < lo * fps * 0.7 or (prev is not None and motion_direction(prev) == motion_direction(probe)):
                continue
            x += (-1 if action == "walk_left" else 1) * n * speed
        n = min(n, left)
        if n < 1:
            break
        spans.append(ActionSpan(action, t, t + n))
        if pending and action == pending[0]:
            pending.pop(0)  # it came up by chance
        t += n
    if spans and num_frames - spans[-1].end in range(1, int(0.6 * fps) + 1) and spans[-1].action != "leave":
        last = spans[-1]  # fold a tail too short to read as an action into the last span
        spans[-1] = ActionSpan(last.action, last.start, num_frames, last.side)
    return PersonTrack(float(x0), float(ground_y), float(height_px), float(heading0), tuple(spans))


def person_states(track: PersonTrack, num_frames: int, fps: float) -> Motion:
    """Integrate a timeline into per-frame positions and poses."""
    speed = WALK_SPEED * track.height_px / fps
    xs = np.full(num_frames, np.nan)
    poses: List[Optional[Pose]] = [None] * num_frames
    x, heading = track.x0, track.heading0
    for span in track.spans:
        n = span.end - span.start
        direction = motion_direction(span)
        h_start = heading
        for k in range(n):
            f = span.start + k
            if f >= num_frames:
                break
            s = k / fps                          # seconds into the span
            u = (k + 0.5) / n                    # progress through the span
            if direction:
                heading = WALK_HEADING * direction
                x += direction * speed
                pose = _walk(heading, s)
            elif span.action == "turn":
                target = -0.5 if h_start > 0 else 0.5
                heading = h_start + (target - h_start) * (0.5 - 0.5 * math.cos(math.pi * min(1.0, u * 1.15)))
                pose = Pose(heading=heading if abs(heading) > 1e-3 else 1e-3, knee=(0.05, 0.05),
                            arm=(0.05, -0.05), elbow=(0.15, 0.15))
            else:
                heading = math.copysign(0.5, heading if heading != 0 else 1.0)
                pose = _still(span.action, heading, s, n / fps)
            xs[f], poses[f] = x, pose
    return Motion(xs, poses)


def _walk(heading: float, s: float) -> Pose:
    ph = 2 * math.pi * s / STRIDE
    sw = STRIDE_SWING * math.sin(ph)
    return Pose(heading=heading, thigh=(sw, -sw),
                knee=(0.1 + 0.45 * max(0.0, -math.sin(ph + 0.6)), 0.1 + 0.45 * max(0.0, math.sin(ph + 0.6))),
                arm=(-0.7 * sw, 0.7 * sw), elbow=(0.25 + 0.2 * max(0.0, -sw), 0.25 + 0.2 * max(0.0, sw)),
                lean=0.05)


def _ease(s: float, total: float, ramp: float) -> float:
    """0 -> 1 over the first ``ramp`` seconds, 1 -> 0 over the last ``ramp``."""
    return max(0.0, min(1.0, s / ramp, (total - s) / ramp))


def _still(action: str, heading: float, s: float, total: float) -> Pose:
    if action == "stand":
        b = 0.04 * math.sin(2 * math.pi * s / 2.5)
        return Pose(heading=heading, thigh=(0.06, -0.06), knee=(0.04, 0.04), arm=(0.06 + b, -0.06 - b),
                    elbow=(0.15, 0.15))
    if action == "wave":
        e = _ease(s, total, 0.25)
        osc = math.sin(2 * math.pi * s * 2.0)
        return Pose(heading=heading, thigh=(0.06, -0.06), knee=(0.04, 0.04), arm=(0.05, 0.05 + 2.75 * e),
                    elbow=(0.15, 0.15 + e * (0.35 + 0.35 * osc)))
    if action == "crouch":
        e = _ease(s, total, 0.4)
        return Pose(heading=heading, thigh=(1.15 * e, 1.05 * e), knee=(1.8 * e, 1.7 * e), arm=(0.8 * e, 0.7 * e),
                    elbow=(0.3 + 0.5 * e, 0.3 + 0.5 * e), lean=0.35 * e)
    if action == "jump":
        c = (s % JUMP_PERIOD) / JUMP_PERIOD
        if c < 0.25:   # dip
            bend = math.sin(math.pi * c / 0.25)
            return Pose(heading=heading, thigh=(0.5 * bend, 0.45 * bend), knee=(0.9 * bend, 0.85 * bend),
                        arm=(-0.4 * bend, -0.35 * bend), elbow=(0.2, 0.2), lean=0.2 * bend)
        a = (c - 0.25) / 0.75
        return Pose(heading=heading, thigh=(0.15, 0.1), knee=(0.3, 0.25), arm=(1.2, 1.1), elbow=(0.2, 0.2),
                    lift=4 * JUMP_HEIGHT * a * (1 - a))
    raise ValueError(f"unknown in-place action {action!r}")
