"""The join of the two stages: (interval from MMN) x (tube from the matcher) -> one spatio-temporal tube.

    opts = join_config({"TUBE_COVERAGE": "cut"})                 # strict keys, JOIN_DEFAULTS
    pairs = join_pairs(moments, moment_scores, tubes, matcher_scores, opts)   # best first

Inputs, for one sentence: ``moments int64[M, 2]`` (first, last decoded frame, 0-based inclusive) of
the temporal stage's top moments with their scores ``Tensor[M]``; the candidate ``tubes`` (N of
them); ``matcher_scores Tensor[M, N]``: the matcher's score of tube n seen through moment m's window.

Every (moment m, tube n) pair is scored, for the tube's coverage ``c`` = share of the interval's
frames on which the tube has a box (0 when it has none there: such pairs are dropped) and the
temporal score ``mmn_m`` clamped at 0 (MMN's test scores lie in [0, 1]):

* ``PAIR_SCORE: product`` (default): ``mmn_m ** MOMENT_POW * t_mn * c ** COVERAGE_POW``;
* ``PAIR_SCORE: temporal_first``: the best moment first (by ``mmn_m``), and within a moment the tube
  with the best ``t_mn * c ** COVERAGE_POW``; pairs are ranked moment by moment.

where ``t_mn`` is the matcher score after ``MATCHER_NORM``: ``none`` (the raw score clamped at 0: the
matcher's fused score lies in [0, 1] inside the window and is pushed below 0 outside it) or
``softmax`` (softmax over the N tubes of ``score / MATCHER_TEMPERATURE``, per moment).

The answer of a pair (``TUBE_COVERAGE``), where the tube does not cover the whole interval:

* ``keep``: the interval stays; on its frames where the tube has no box, the tube's nearest box is
  held (before its first box: its first box; after its last: its last);
* ``cut``: the interval is cut to the frames the tube covers inside it (first to last tube frame
  inside the interval).

Either way the returned tube has a box on every frame of the returned interval. Ties keep the lower
moment index, then the lower tube index (stable sorts).

``SPAN_MODE: runs`` (a matcher with a span head, :mod:`spatial.matcher.span`): the candidates are not
MMN's moments x the tubes but each tube's own best run of segments (:func:`join_runs`): tube n with its
run's frames, scored ``v_n * t_n ** SPAN_MATCHER_POW * mmn_n ** SPAN_MOMENT_POW``, where ``v_n`` is the
run's expected vIoU from the span head, ``t_n`` the matcher's score of the tube seen through its run
(clamped at 0) and ``mmn_n`` MMN's test score of the moment-map cell of highest temporal IoU with the
run (clamped at 0). The other options keep their meaning where they apply (TUBE_COVERAGE); the
moment options (TOP_MOMENTS, NMS_THRESH, MOMENT_POW, PAIR_SCORE, MATCHER_NORM) only shape the
moments reported beside the answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from .config import Config, ConfigError, load_config
from .structures import Tube

__all__ = ["JOIN_DEFAULTS", "join_config", "JoinedPair", "join_pairs", "join_runs", "fill_tube", "coverage"]

JOIN_DEFAULTS = {
    "TUBE_COVERAGE": "keep",      # keep | cut (see the module docstring)
    "PAIR_SCORE": "product",      # product | temporal_first
    "MATCHER_NORM": "none",       # none (raw score clamped at 0) | softmax (over the tubes, per moment)
    "MATCHER_TEMPERATURE": 0.1,   # softmax temperature (MATCHER_NORM softmax)
    "COVERAGE_POW": 1.0,          # exponent of the tube's coverage of the interval (0: ignored)
    "MOMENT_POW": 1.0,            # exponent of the temporal score (0: the matcher alone ranks the pairs)
    "TOP_MOMENTS": 5,             # moments of the temporal stage (after NMS) paired with the tubes
    "NMS_THRESH": 0.5,            # temporal NMS of the moments (IoU above this is suppressed)
    "WINDOW_SECONDS": 0.0,        # long videos: window length; 0 = the temporal model's training clip length
    "WINDOW_OVERLAP": 0.5,        # share of a window overlapping the next one, in [0, 1)
    "WINDOW_TOLERANCE": 0.25,     # a section up to (1 + this) x the window length is one window
    "SPAN_MODE": "moments",       # moments | runs (each tube's span-head run is a candidate; see the docstring)
    "SPAN_MATCHER_POW": 1.0,      # runs: exponent of the matcher's score of the tube through its run
    "SPAN_MOMENT_POW": 0.0,       # runs: exponent of MMN's score of the run (0: MMN does not weigh)
}

_CHOICES = {"TUBE_COVERAGE": ("keep", "cut"), "PAIR_SCORE": ("product", "temporal_first"),
            "MATCHER_NORM": ("none", "softmax"), "SPAN_MODE": ("moments", "runs")}


def join_config(values: Union[None, Mapping, Config] = None, overrides: Iterable[str] = (),
                source: str = "join options") -> Config:
    """``JOIN_DEFAULTS`` <- ``values`` (a mapping, e.g. a model file's ``join`` section) <- ``KEY VALUE``
    overrides; strict keys and types, value checks; frozen."""
    cfg = load_config(None, JOIN_DEFAULTS, freeze=False)
    if values:
        cfg.merge(dict(values), source=source)
    cfg.merge_from_list(list(overrides))
    for key, allowed in _CHOICES.items():
        if cfg[key] not in allowed:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(allowed)}, got {cfg[key]!r}")
    if not cfg.MATCHER_TEMPERATURE > 0:
        raise ConfigError(f"{source}: MATCHER_TEMPERATURE must be > 0, got {cfg.MATCHER_TEMPERATURE}")
    if cfg.COVERAGE_POW < 0:
        raise ConfigError(f"{source}: COVERAGE_POW must be >= 0, got {cfg.COVERAGE_POW}")
    if cfg.MOMENT_POW < 0:
        raise ConfigError(f"{source}: MOMENT_POW must be >= 0, got {cfg.MOMENT_POW}")
    if cfg.TOP_MOMENTS < 1:
        raise ConfigError(f"{source}: TOP_MOMENTS must be >= 1, got {cfg.TOP_MOMENTS}")
    if not 0.0 <= cfg.NMS_THRESH <= 1.0:
        raise ConfigError(f"{source}: NMS_THRESH must be in [0, 1], got {cfg.NMS_THRESH}")
    if cfg.WINDOW_SECONDS < 0:
        raise ConfigError(f"{source}: WINDOW_SECONDS must be >= 0 (0: the training clip length), "
                          f"got {cfg.WINDOW_SECONDS}")
    if not 0.0 <= cfg.WINDOW_OVERLAP < 1.0:
        raise ConfigError(f"{source}: WINDOW_OVERLAP must be in [0, 1), got {cfg.WINDOW_OVERLAP}")
    for key in ("SPAN_MATCHER_POW", "SPAN_MOMENT_POW"):
        if cfg[key] < 0:
            raise ConfigError(f"{source}: {key} must be >= 0, got {cfg[key]}")
    if cfg.WINDOW_TOLERANCE < 0:
        raise ConfigError(f"{source}: WINDOW_TOLERANCE must be >= 0, got {cfg.WINDOW_TOLERANCE}")
    return cfg.freeze()


@dataclass
class JoinedPair:
    """One (moment, tube) answer: ``first``/``last`` frames (0-based, inclusive) of the answer's
    interval, ``tube`` with a box on each of them; ``score`` = ``mmn ** MOMENT_POW * t * c ** COVERAGE_POW`` (the
    product, whatever the ranking rule), the parts it was made of (``mmn_score``, ``matcher_score``
    raw, ``coverage``), and the indices it came from."""

    moment: int        # index into the moments given
    tube_index: int    # index into the tubes given
    first: int
    last: int
    tube: Tube
    score: float
    mmn_score: float
    matcher_score: float
    coverage: float


def coverage(tube: Tube, first: int, last: int) -> float:
    """Share of the frames ``first..last`` (inclusive) on which ``tube`` has a box."""
    if last < first or len(tube) == 0:
        return 0.0
    f = tube.frames
    inside = int(((f >= first) & (f <= last)).sum())
    return inside / (last - first + 1)


def fill_tube(tube: Tube, first: int, last: int) -> Tube:
    """``tube`` on every frame ``first..last`` (inclusive): its own box where it has one, else its
    nearest box in time (the earlier one at equal distance). ``tube`` must not be empty. Keeps the
    tube's score; per-frame scores are dropped."""
    if len(tube) == 0:
        raise ValueError("fill_tube: empty tube")
    if last < first:
        raise ValueError(f"fill_tube: empty interval {first}..{last}")
    frames = tube.frames.cpu().numpy()
    want = np.arange(first, last + 1, dtype=np.int64)
    right = np.searchsorted(frames, want, side="left").clip(max=len(frames) - 1)
    left = (right - 1).clip(min=0)
    take_left = np.abs(want - frames[left]) <= np.abs(frames[right] - want)
    pos = np.where(take_left, left, right)
    return Tube(want, tube.boxes.cpu()[torch.from_numpy(pos)], score=tube.score)


def _answer_interval(tube: Tube, first: int, last: int, opts: Mapping):
    """The answer's interval for ``tube`` (with a box in ``first..last``) under ``TUBE_COVERAGE``."""
    if opts["TUBE_COVERAGE"] == "cut":
        inside = tube.frames[(tube.frames >= first) & (tube.frames <= last)]
        return int(inside[0]), int(inside[-1])
    return first, last


def _tube_weights(scores: torch.Tensor, opts: Mapping) -> torch.Tensor:
    scores = scores.double()
    if opts["MATCHER_NORM"] == "softmax":
        return torch.softmax(scores / float(opts["MATCHER_TEMPERATURE"]), dim=-1)
    return scores.clamp(min=0)


def join_pairs(moments: torch.Tensor, moment_scores: torch.Tensor, tubes: Sequence[Tube],
               matcher_scores: torch.Tensor, opts: Mapping, top_k: Optional[int] = None) -> List[JoinedPair]:
    """Every (moment, tube) pair scored and answered as the module docstring says, best first
    (at most ``top_k``; pairs whose answer repeats a better pair's interval and tube are dropped).

    Args:
        moments: ``int64[M, 2]`` first, last frame (inclusive) of each moment.
        moment_scores: ``Tensor[M]`` temporal scores.
        tubes: the N candidate tubes.
        matcher_scores: ``Tensor[M, N]``.
        opts: a :func:`join_config` (or a mapping with its keys).
    """
    moments = torch.as_tensor(moments).long().cpu().reshape(-1, 2)
    moment_scores = torch.as_tensor(moment_scores).double().cpu().reshape(-1)
    m, n = moments.shape[0], len(tubes)
    matcher_scores = torch.as_tensor(matcher_scores).double().cpu()
    if moment_scores.shape[0] != m or tuple(matcher_scores.shape) != (m, n):
        raise ValueError(f"join: {m} moments, {moment_scores.shape[0]} moment scores, {n} tubes and "
                         f"matcher scores of shape {tuple(matcher_scores.shape)} (expected [{m}, {n}])")
    if m == 0 or n == 0:
        return []
    weights = _tube_weights(matcher_scores, opts)
    cover = torch.tensor([[coverage(t, int(a), int(b)) for t in tubes] for a, b in moments.tolist()],
                         dtype=torch.float64)
    tube_part = weights * cover ** float(opts["COVERAGE_POW"])
    pair = (moment_scores.clamp(min=0) ** float(opts["MOMENT_POW"]))[:, None] * tube_part  # 0 ** 0 = 1
    if opts["PAIR_SCORE"] == "product":
        order = torch.sort(pair.flatten(), descending=True, stable=True).indices.tolist()
    else:  # temporal_first: moments by score, tubes by their part within each moment
        moment_rank = torch.sort(moment_scores, descending=True, stable=True).indices.tolist()
        order = []
        for i in moment_rank:
            order += [i * n + j for j in torch.sort(tube_part[i], descending=True, stable=True).indices.tolist()]
    out: List[JoinedPair] = []
    seen = set()
    for k in order:
        i, j = divmod(k, n)
        if cover[i, j] <= 0:
            continue
        first, last = _answer_interval(tubes[j], *(int(v) for v in moments[i]), opts)
        tube = tubes[j]
        key = (first, last, j)
        if key in seen:
            continue
        seen.add(key)
        out.append(JoinedPair(i, j, first, last, fill_tube(tube, first, last), float(pair[i, j]),
                              float(moment_scores[i]), float(matcher_scores[i, j]), float(cover[i, j])))
        if top_k is not None and len(out) >= top_k:
            break
    return out


def join_runs(runs: torch.Tensor, values: torch.Tensor, matcher_scores: torch.Tensor, moment_scores: torch.Tensor,
              tubes: Sequence[Tube], opts: Mapping, top_k: Optional[int] = None) -> List[JoinedPair]:
    """``SPAN_MODE runs``: each tube with its own run, scored and answered as the module docstring says,
    best first (at most ``top_k``; runs where the tube has no box are dropped).

    Args:
        runs: ``int64[N, 2]`` first, last frame (inclusive) of tube n's run.
        values: ``Tensor[N]`` the runs' expected vIoU (span head).
        matcher_scores: ``Tensor[N]`` the matcher's score of tube n through its run.
        moment_scores: ``Tensor[N]`` MMN's score of each run.
        tubes: the N tubes; opts: a :func:`join_config`.
    The pairs' ``moment`` is -1 (the run is the tube's own, not one of MMN's moments)."""
    runs = torch.as_tensor(runs).long().cpu().reshape(-1, 2)
    n = len(tubes)
    values, matcher_scores, moment_scores = (torch.as_tensor(x).double().cpu().reshape(-1)
                                             for x in (values, matcher_scores, moment_scores))
    if not runs.shape[0] == values.shape[0] == matcher_scores.shape[0] == moment_scores.shape[0] == n:
        raise ValueError(f"join_runs: {n} tubes, {runs.shape[0]} runs, {values.shape[0]} values, "
                         f"{matcher_scores.shape[0]} matcher scores, {moment_scores.shape[0]} moment scores")
    score = values.clamp(min=0) * matcher_scores.clamp(min=0) ** float(opts["SPAN_MATCHER_POW"]) \
        * moment_scores.clamp(min=0) ** float(opts["SPAN_MOMENT_POW"])
    out: List[JoinedPair] = []
    for j in torch.sort(score, descending=True, stable=True).indices.tolist():
        first, last = (int(v) for v in runs[j])
        tube = tubes[j]
        c = coverage(tube, first, last)
        if c <= 0:
            continue
        first, last = _answer_interval(tube, first, last, opts)
        out.append(JoinedPair(-1, j, first, last, fill_tube(tube, first, last), float(score[j]),
                              float(moment_scores[j]), float(matcher_scores[j]), c))
        if top_k is not None and len(out) >= top_k:
            break
    return out
