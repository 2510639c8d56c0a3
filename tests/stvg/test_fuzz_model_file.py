"""Fuzzing the model-file reader: random bytes, torch files of random nested dicts, cut-short files, and
the tiny model file (built through the real path, tests/stvg/test_model_file.py) with fields mutated
or removed.

Any file reads or raises ``FileNotFoundError`` / :class:`ModelFileError` naming the file (and, for a
field, the field); whatever :func:`validate_model_file` passes, :func:`describe` can describe.
"""
from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stvg.io import atomic_torch_save
from stvg.model_file import ModelFileError, describe, read_model_file, validate_model_file
from tests.test_pipeline_tiny import build_model_file

FUZZ = settings(max_examples=250, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SCALAR = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4)
          | st.sampled_from([10 ** 400, "stvg-model", "two_stage", "tube_mmn", "stored", "random"])
          | st.builds(torch.zeros, st.integers(0, 3)) | st.just(torch.tensor(float("nan"))))
VALUE = st.recursive(SCALAR, lambda c: st.lists(c, max_size=3) | st.tuples(c, c)
                     | st.dictionaries(st.text(max_size=3) | st.integers(), c, max_size=3), max_leaves=8)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_model_file")
    path = build_model_file(folder)
    return folder, path, read_model_file(path)


def _fields(d, prefix=()):
    """Every field path of the model file, except inside state dicts (whose entries are tensors) and
    the text encoders' transformers configs (hundreds of fields the layout check does not read)."""
    for k, v in d.items():
        yield prefix + (k,)
        if isinstance(v, dict) and k not in ("model", "state_dict") and prefix[-1:] != ("text_encoder",):
            yield from _fields(v, prefix + (k,))


@pytest.fixture(scope="module")
def fields(model):
    return sorted(_fields(model[2]), key=str)


def test_valid_file_reads_and_is_described(model):
    _, path, data = model
    assert "two_stage" in describe(read_model_file(path))


@FUZZ
@given(data=st.data())
def test_a_field_mutated_or_removed_is_named_or_described(model, fields, data):
    _, _, valid = model
    broken = copy.deepcopy(valid)
    changed = []
    for _ in range(data.draw(st.integers(1, 2))):
        field = data.draw(st.sampled_from(fields))
        node = broken
        for k in field[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        if data.draw(st.booleans()):
            node.pop(field[-1], None)
        else:
            node[field[-1]] = data.draw(VALUE)
        changed.append(".".join(map(str, field)))
    try:
        validate_model_file(broken, "m.pth")
    except ModelFileError as e:
        msg = str(e)
        assert msg.startswith("m.pth: "), msg
        if "model file field" in msg:  # the field named is (inside) one that was changed, or one a mode needs
            named = msg.split("field '", 1)[1].split("'", 1)[0]
            assert any(named.startswith(c) or c.startswith(named) for c in changed) or named in (
                "matcher", "temporal", "features", "spatial", "temporal.clip_seconds"), (named, changed)
        return
    text = describe(broken)  # what validates can be described
    assert text.startswith("stvg-model v1")


@FUZZ
@given(content=st.binary(max_size=200) | VALUE.map(lambda v: ("torch", v))
       | st.dictionaries(st.sampled_from(["format", "format_version", "mode", "model", "config"]), VALUE,
                         max_size=4).map(lambda v: ("torch", v)))
def test_any_file_reads_or_names_the_file(model, content):
    folder = model[0]
    path = str(folder / "random.pth")
    if isinstance(content, bytes):
        with open(path, "wb") as f:
            f.write(content)
    else:
        atomic_torch_save(content[1], path)
    with pytest.raises(ModelFileError) as info:
        read_model_file(path)
    assert str(info.value).startswith(f"{path}: ") or f" {path} " in str(info.value), str(info.value)


def test_cut_short_and_odd_files_name_the_file(model):
    folder, path, valid = model
    raw = open(path, "rb").read()
    cut = str(folder / "cut.pth")
    for n in (0, 1, 64, 4096, len(raw) // 2, len(raw) - 1):
        with open(cut, "wb") as f:
            f.write(raw[:n])
        with pytest.raises(ModelFileError, match=f"^{cut}: cannot read model file"):
            read_model_file(cut)
    with pytest.raises(FileNotFoundError, match="model file not found"):
        read_model_file(str(folder / "nope.pth"))
    with pytest.raises(ModelFileError, match="is a directory, not a file"):
        read_model_file(str(folder))


def test_fields_found_by_fuzzing_are_named(model):
    """Once passed by the validator and then a KeyError / RuntimeError in describe() (a config without
    INPUT.SAMPLE_FPS, DETECTOR.NAME or DETECTION.STRIDE; a tensor as a source path), or an infinite
    clip length passed silently; now named fields (or, for the source path, described without it)."""
    _, _, valid = model
    cases = [(("features", "config", "INPUT", "SAMPLE_FPS"), None, "'features.config.INPUT.SAMPLE_FPS': missing"),
             (("spatial", "config", "DETECTOR", "NAME"), None, "'spatial.config.DETECTOR.NAME': missing"),
             (("spatial", "config", "DETECTION", "STRIDE"), 2.5, "'spatial.config.DETECTION.STRIDE': expected an integer"),
             (("temporal", "clip_seconds"), float("inf"), "'temporal.clip_seconds': must be > 0 and finite, got inf"),
             (("temporal", "clip_seconds"), 10 ** 400, "'temporal.clip_seconds': must be > 0 and finite")]
    for field, value, message in cases:
        broken = copy.deepcopy(valid)
        node = broken
        for k in field[:-1]:
            node = node[k]
        if value is None:
            del node[field[-1]]
        else:
            node[field[-1]] = value
        with pytest.raises(ModelFileError) as info:
            validate_model_file(broken, "m.pth")
        assert str(info.value).startswith("m.pth: model file field ") and message in str(info.value), str(info.value)
    broken = copy.deepcopy(valid)
    broken["sources"]["temporal"]["path"] = torch.zeros(2)
    validate_model_file(broken, "m.pth")
    assert "source temporal" not in describe(broken) and "source matcher" in describe(broken)
