"""An articulated human figure: pose -> drawing primitives -> pixels and an exact box.

Proportions follow the usual eight-heads canon, in units of the standing height H (from the
sole): ankle 0.04, shin 0.245, thigh 0.245, hip-to-shoulder 0.30, neck 0.035, head 0.125;
upper arm 0.175, forearm 0.15; shoulders 0.21-0.24 H wide, hips 0.17-0.18 H. Limbs are drawn
as thick capsules in the image plane and swing towards the facing side; the far limbs are
drawn first and darker. The figure stands on its lower foot unless ``Pose.lift`` raises it.

The person's box is the extent of everything drawn (capsule ends plus half their thickness,
circles, polygons), so it is exact up to anti-aliasing, whatever the pose.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Tuple

import cv2
import numpy as np

from .palette import CLOTHING_COLOURS, HAIR_COLOURS, SKIN_TONES, Appearance

__all__ = ["Pose", "Primitive", "figure_primitives", "primitives_box", "draw_primitives"]

SHIFT = 4                      # cv2 sub-pixel bits
_ONE = 1 << SHIFT
OUTLINE = (22, 20, 24)         # dark contour under every part (clothes seams, silhouette)


@dataclass(frozen=True)
class Pose:
    """Joint angles in radians (0 = limb hanging straight down; positive swings towards the
    facing side), ``heading`` in [-1, 1] (-1 faces left, 0 faces the camera, +1 faces right),
    ``lift`` (body raised above the ground, fraction of H), ``lean`` (torso tilt forward)."""

    heading: float = 0.0
    thigh: Tuple[float, float] = (0.0, 0.0)      # far, near
    knee: Tuple[float, float] = (0.0, 0.0)       # bend >= 0 (shin folds backwards)
    arm: Tuple[float, float] = (0.0, 0.0)        # upper arm from hanging
    elbow: Tuple[float, float] = (0.0, 0.0)      # bend >= 0 (forearm folds forwards)
    lift: float = 0.0
    lean: float = 0.0


@dataclass(frozen=True)
class Primitive:
    """``kind`` "line" (points[2], thickness), "circle" (points[1] centre, radius) or "poly"."""

    kind: str
    colour: Tuple[int, int, int]
    points: np.ndarray          # float64[K, 2] image x, y
    size: float = 0.0           # thickness (line) or radius (circle)


def _dark(c, f=0.78):
    return tuple(int(v * f) for v in c)


def figure_primitives(app: Appearance, pose: Pose, x: float, ground_y: float, height_px: float,
                      outline: bool = True) -> List[Primitive]:
    """Primitives (drawing order) of one person whose feet centre is at ``(x, ground_y)``."""
    H = height_px
    d = 1.0 if pose.heading >= 0 else -1.0
    wf = 0.55 + 0.45 * math.sqrt(max(0.0, 1.0 - pose.heading ** 2))     # body width seen from the side
    woman = app.gender == "woman"
    sw = (0.21 if woman else 0.24) * app.build * wf
    hw = (0.18 if woman else 0.17) * app.build * wf

    fore = d * max(abs(pose.heading), 0.3)   # forward swings foreshorten when facing the camera

    def vec(angle, length):  # angle from hanging, swung towards the facing side; y up
        return np.array([fore * math.sin(angle) * length, -math.cos(angle) * length])

    # joints in H units, hip centre at the origin, y up
    hips = [np.array([s * hw / 2 * -d, 0.0]) for s in (-1, 1)]   # far, near (near is towards camera)
    knees = [hips[i] + vec(pose.thigh[i], 0.245) for i in range(2)]
    ankles = [knees[i] + vec(pose.thigh[i] - pose.knee[i], 0.245) for i in range(2)]
    up = np.array([d * math.sin(pose.lean) * 0.30, math.cos(pose.lean) * 0.30])
    sh_c = up
    shoulders = [sh_c + np.array([s * sw / 2 * -d, 0.0]) for s in (-1, 1)]
    elbows = [shoulders[i] + vec(pose.arm[i], 0.175) for i in range(2)]
    wrists = [elbows[i] + vec(pose.arm[i] + pose.elbow[i], 0.15) for i in range(2)]
    neck_top = sh_c + np.array([0.0, 0.035])
    head = neck_top + np.array([d * 0.01, 0.062])
    # stand on the lower foot (sole 0.04 below the ankle), raised by lift
    base = min(a[1] for a in ankles) - 0.04
    dy = pose.lift - base

    def P(*pts):  # H units, y up -> image pixels
        arr = np.array(pts, dtype=np.float64).reshape(-1, 2)
        arr[:, 0] = x + arr[:, 0] * H
        arr[:, 1] = ground_y - (arr[:, 1] + dy) * H
        return arr

    top = CLOTHING_COLOURS[app.top]
    bottom = CLOTHING_COLOURS[app.bottom]
    skin = SKIN_TONES[app.skin]
    hair = HAIR_COLOURS[app.hair]
    shoe = (35, 30, 30)
    prims: List[Primitive] = []

    def line(a, b, thick, colour):
        prims.append(Primitive("line", colour, P(a, b), thick * H))

    def arm(i, f):
        line(shoulders[i], elbows[i], 0.068, _dark(top, f))
        line(elbows[i], wrists[i], 0.056, _dark(top if app.long_sleeves else skin, f))
        prims.append(Primitive("circle", _dark(skin, f), P(wrists[i] + vec(pose.arm[i] + pose.elbow[i], 0.03)),
                               0.03 * H))

    def leg(i, f):
        foot = ankles[i] + np.array([d * 0.06, -0.03])
        line(ankles[i] + np.array([0, -0.01]), foot, 0.05, shoe)
        line(knees[i], ankles[i], 0.072 if not app.skirt else 0.055, _dark(bottom if not app.skirt else skin, f))
        line(hips[i], knees[i], 0.092 if not app.skirt else 0.07, _dark(bottom if not app.skirt else skin, f))

    arm(0, 0.72)
    leg(0, 0.8)
    leg(1, 1.0)
    # pelvis and trunk
    pelvis = [hips[0] + [0, 0.06], hips[1] + [0, 0.06], hips[1] + [0, -0.06], hips[0] + [0, -0.06]]
    prims.append(Primitive("poly", bottom, P(*pelvis)))
    if app.skirt:
        k = (knees[0] + knees[1]) / 2
        spread = max(hw * 0.9, abs(knees[0][0] - knees[1][0]) / 2 + 0.05)
        hl, hr_ = sorted((hips[0], hips[1]), key=lambda h: h[0])
        skirt = [hl + [-0.01, 0.04], hr_ + [0.01, 0.04], np.array([k[0] + spread, k[1] + 0.05]),
                 np.array([k[0] - spread, k[1] + 0.05])]
        prims.append(Primitive("poly", bottom, P(*skirt)))
    waist = 0.8 if not woman else 0.72
    trunk = [shoulders[0] + [0, 0.02], shoulders[1] + [0, 0.02],
             hips[1] * waist + [0, 0.05] + up * 0.25, hips[1] + [0, 0.04],
             hips[0] + [0, 0.04], hips[0] * waist + [0, 0.05] + up * 0.25]
    prims.append(Primitive("poly", top, P(*trunk)))
    line(sh_c, neck_top, 0.05, skin)
    # head: hair behind, face, hat
    r = 0.062
    if woman:  # long hair falls to the shoulders behind the head
        back = head + np.array([-d * 0.02 * abs(pose.heading), 0])
        prims.append(Primitive("poly", hair, P(back + [-r * 1.05, 0.0], back + [r * 1.05, 0.0],
                                                back + [r * 0.95, -0.12], back + [-r * 0.95, -0.12])))
    prims.append(Primitive("circle", skin, P(head), r * H))
    hair_c = head + np.array([-d * 0.025 * abs(pose.heading), 0.018])
    prims.append(Primitive("circle", hair, P(hair_c), r * 0.93 * H))
    prims.append(Primitive("circle", skin, P(head + np.array([d * 0.018 * abs(pose.heading), -0.012])),
                           r * 0.78 * H))
    if app.hat:
        hc = CLOTHING_COLOURS[app.hat_colour]
        crown = [head + [-r * 0.95, 0.02], head + [r * 0.95, 0.02], head + [r * 0.8, r + 0.03],
                 head + [-r * 0.8, r + 0.03]]
        prims.append(Primitive("poly", hc, P(*crown)))
        brim_dir = d if abs(pose.heading) > 0.3 else 0.0
        line(head + [-r * 1.15 + brim_dir * 0.03, 0.02], head + [r * 1.15 + brim_dir * 0.05, 0.02], 0.02, _dark(hc, 0.7))
    arm(1, 1.0)
    if outline:  # a thin dark silhouette under everything, drawn first
        under = []
        for p in prims:
            if p.kind == "line":
                under.append(Primitive("line", OUTLINE, p.points, p.size + 0.016 * H))
            elif p.kind == "circle":
                under.append(Primitive("circle", OUTLINE, p.points, p.size + 0.008 * H))
        prims = under + prims
    return prims


def _thickness(size: float) -> int:
    return max(1, int(round(size)))


def primitives_box(prims: List[Primitive]) -> np.ndarray:
    """Extent ``float64[4]`` (x1, y1, x2, y2, unclipped) of everything the primitives draw."""
    pts = np.concatenate([p.points for p in prims])
    pad = np.repeat([_thickness(p.size) / 2 if p.kind == "line" else (p.size if p.kind == "circle" else 0.0)
                     for p in prims], [len(p.points) for p in prims])
    return np.concatenate([(pts - pad[:, None]).min(axis=0), (pts + pad[:, None]).max(axis=0)])


def draw_primitives(img: np.ndarray, prims: List[Primitive]) -> None:
    """Draw in place on ``uint8[H, W, 3]`` RGB (anti-aliased, sub-pixel precise).

    Coordinates are continuous (pixel ``i`` covers [i, i + 1)); OpenCV puts pixel centres on
    integers, hence the half-pixel shift."""
    for p in prims:
        pts = np.round((p.points - 0.5) * _ONE).astype(np.int32)
        if p.kind == "line":
            t = _thickness(p.size)
            cv2.line(img, tuple(pts[0]), tuple(pts[1]), p.colour, t, cv2.LINE_AA, SHIFT)
        elif p.kind == "circle":
            cv2.circle(img, tuple(pts[0]), int(round(p.size * _ONE)), p.colour, -1, cv2.LINE_AA, SHIFT)
        else:
            cv2.fillPoly(img, [pts], p.colour, cv2.LINE_AA, SHIFT)
