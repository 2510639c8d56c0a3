"""Fuzzing ``stvg.config.load_config``: random YAML files, ``_BASE_`` chains and override lists.

Any input gives the config a slow by-hand merge gives, or a ``ConfigError`` naming the file (for a
file) or the key (for an override); never an AttributeError, TypeError, OverflowError or
RecursionError, and never a value of another type than its default's.
"""
from __future__ import annotations

import copy
import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stvg.config import ConfigError, load_config

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
DEFAULTS = {"MODEL": {"NAME": "mmn", "LR": 0.1, "LAYERS": 2, "AMP": False, "SIZES": [1, 2], "EXTRA": {}, "OPT": None,
                      "SUB": {"K": 1}},
            "OUTPUT_DIR": "runs", "SEED": 0}
KEYS = ["MODEL", "NAME", "LR", "LAYERS", "AMP", "SIZES", "EXTRA", "OPT", "SUB", "K", "OUTPUT_DIR", "SEED", "X"]
SCALAR = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
          | st.sampled_from([10 ** 400, -10 ** 400, "1e-3", "nan", "b.yaml", "", "."]))
VALUE = st.recursive(SCALAR, lambda c: st.lists(c, max_size=3)
                     | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3) | st.integers(), c, max_size=3),
                     max_leaves=8)
SECTION = st.fixed_dictionaries({}, optional={k: VALUE for k in ("NAME", "LR", "LAYERS", "AMP", "SIZES", "EXTRA",
                                                                 "OPT", "X")}
                                | {"SUB": st.dictionaries(st.sampled_from(["K", "X"]), VALUE, max_size=2) | VALUE})
DOC = (st.fixed_dictionaries({}, optional={"MODEL": SECTION | VALUE, "OUTPUT_DIR": VALUE, "SEED": VALUE, "X": VALUE})
       | st.dictionaries(st.sampled_from(KEYS) | st.integers(), VALUE, max_size=3) | VALUE)
TEXT = st.text(max_size=30) | st.sampled_from(
    ["a: [", "{", "- 1\n- 2", "0", "false", "MODEL: &x [*x]", "a: &x {b: *x}\nMODEL: {EXTRA: *x}", "\t",
     "!!python/object/apply:os.system ['true']", "MODEL:\n  LR: !!binary aGk=", "---\n---\n", "%YAML 9.9\n---\n",
     "MODEL: " + "[" * 300 + "]" * 300, "MODEL: " + "[" * 600 + "]" * 600, "MODEL:\n  EXTRA: " + "{a: " * 80 + "1" + "}" * 80])


def _typed(default, value):
    """``(ok, value)`` by the rules, one case at a time (the module docstring of stvg.config)."""
    if default is None or value is None:
        return True, value
    if isinstance(value, dict):
        return False, value
    if isinstance(default, bool):
        return isinstance(value, bool), value
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool), value
    if isinstance(default, float):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return False, value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        try:
            return True, float(value)
        except OverflowError:
            return False, value
    if isinstance(default, list):
        return isinstance(value, (list, tuple)), list(value) if isinstance(value, (list, tuple)) else value
    return isinstance(value, type(default)), value


def by_hand(defaults: dict, doc: dict):
    """The merged dict, or None when some key is unknown or of the wrong type."""
    out = copy.deepcopy(defaults)
    for k, v in doc.items():
        if k not in out:
            return None
        if isinstance(out[k], dict):
            if not isinstance(v, dict):
                return None
            if not out[k]:  # free-form mapping
                out[k] = copy.deepcopy(v)
                continue
            sub = by_hand(out[k], v)
            if sub is None:
                return None
            out[k] = sub
        else:
            ok, value = _typed(out[k], v)
            if not ok:
                return None
            out[k] = value
    return out


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b or (a != a and b != b)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_config")


def _write(folder, name, content) -> str:
    path = os.path.join(str(folder), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content if isinstance(content, str) else yaml.safe_dump(content))
    return path


@FUZZ
@given(doc=DOC)
def test_any_yaml_document_merges_as_by_hand_or_names_the_file(folder, doc):
    path = _write(folder, "doc.yaml", doc)
    want = DEFAULTS if doc is None else by_hand(DEFAULTS, doc) if isinstance(doc, dict) else None  # None: empty file
    try:
        cfg = load_config(path, DEFAULTS)
    except ConfigError as e:
        assert want is None, f"refused a valid file: {e}"
        assert str(e).startswith(path), str(e)
        return
    assert want is not None, f"accepted an invalid file: {doc!r}"
    assert _same(cfg.to_dict(), want) and cfg.frozen
    assert _same(yaml.safe_load(cfg.dump()), want)


@FUZZ
@given(text=TEXT)
def test_any_text_loads_or_names_the_file(folder, text):
    path = _write(folder, "text.yaml", text)
    try:
        cfg = load_config(path, DEFAULTS)
    except ConfigError as e:
        assert str(e).startswith(path), str(e)
        return
    cfg.dump()
    assert set(cfg) == set(DEFAULTS)


OVERRIDE_KEY = st.sampled_from(["MODEL.NAME", "MODEL.LR", "MODEL.LAYERS", "MODEL.AMP", "MODEL.SIZES", "MODEL.EXTRA",
                                "MODEL.OPT", "MODEL.SUB", "MODEL.SUB.K", "MODEL..LR", "", ".", "MODEL", "SEED",
                                "X.Y", "MODEL.NAME.X", "OUTPUT_DIR"]) | st.text(max_size=5)
OVERRIDE_VALUE = st.text(max_size=8) | st.sampled_from(
    ["[1, 2", "{a: 1}", "null", ".nan", "1e-3", "2.5", "3", "true", "[a]", "&a [*a]", "2020-01-01",
     "!!python/name:os.system", "9" * 400, "[" * 200 + "]" * 200, "[" * 2000 + "]" * 2000])


@FUZZ
@given(pairs=st.lists(st.tuples(OVERRIDE_KEY, OVERRIDE_VALUE), max_size=3),
       junk=st.sampled_from([None, [], [3, "1"], ["MODEL.LR"], [None, None], "MODEL.LR 1"]))
def test_any_override_list_merges_as_by_hand_or_names_the_key(pairs, junk):
    flat = [x for p in pairs for x in p]
    if junk is not None:
        flat = junk if isinstance(junk, str) else flat + junk
    try:
        cfg = load_config(None, DEFAULTS, flat)
    except ConfigError as e:
        msg = str(e)
        assert isinstance(flat, str) or len(flat) % 2 or any(repr(k) in msg or f"{k}:" in msg or f"{k} " in msg
                                                              for k in flat[0::2]), msg
        return
    assert not isinstance(flat, str) and not len(flat) % 2
    want = copy.deepcopy(DEFAULTS)
    for key, raw in zip(flat[0::2], flat[1::2]):  # each key known and each value of its default's type
        *parents, leaf = key.split(".")
        node = want
        for p in parents:
            node = node[p]
        try:  # a value that is not YAML is the string itself
            value = yaml.safe_load(raw)
        except (yaml.YAMLError, RecursionError):
            value = raw
        if isinstance(node[leaf], dict) and not node[leaf] and isinstance(value, dict):
            node[leaf] = value
            continue
        ok, node[leaf] = _typed(node[leaf], value)
        assert ok, (key, raw)
    assert _same(cfg.to_dict(), want)
    cfg.dump()


@FUZZ
@given(files=st.fixed_dictionaries({n: st.one_of(st.none(), st.just("a.yaml"), st.just("b.yaml"), st.just("c.yaml"),
                                                  st.just("nope.yaml"), st.just("."),
                                                  st.lists(st.sampled_from(["a.yaml", "b.yaml", "c.yaml", "nope.yaml"]),
                                                           max_size=2), VALUE)
                                    for n in ("a.yaml", "b.yaml", "c.yaml")}),
       seeds=st.lists(st.integers(0, 5), min_size=3, max_size=3))
def test_base_chains_load_or_name_the_file(folder, files, seeds):
    sub = folder / "bases"
    sub.mkdir(exist_ok=True)
    paths = {}
    for name, seed in zip(("a.yaml", "b.yaml", "c.yaml"), seeds):
        base = files[name]
        doc = {"SEED": seed} if base is None else {"_BASE_": base, "SEED": seed}
        paths[name] = _write(sub, name, doc)
    try:
        cfg = load_config(paths["a.yaml"], DEFAULTS)
    except ConfigError as e:
        msg = str(e)
        assert msg.startswith(str(sub)) or msg.startswith(os.path.abspath(str(sub))), msg
        return
    assert cfg.SEED == seeds[0]  # the file's own keys override its bases


def test_inputs_found_by_fuzzing_are_config_errors(folder):
    """Once a TypeError (``_BASE_: 3``, ``_BASE_: [null]``), an AttributeError (an override key that is
    not a string), an OverflowError (an int too large for a float option), a UnicodeDecodeError, a
    RecursionError (a YAML alias holding itself, deep nesting) or a silently empty config (a file
    holding ``0``); now each a ConfigError naming the file or the key."""
    cases = {"_BASE_: 3\n": "_BASE_ must be a path or a list of paths, got 3",
             "_BASE_: [null]\n": "_BASE_ must be a path or a list of paths, got [None]",
             "_BASE_: nope.yaml\n": "_BASE_: config file not found: ",
             "MODEL:\n  LR: " + "9" * 400 + "\n": "MODEL.LR expects float",
             "MODEL:\n  SIZES: &x [*x]\n": "a YAML alias makes a value contain itself",
             "MODEL:\n  SIZES: " + "[" * 100 + "]" * 100 + "\n": "values nested more than 64 levels deep",
             "MODEL:\n  SIZES: " + "[" * 2000 + "]" * 2000 + "\n": "invalid YAML: nested too deeply",
             "0\n": "top level must be a mapping, got int"}
    for text, message in cases.items():
        path = _write(folder, "found.yaml", text)
        with pytest.raises(ConfigError) as info:
            load_config(path, DEFAULTS)
        assert str(info.value).startswith(path) and message in str(info.value), str(info.value)
    with open(path, "wb") as f:
        f.write(b"MODEL:\n  NAME: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_config(path, DEFAULTS)
    with pytest.raises(ConfigError, match="override key 3 is not a string"):
        load_config(None, DEFAULTS, [3, "1"])
    with pytest.raises(ConfigError, match="got the string 'MODEL.LR 1'"):
        load_config(None, DEFAULTS, "MODEL.LR 1")
    with pytest.raises(ConfigError, match="command line: MODEL.SIZES: a YAML alias makes a value contain itself"):
        load_config(None, DEFAULTS, ["MODEL.SIZES", "&a [*a]"])
    with pytest.raises(ConfigError, match="MODEL.LR expects float"):
        load_config(None, DEFAULTS, ["MODEL.LR", "9" * 400])
