"""One synthetic video, sampled from a seed: cast, timelines, geometry, target, sentence.

Everything here is a pure function of ``(config, seed, index)``; rendering pixels is separate
(:mod:`stvg.data.synthetic.render`), so the annotations are exact and reproducible without encoding video.

Geometry per person: ``boxes float64[T, 4]`` (x1, y1, x2, y2, unclipped extent of the drawing),
``present bool[T]`` (on screen at all), ``visible float64[T]`` (share of the box inside the frame),
``fully_visible bool[T]`` (inside the frame and not covered by anyone drawn in front, i.e.
less than 10% of its box under a nearer person's box).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from ...config import Config
from .actions import PersonTrack, person_states, sample_timeline
from .figure import Primitive, figure_primitives, primitives_box
from .language import Description, realize
from .palette import CLOTHING_COLOURS, NAMED_ATTRIBUTES, Appearance, sample_appearance
from .uniqueness import action_matches, appearance_matches, check_unique

__all__ = ["Person", "VideoSpec", "sample_video", "video_id", "unique_descriptions", "choose_description", "focus_tube",
           "OCCLUSION_LIMIT", "MIN_VISIBLE"]

OCCLUSION_LIMIT = 0.1     # share of a box under nearer people above which it is not "fully visible"
MIN_VISIBLE = 0.25        # share of the box inside the frame for a frame to count in a tube


@dataclass
class Person:
    pid: str
    appearance: Appearance
    track: PersonTrack
    boxes: np.ndarray = field(repr=False, default=None)            # float64[T, 4]
    visible: np.ndarray = field(repr=False, default=None)          # float64[T]
    prims: List[Optional[List[Primitive]]] = field(repr=False, default=None)
    fully_visible: np.ndarray = field(repr=False, default=None)    # bool[T]

    @property
    def present(self) -> np.ndarray:
        return self.visible >= MIN_VISIBLE


@dataclass
class VideoSpec:
    """A sampled video. ``tube_frames``: the target's ground-truth frames (0-based, contiguous)."""

    video_id: str
    seed: int
    index: int
    width: int
    height: int
    fps: float
    num_frames: int
    horizon: float
    people: List[Person]
    target: str
    span_start: int                 # index of the first described span in the target's timeline
    description: Description
    sentence: str
    tube_frames: np.ndarray
    hard_cases: List[str]

    def person(self, pid: str) -> Person:
        return next(p for p in self.people if p.pid == pid)

    def draw_order(self) -> List[Person]:
        """Far (higher feet line) to near."""
        return sorted(self.people, key=lambda p: (p.track.ground_y, p.pid))


def video_id(seed: int, index: int) -> str:
    return f"synth{seed}_{index:05d}"


def sample_video(cfg: Config, seed: int, index: int, max_tries: int = 60) -> VideoSpec:
    """The video ``index`` of the dataset drawn with ``seed`` (deterministic)."""
    rng = np.random.default_rng([seed, index])
    for _ in range(max_tries):
        spec = _attempt(cfg, rng, seed, index)
        if spec is not None:
            return spec
    raise RuntimeError(f"video {video_id(seed, index)}: no unique description found in {max_tries} tries "
                       f"(too few people or too short a clip for the config?)")


# ---------------------------------------------------------------------------------------------
def _geometry(p: Person, num_frames: int, fps: float, width: int, height: int) -> None:
    motion = person_states(p.track, num_frames, fps)
    p.boxes = np.full((num_frames, 4), np.nan)
    p.visible = np.zeros(num_frames)
    p.prims = [None] * num_frames
    for f, pose in enumerate(motion.poses):
        if pose is None:
            continue
        prims = figure_primitives(p.appearance, pose, motion.x[f], p.track.ground_y, p.track.height_px)
        box = primitives_box(prims)
        area = (box[2] - box[0]) * (box[3] - box[1])
        cx1, cy1 = max(box[0], 0.0), max(box[1], 0.0)
        cx2, cy2 = min(box[2], float(width)), min(box[3], float(height))
        inside = max(0.0, cx2 - cx1) * max(0.0, cy2 - cy1)
        p.boxes[f], p.visible[f], p.prims[f] = box, inside / area, prims


def _occlusion(people: List[Person], num_frames: int) -> None:
    order = sorted(people, key=lambda p: (p.track.ground_y, p.pid))
    for k, p in enumerate(order):
        covered = np.zeros(num_frames)
        b = p.boxes
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        for q in order[k + 1:]:
            c = q.boxes
            iw = np.clip(np.minimum(b[:, 2], c[:, 2]) - np.maximum(b[:, 0], c[:, 0]), 0, None)
            ih = np.clip(np.minimum(b[:, 3], c[:, 3]) - np.maximum(b[:, 1], c[:, 1]), 0, None)
            covered = np.maximum(covered, np.nan_to_num(iw * ih / area))
        p.fully_visible = (p.visible >= 1.0 - 1e-9) & (covered < OCCLUSION_LIMIT)


def _new_person(cfg: Config, rng, pid: str, app: Appearance, lane: float, width: int, height: int,
                num_frames: int, fps: float, must_include: Optional[str] = None) -> Person:
    ground_y = height * (0.8 + 0.1 * lane)
    height_px = app.height * height * (0.9 + 0.1 * lane)   # nearer people look a little taller
    track = sample_timeline(rng, num_frames, fps, width, height_px, ground_y,
                            enter_prob=cfg.PEOPLE.ENTER_PROB, leave_prob=cfg.PEOPLE.LEAVE_PROB,
                            must_include=must_include)
    p = Person(pid, app, track)
    _geometry(p, num_frames, fps, width, height)
    return p


def focus_tube(p: Person, start: int, length: int, fps: float, min_seconds: float) -> Optional[np.ndarray]:
    """Tube frames of spans ``start .. start+length-1`` of ``p`` if they are all well visible."""
    spans = p.track.spans[start:start + length]
    if len(spans) < length:
        return None
    frames = np.arange(spans[0].start, spans[-1].end)
    frames = frames[frames < len(p.visible)]
    keep = frames[p.present[frames]]
    if len(keep) == 0 or np.any(np.diff(keep) != 1):
        return None
    for s in spans:  # every described span must be on screen long enough to be seen
        if np.count_nonzero(p.present[s.start:s.end]) < min_seconds * fps:
            return None
    return keep


def _attempt(cfg: Config, rng: np.random.Generator, seed: int, index: int) -> Optional[VideoSpec]:
    W, H, fps = cfg.VIDEO.WIDTH, cfg.VIDEO.HEIGHT, float(cfg.VIDEO.FPS)
    T = int(round(cfg.VIDEO.DURATION * fps))
    n = int(rng.integers(cfg.PEOPLE.MIN, cfg.PEOPLE.MAX + 1))
    lanes = list(rng.permutation(n) / max(1, n - 1) * 0.9 + rng.uniform(0, 0.1, n))
    hr = tuple(cfg.PEOPLE.HEIGHT)
    target = _new_person(cfg, rng, "p0", sample_appearance(rng, hr), lanes[0], W, H, T, fps)

    length = 2 if rng.random() < cfg.SENTENCE.TWO_ACTION_PROB else 1
    cands = [i for i in range(len(target.track.spans))
             if focus_tube(target, i, length, fps, cfg.SENTENCE.MIN_SPAN_SECONDS) is not None]
    if not cands:
        return None
    start = int(cands[rng.integers(len(cands))])
    tube = focus_tube(target, start, length, fps, cfg.SENTENCE.MIN_SPAN_SECONDS)
    focus = target.track.spans[start:start + length]
    actions = tuple(s.action for s in focus)
    sides = tuple(s.side for s in focus)

    people = [target]
    want_twin = n >= 2 and rng.random() < cfg.HARD.TWIN_PROB
    want_near = n >= 2 + want_twin and rng.random() < cfg.HARD.NEAR_TWIN_PROB
    for k in range(1, n):
        pid = f"p{k}"
        if want_twin:  # dressed the same; must never do the described actions
            want_twin = False
            t = target.appearance
            app = sample_appearance(rng, hr).with_named(**t.named(), skirt=t.skirt, long_sleeves=t.long_sleeves,
                                                        hat_colour=t.hat_colour)
            for _ in range(20):
                p = _new_person(cfg, rng, pid, app, lanes[k], W, H, T, fps)
                if not action_matches(p.track.spans, Description((), actions, sides)):
                    break
            else:
                return None
        elif want_near:  # one named attribute differs; does the described action too
            want_near = False
            attr = NAMED_ATTRIBUTES[int(rng.integers(len(NAMED_ATTRIBUTES)))]
            app = sample_appearance(rng, hr).with_named(**target.appearance.named())
            app = app.with_named(**{attr: _other_value(rng, attr, getattr(target.appearance, attr), app)})
            p = _new_person(cfg, rng, pid, app, lanes[k], W, H, T, fps, must_include=actions[0])
        else:
            p = _new_person(cfg, rng, pid, sample_appearance(rng, hr), lanes[k], W, H, T, fps)
        people.append(p)

    table = {p.pid: (p.appearance, p.track.spans) for p in people}
    unique = unique_descriptions(table, "p0", start, actions, sides)
    if not unique:
        return None
    desc = choose_description(cfg, rng, unique, target.appearance)
    sentence = realize(desc, rng, skirt=target.appearance.skirt and "bottom" in desc.attr())

    _occlusion(people, T)
    hard = _hard_cases(people, desc, start, tube)   # names people by their sampling ids ...
    ids = [f"p{k}" for k in rng.permutation(n)]     # ... which are then shuffled, so the target's
    rename = {p.pid: ids[k] for k, p in enumerate(people)}  # id (and position) says nothing
    for p in people:
        p.pid = rename[p.pid]
    hard = [":".join(rename.get(part, part) for part in h.split(":")) for h in hard]
    people.sort(key=lambda p: p.pid)
    return VideoSpec(video_id(seed, index), seed, index, W, H, fps, T, float(rng.uniform(0.45, 0.7)), people,
                     rename["p0"], start, desc, sentence, tube, hard)


def unique_descriptions(table, pid: str, start: int, actions, sides) -> List[Description]:
    """Every description of person ``pid``'s spans from ``start`` (``actions``/``sides``) that singles
    it out: its appearance words rule out everyone but ``pid``'s exact twins (whom the actions rule
    out), and :func:`check_unique` finds no other (person, span). ``table``: pid -> (appearance, spans)."""
    app = table[pid][0]
    twins = {q for q, (a, _) in table.items() if q != pid and a.named() == app.named()}
    out = []
    for r in range(1, len(NAMED_ATTRIBUTES) + 1):
        for subset in itertools.combinations(NAMED_ATTRIBUTES, r):
            desc = Description(tuple((a, app.named()[a]) for a in subset), actions, sides)
            same_look = {q for q, (a, _) in table.items() if q != pid and appearance_matches(a, desc)}
            if same_look <= twins and not check_unique(table, desc, pid, start):
                out.append(desc)
    return out


def choose_description(cfg: Config, rng: np.random.Generator, unique: List[Description],
                       app: Appearance) -> Description:
    """One of ``unique``: the fewest attributes, or any with probability ``SENTENCE.EXTRA_ATTR_PROB``;
    then, with probability 0.5, the gender added when not named (a true attribute keeps it unique)."""
    smallest = min(len(d.attributes) for d in unique)
    pool = unique if rng.random() < cfg.SENTENCE.EXTRA_ATTR_PROB else [d for d in unique if len(d.attributes) == smallest]
    desc = pool[int(rng.integers(len(pool)))]
    if "gender" not in desc.attr() and rng.random() < 0.5:
        desc = Description(tuple(sorted(desc.attributes + (("gender", app.gender),),
                                        key=lambda kv: NAMED_ATTRIBUTES.index(kv[0]))), desc.actions, desc.sides)
    return desc

def _other_value(rng, attr: str, value, app: Appearance):
    if attr == "hat":
        return not value
    if attr == "gender":
        return "woman" if value == "man" else "man"
    names = [c for c in CLOTHING_COLOURS if c != value and c != (app.bottom if attr == "top" else app.top)]
    return names[int(rng.integers(len(names)))]


def _hard_cases(people: List[Person], desc: Description, start: int, tube: np.ndarray) -> List[str]:
    """Labels like ``twin:p2``, ``near_twin:p1:hat``, ``target_repeats_action`` (target = people[0])."""
    target = people[0]
    out = []
    named = target.appearance.named()
    for p in people[1:]:
        diff = [k for k, v in p.appearance.named().items() if named[k] != v]
        if not diff:
            out.append(f"twin:{p.pid}")
        elif len(diff) == 1:
            out.append(f"near_twin:{p.pid}:{diff[0]}")
    first = desc.actions[0]
    if any(s.action == first for i, s in enumerate(target.track.spans) if i != start):
        out.append("target_repeats_action")
    if not target.fully_visible[tube].all():
        out.append("target_occluded_or_cut")
    return out

