"""Every shipped config loads strictly, and no file restates a value its base chain (or the
defaults) already gives: each value is declared once."""
import os
import pathlib

import pytest
import yaml

from stvg.config import flatten_config, load_config

REPO = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*/*.yaml"))


def defaults_for(path: pathlib.Path):
    from spatial.defaults import SPATIAL_DEFAULTS
    from spatial.matcher.defaults import MATCHER_DEFAULTS
    from stvg.features.defaults import FEATURES_DEFAULTS
    from temporal.defaults import TEMPORAL_DEFAULTS

    if path.parent.name == "temporal":
        return TEMPORAL_DEFAULTS
    if path.parent.name == "features":
        return FEATURES_DEFAULTS
    return MATCHER_DEFAULTS if path.name.startswith("matcher") else SPATIAL_DEFAULTS


def test_one_base_file_name():
    bases = {p.name for p in CONFIGS if p.name.startswith("_")}
    assert bases <= {"_base.yaml"}, bases


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_config_loads_and_restates_nothing(path):
    defaults = defaults_for(path)
    load_config(str(path), defaults)
    raw = yaml.safe_load(path.read_text()) or {}
    base = raw.pop("_BASE_", None)
    parent = load_config(os.path.join(path.parent, base) if base else None, defaults).to_dict()
    leaves = ("TEXT_CONFIG_OVERRIDES",)
    have = flatten_config(parent, leaves=leaves)
    same = [k for k, v in flatten_config(raw, leaves=leaves).items() if k in have and have[k] == v]
    assert not same, f"{path.name} restates its base's values: {same}"
