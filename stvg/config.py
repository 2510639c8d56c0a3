"""Strict YAML configs: defaults in code, ``_BASE_`` inheritance, ``KEY VALUE`` overrides, frozen.

A stage declares its defaults as a nested dict and builds its config with :func:`load_config`::

    cfg = load_config("configs/temporal/charades.yaml", defaults=TEMPORAL_DEFAULTS,
                      overrides=["SOLVER.LR", "1e-4", "OUTPUT_DIR", "runs/x"])
    cfg.SOLVER.LR          # attribute access
    cfg.dump("runs/x/config.yaml")

Rules:
* every key a file or override sets must exist in the defaults; otherwise ``ConfigError`` names
  the full key and the closest valid one;
* a value must keep its default's type (int is accepted where a float is expected, a list or
  tuple where a list is expected; a default of None accepts anything; an empty mapping default
  ``{}`` is a free-form mapping option whose keys are not checked);
* ``_BASE_`` (a path relative to the file, or a list of them) is loaded first and the file's
  keys override it, recursively;
* the result is frozen: assigning to it raises.
"""
from __future__ import annotations

import copy
import difflib
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

import yaml

__all__ = ["Config", "ConfigError", "load_config", "flatten_config", "config_diff"]

BASE_KEY = "_BASE_"
_MAX_DEPTH = 64  # config values nested deeper than this are refused (no RecursionError later)


class ConfigError(ValueError):
    """A config file or override is invalid (unknown key, wrong type, bad file)."""


class Config(dict):
    """A nested dict with attribute access that can be frozen."""

    def __init__(self, data: Optional[Mapping] = None) -> None:
        super().__init__()
        object.__setattr__(self, "_frozen", False)
        for k, v in (data or {}).items():
            dict.__setitem__(self, k, Config(v) if isinstance(v, Mapping) else copy.deepcopy(v))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(_unknown_message(name, self.keys(), "")) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if self._frozen:
            raise ConfigError(f"config is frozen: cannot set {key!r}")
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        if self._frozen:
            raise ConfigError(f"config is frozen: cannot delete {key!r}")
        dict.__delitem__(self, key)

    def __deepcopy__(self, memo) -> "Config":
        return Config(self.to_dict())

    def freeze(self) -> "Config":
        for v in self.values():
            if isinstance(v, Config):
                v.freeze()
        object.__setattr__(self, "_frozen", True)
        return self

    @property
    def frozen(self) -> bool:
        return self._frozen

    def to_dict(self) -> dict:
        return {k: v.to_dict() if isinstance(v, Config) else copy.deepcopy(v) for k, v in self.items()}

    def dump(self, path: Optional[str] = None) -> str:
        """YAML text of the config; also written atomically to ``path`` when given."""
        text = yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)
        if path is not None:
            from .io import atomic_write_text
            atomic_write_text(path, text)
        return text

    def merge(self, other: Mapping, source: str = "<dict>") -> None:
        """Merge a nested mapping into this config, strictly (see module docstring)."""
        _merge_strict(self, other, prefix="", source=source)

    def merge_from_file(self, path: str) -> None:
        self.merge(_read_with_bases(path, seen=()), source=path)

    def merge_from_list(self, pairs: Sequence[str]) -> None:
        """``["A.B", "value", ...]``; values are parsed as YAML (numbers, lists, booleans, null)."""
        if isinstance(pairs, str):
            raise ConfigError(f"overrides must be a list of KEY VALUE strings, got the string {pairs!r}")
        if len(pairs) % 2:
            raise ConfigError(f"overrides must be KEY VALUE pairs, got an odd count: {list(pairs)}")
        for key, raw in zip(pairs[0::2], pairs[1::2]):
            if not isinstance(key, str):
                raise ConfigError(f"override key {key!r} is not a string (overrides are KEY VALUE pairs)")
            node: Config = self
            parts = key.split(".")
            for i, part in enumerate(parts[:-1]):
                if part not in node:
                    raise ConfigError(_unknown_message(".".join(parts[: i + 1]), _all_keys(self), "")
                                      + f" (in override {key!r})")
                if not isinstance(node[part], Config):
                    raise ConfigError(f"override {key!r}: {'.'.join(parts[: i + 1])} is an option, not a section")
                node = node[part]
            leaf = parts[-1]
            if leaf not in node:
                raise ConfigError(_unknown_message(key, _all_keys(self), "override "))
            value = _parse_value(raw)
            problem = _nesting_problem(value)
            if problem:
                raise ConfigError(f"command line: {key}: {problem}")
            if isinstance(node[leaf], Config) and len(node[leaf]) == 0 and isinstance(value, Mapping):
                node[leaf] = Config(value)  # free-form mapping option
                continue
            node[leaf] = _checked(node[leaf], value, key, "command line")


def load_config(path: Optional[str], defaults: Mapping, overrides: Iterable[str] = (),
                freeze: bool = True) -> Config:
    """Defaults <- file (with its ``_BASE_`` chain) <- ``KEY VALUE`` overrides; frozen by default."""
    cfg = Config(defaults)
    if path is not None:
        cfg.merge_from_file(path)
    cfg.merge_from_list(overrides if isinstance(overrides, str) else list(overrides))  # (a string is refused)
    return cfg.freeze() if freeze else cfg


# ----------------------------------------------------------------------------------------------
def _read_with_bases(path: str, seen: tuple) -> dict:
    path = os.path.abspath(path)
    named_by = f"{seen[-1]}: {BASE_KEY}: " if seen else ""
    if path in seen:
        raise ConfigError(f"{path}: _BASE_ cycle ({' -> '.join(seen + (path,))})")
    if os.path.isdir(path):
        raise ConfigError(f"{named_by}config file is a directory, not a file: {path}")
    if not os.path.isfile(path):
        raise ConfigError(f"{named_by}config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from None
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text ({e})") from None
        except RecursionError:
            raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    data = {} if data is None else data  # an empty file
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    problem = _nesting_problem(data)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    bases = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases, list) or not all(isinstance(b, str) and b for b in bases):
        raise ConfigError(f"{path}: {BASE_KEY} must be a path or a list of paths, got {bases!r}")
    merged: dict = {}
    for base in bases:
        base_path = base if os.path.isabs(base) else os.path.join(os.path.dirname(path), base)
        _deep_update(merged, _read_with_bases(base_path, seen + (path,)))
    _deep_update(merged, data)
    return merged


def _nesting_problem(x: Any, depth: int = 0, open_ids: frozenset = frozenset(),
                    done: Optional[set] = None) -> Optional[str]:
    """Why a loaded YAML value cannot be a config value (None: it can): a list or dict that holds
    itself (YAML aliases can build one), or nesting deeper than ``_MAX_DEPTH``. Each container is
    walked once, however many aliases point at it."""
    done = set() if done is None else done
    if not isinstance(x, (list, dict)) or id(x) in done:
        return None
    if id(x) in open_ids:
        return "a YAML alias makes a value contain itself"
    if depth >= _MAX_DEPTH:
        return f"values nested more than {_MAX_DEPTH} levels deep"
    inner = open_ids | {id(x)}
    for v in (x.values() if isinstance(x, dict) else x):
        problem = _nesting_problem(v, depth + 1, inner, done)
        if problem:
            return problem
    done.add(id(x))
    return None


def _deep_update(dst: dict, src: Mapping) -> None:
    for k, v in src.items():
        if isinstance(v, Mapping) and isinstance(dst.get(k), dict):
            _deep_update(dst[k], v)
        else:
            dst[k] = copy.deepcopy(dict(v)) if isinstance(v, Mapping) else copy.deepcopy(v)


def _merge_strict(dst: Config, src: Mapping, prefix: str, source: str) -> None:
    for k, v in src.items():
        full = f"{prefix}{k}"
        if k not in dst:
            raise ConfigError(_unknown_message(full, _all_keys(_root_of(dst, prefix)), f"{source}: ", prefix))
        if isinstance(dst[k], Config):
            if not isinstance(v, Mapping):
                raise ConfigError(f"{source}: {full} is a section; got {type(v).__name__} {v!r}")
            if len(dst[k]) == 0:  # an empty mapping default is a free-form mapping option
                dst[k] = Config(v)
                continue
            _merge_strict(dst[k], v, prefix=f"{full}.", source=source)
        else:
            dst[k] = _checked(dst[k], v, full, source)


def _root_of(node: Config, prefix: str) -> Config:
    # Only used for suggestions: the keys of this node, prefixed.
    return Config({prefix.rstrip("."): node}) if prefix else node


def _checked(default: Any, value: Any, key: str, source: str) -> Any:
    if default is None or value is None:
        return value
    if isinstance(value, Mapping):
        raise ConfigError(f"{source}: {key} expects {type(default).__name__}, got a mapping")
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        try:
            value = float(value) if ok else value
        except OverflowError:  # an int too large for a float
            ok = False
    elif isinstance(default, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        value = list(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"{source}: {key} expects {type(default).__name__} "
                          f"(default {default!r}), got {type(value).__name__} {value!r}")
    return value


def _parse_value(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    try:
        return yaml.safe_load(raw)
    except (yaml.YAMLError, RecursionError):  # (nested too deeply for the YAML parser)
        return raw


def _all_keys(cfg: Mapping, prefix: str = "") -> list:
    out = []
    for k, v in cfg.items():
        out.append(f"{prefix}{k}")
        if isinstance(v, Mapping):
            out.extend(_all_keys(v, f"{prefix}{k}."))
    return out


def _unknown_message(key: str, valid: Iterable[str], where: str, prefix: str = "") -> str:
    valid = list(valid)
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{where}unknown config key {key!r}{hint}"


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def flatten_config(d: Mapping, prefix: str = "", leaves: Iterable[str] = ()) -> Dict[str, Any]:
    """``{"A": {"B": 1}} -> {"A.B": 1}``; keys named in ``leaves`` stay whole (mapping-valued options)."""
    leaves = tuple(leaves)
    out: Dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping) and k not in leaves:
            out.update(flatten_config(v, f"{prefix}{k}.", leaves))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_norm(x) for x in v]
    if isinstance(v, Mapping):
        return {k: _norm(x) for k, x in v.items()}
    return v


def config_diff(saved: Mapping, current: Mapping, keys: Iterable[str] = (), ignore: Iterable[str] = (),
                leaves: Iterable[str] = ()) -> List[str]:
    """``"KEY: checkpoint X, config Y"`` for every differing key: those in ``keys``, or with ``keys``
    empty every key of either config except those in ``ignore``."""
    a, b = flatten_config(saved, leaves=leaves), flatten_config(current, leaves=leaves)
    keys = list(keys) or sorted((set(a) | set(b)) - set(ignore))
    return [f"{k}: checkpoint {a.get(k, '<absent>')!r}, config {b.get(k, '<absent>')!r}"
            for k in keys if _norm(a.get(k)) != _norm(b.get(k))]
