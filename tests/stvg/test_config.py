import pytest

from stvg.config import ConfigError, load_config

DEFAULTS = {"MODEL": {"LR": 0.1, "LAYERS": 2, "NAME": "x", "SIZES": [1, 2], "OPT": None,
                      "AMP": True}, "OUTPUT_DIR": "out"}


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path, "base.yaml", "MODEL:\n  LAYERS: 4\n  NAME: base\n")
    child = write(tmp_path, "child.yaml", "_BASE_: base.yaml\nMODEL:\n  NAME: child\n  LR: 1\n")
    cfg = load_config(child, DEFAULTS, ["MODEL.SIZES", "[3, 4, 5]", "OUTPUT_DIR", "runs/a",
                                        "MODEL.OPT", "{'a': 1}"])
    assert cfg.MODEL.LAYERS == 4 and cfg.MODEL.NAME == "child"
    assert cfg.MODEL.LR == 1.0 and isinstance(cfg.MODEL.LR, float)
    assert cfg.MODEL.SIZES == [3, 4, 5] and cfg.OUTPUT_DIR == "runs/a"
    assert cfg.MODEL.OPT == {"a": 1}
    assert DEFAULTS["MODEL"]["LAYERS"] == 2  # defaults untouched


def test_unknown_key_names_key_and_suggestion(tmp_path):
    bad = write(tmp_path, "bad.yaml", "MODEL:\n  LAYRES: 3\n")
    with pytest.raises(ConfigError, match=r"MODEL\.LAYRES.*did you mean 'MODEL\.LAYERS'"):
        load_config(bad, DEFAULTS)
    with pytest.raises(ConfigError, match=r"MODEL\.NAEM.*MODEL\.NAME"):
        load_config(None, DEFAULTS, ["MODEL.NAEM", "y"])
    with pytest.raises(ConfigError, match="KEY VALUE pairs"):
        load_config(None, DEFAULTS, ["MODEL.NAME"])


def test_type_mismatch_and_frozen(tmp_path):
    with pytest.raises(ConfigError, match="MODEL.LAYERS expects int"):
        load_config(None, DEFAULTS, ["MODEL.LAYERS", "2.5"])
    with pytest.raises(ConfigError, match="MODEL.AMP expects bool"):
        load_config(None, DEFAULTS, ["MODEL.AMP", "3"])
    cfg = load_config(None, DEFAULTS)
    with pytest.raises(ConfigError, match="frozen"):
        cfg.MODEL.LR = 3
    with pytest.raises(AttributeError, match="did you mean 'OUTPUT_DIR'"):
        cfg.OUTPUT_DIRR


def test_dump_roundtrip_and_cycle(tmp_path):
    cfg = load_config(None, DEFAULTS, ["MODEL.NAME", "z"])
    path = tmp_path / "run" / "config.yaml"
    cfg.dump(str(path))
    again = load_config(str(path), DEFAULTS)
    assert again == cfg
    write(tmp_path, "a.yaml", "_BASE_: b.yaml\n")
    write(tmp_path, "b.yaml", "_BASE_: a.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(str(tmp_path / "a.yaml"), DEFAULTS)
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.yaml"), DEFAULTS)


def test_float_in_exponent_notation(tmp_path):
    cfg = load_config(write(tmp_path, "e.yaml", "MODEL:\n  LR: 1e-3\n"), DEFAULTS, ["MODEL.LR", "5e-4"])
    assert cfg.MODEL.LR == 5e-4
    assert load_config(write(tmp_path, "f.yaml", "MODEL:\n  LR: 1e-3\n"), DEFAULTS).MODEL.LR == 1e-3
    with pytest.raises(ConfigError, match="MODEL.LR expects float"):
        load_config(None, DEFAULTS, ["MODEL.LR", "fast"])


def test_empty_mapping_default_is_free_form(tmp_path):
    defaults = {"MODEL": {"EXTRA": {}, "N": 1}}
    cfg = load_config(write(tmp_path, "m.yaml", "MODEL:\n  EXTRA:\n    anything: 3\n"), defaults)
    assert cfg.MODEL.EXTRA == {"anything": 3}
    cfg = load_config(None, defaults, ["MODEL.EXTRA", "{hidden_size: 32}"])
    assert cfg.MODEL.EXTRA.hidden_size == 32
