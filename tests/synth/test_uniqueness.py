"""Every sentence singles out its target and span: re-checked from the written JSON alone."""
import json

import pytest

from stvg.data.synthetic.actions import ActionSpan
from stvg.data.synthetic.language import ACTION_PHRASES, Description, realize
from stvg.data.synthetic.palette import Appearance
from stvg.data.synthetic.uniqueness import appearance_matches, check_unique

import numpy as np


def _people(meta_video):
    out = {}
    for pid, p in meta_video["people"].items():
        app = Appearance(**p["appearance"])
        spans = [ActionSpan(a["action"], a["st_frame"] - 1, a["ed_frame"], a["side"]) for a in p["actions"]]
        out[pid] = (app, spans)
    return out


def test_every_sentence_is_unique(tiny_annotations):
    meta = json.load(open(tiny_annotations / "meta.json"))["videos"]
    split = {}
    for s in ("train", "val", "test"):
        split.update(json.load(open(tiny_annotations / f"{s}.json")))
    assert len(meta) == 24
    for vid, m in meta.items():
        people = _people(m)
        d = m["description"]
        desc = Description(tuple(d["attributes"].items()), tuple(d["actions"]), tuple(d["sides"]))
        start, last = m["described_spans"]
        assert check_unique(people, desc, m["target"], start) == [], vid
        # the appearance words rule out everyone but the target and its exact twins
        target_look = people[m["target"]][0].named()
        for pid, (app, _) in people.items():
            if pid != m["target"] and appearance_matches(app, desc):
                assert app.named() == target_look, (vid, pid)
        # the described spans are the annotated time span
        spans = people[m["target"]][1][start:last + 1]
        entry = split[vid]
        first, end = entry["st_frame"] - 1, entry["st_frame"] - 1 + len(entry["bbox"])
        assert spans[0].start <= first and end <= spans[-1].end, vid
        assert (end - first) >= 0.6 * (spans[-1].end - spans[0].start), vid
        # the sentence really names the colours it commits to
        for key in ("top", "bottom"):
            if key in d["attributes"]:
                assert d["attributes"][key] in entry["caption"], (vid, entry["caption"])


def test_hard_cases_occur(tiny_annotations):
    meta = json.load(open(tiny_annotations / "meta.json"))["videos"]
    kinds = {h.split(":")[0] for m in meta.values() for h in m["hard_cases"]}
    assert {"twin", "near_twin"} <= kinds
    for m in meta.values():
        people = _people(m)
        look = people[m["target"]][0].named()
        for h in m["hard_cases"]:
            kind, *rest = h.split(":")
            if kind == "twin":
                assert people[rest[0]][0].named() == look
            elif kind == "near_twin":
                other = people[rest[0]][0].named()
                assert [k for k in look if look[k] != other[k]] == [rest[1]]
    # person ids are shuffled: the target is not always the same id
    assert len({m["target"] for m in meta.values()}) > 1


def _app(**kw):
    base = dict(gender="man", top="red", bottom="blue", hat=False, hat_colour="red", skin=0, hair=0,
                long_sleeves=True, skirt=False, height=0.45, build=1.0)
    base.update(kw)
    return Appearance(**base)


def test_checker_catches_ambiguity():
    walk, wave, jump = (ActionSpan("walk_left", 0, 10), ActionSpan("wave", 10, 20), ActionSpan("jump", 20, 30))
    people = {"p0": (_app(), [walk, wave, jump, ActionSpan("wave", 30, 40)]),
              "p1": (_app(top="green"), [wave, jump])}
    # "waves" alone: the target waves twice
    d = Description((("top", "red"),), ("wave",), (None,))
    assert any("also does" in p for p in check_unique(people, d, "p0", 1))
    # "waves, then jumps": once for the target, but the man in green does it too
    d2 = Description((("gender", "man"),), ("wave", "jump"), (None, None))
    assert any("p1 also fits" in p for p in check_unique(people, d2, "p0", 1))
    # naming the red top fixes it
    d3 = Description((("top", "red"),), ("wave", "jump"), (None, None))
    assert check_unique(people, d3, "p0", 1) == []
    # a description that does not fit its own target is reported
    assert check_unique(people, d3, "p0", 0)


@pytest.mark.parametrize("seed", range(5))
def test_sentences_read_naturally(seed):
    rng = np.random.default_rng(seed)
    d = Description((("gender", "woman"), ("top", "orange"), ("hat", True)), ("wave", "enter"), (None, "left"))
    s = realize(d, rng)
    assert s.startswith("The ") and s.endswith(".") and "orange" in s and "hat" in s
    assert "a orange" not in s and "{" not in s and "  " not in s
    assert "left" in s


def test_every_action_has_phrases():
    from stvg.data.synthetic.actions import ACTIONS
    assert set(ACTIONS) == set(ACTION_PHRASES)
