"""The one model file: every stage's resolved config and weights in a single torch file.

    data = read_model_file("models/stvg_synthetic.pth")     # weights_only=True, every field checked
    write_model_file("model.pth", data)                      # checked, then written atomically

Layout (a dict; only tensors, numbers, strings, lists and dicts, so ``torch.load(weights_only=True)``
reads it)::

    format          "stvg-model"
    format_version  1
    version         the project version that wrote it
    mode            "two_stage" or "tube_mmn" (the pipeline mode; :data:`MODE_PARTS` lists the parts
                    each needs, and a part another mode needs but this one does not is refused)
    features        {"config": resolved features config (stvg.features),
                     "backbone": {"weights": "torchvision" | "random" | "stored",
                                  "fingerprint": sha256 of the backbone's parameters,
                                  "state_dict": the backbone's weights (only when "stored")},
                     "crop_net": {"classes", "state_dict", "fingerprint"} (only with ROI.CROP_NET,
                                  which then reads "crop-net <fingerprint>": stvg.features.crop_net)}
    spatial         {"config": resolved spatial config (detector, DETECTION, LINKING)}
    temporal        {"config": resolved MMN config, "model": state dict, "clip_seconds": training
                     clip length (s; two_stage only), "text_encoder_stored": bool, "text_encoder": identity}
                    (mode tube_mmn: the tube-mode MMN, ``MODEL.MODE tube``, state dict of
                    :class:`temporal.tube_mmn.TubeMMN`)
    matcher         {"config": resolved matcher config, "model": state dict,
                     "text_encoder_stored": bool, "text_encoder": identity} (two_stage only)
    join            the join options (stvg.join.JOIN_DEFAULTS keys)
    sources         {part: where it came from: path, sha256, epoch, metrics, ...}

Backbone weights: "torchvision" (a torchvision weights name in the config, rebuilt by name),
"random" (WEIGHTS "none": rebuilt from BACKBONE.SEED), "stored" (a local weights file was used: its
weights are in the file). The fingerprint lets the loader check that a backbone rebuilt by name or
seed is the very one the stages were trained on.

Text encoders (``text_encoder``): ``{"name": hub name / offline id, "fingerprint": sha256 of its
parameters, "config": its transformers config dict (when stored)}``. A frozen pretrained encoder
is not stored (``text_encoder_stored`` False): its weights are absent from ``model`` and reloaded
by name, and the fingerprint must match. A fine-tuned or randomly initialised one is stored.

This module checks the layout and the types of every field; it imports no stage.
:mod:`stvg.pipeline` checks the configs against each stage's defaults and that the stages agree.
"""
from __future__ import annotations

import hashlib
import math
import os
from typing import Any, Dict, Mapping

import torch

from .checkpoint import CheckpointError, read_checkpoint

__all__ = ["FORMAT", "FORMAT_VERSION", "MODE_PARTS", "MODES", "ModelFileError", "read_model_file",
           "validate_model_file", "write_model_file", "state_dict_fingerprint", "file_sha256", "describe",
           "portable"]

FORMAT = "stvg-model"
FORMAT_VERSION = 1
MODE_PARTS = {"two_stage": ("features", "spatial", "temporal", "matcher"),
              "tube_mmn": ("features", "spatial", "temporal")}
MODES = tuple(MODE_PARTS)
_ALL_PARTS = ("features", "spatial", "temporal", "matcher")
BACKBONE_WEIGHTS = ("torchvision", "random", "stored")
_TOP = ("format", "format_version", "version", "mode", "join", "sources")


class ModelFileError(CheckpointError):
    """A model file that is not of this format, or whose fields or stages do not fit (names the
    file and the field)."""


def state_dict_fingerprint(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of ``tensors`` (sorted by name), 16 hex digits."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:16]


def portable(value: Any) -> Any:
    """``value`` with every absolute path below the working directory made relative to it (strings,
    nested in dicts and lists): a model file records where its parts came from without naming the
    machine's folders; the sha256 of each source still identifies it."""
    if isinstance(value, Mapping):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(portable(v) for v in value)
    if isinstance(value, str) and os.path.isabs(value):
        cwd = os.getcwd()
        if os.path.commonpath([cwd, os.path.abspath(value)]) == cwd:
            return os.path.relpath(value, cwd)
    return value


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_model_file(path: str) -> Dict[str, Any]:
    """Load and check a model file (``FileNotFoundError`` / :class:`ModelFileError` naming it)."""
    path = os.fspath(path)
    try:
        data = read_checkpoint(path, require=(), what="model file")
    except CheckpointError as e:
        raise ModelFileError(str(e)) from None
    validate_model_file(data, path)
    return data


def write_model_file(path: str, data: Mapping[str, Any]) -> None:
    """Check ``data`` (:func:`validate_model_file`) and write it atomically."""
    from .io import atomic_torch_save

    validate_model_file(data, path)
    atomic_torch_save(dict(data), path)


def _err(source: str, field: str, message: str) -> ModelFileError:
    return ModelFileError(f"{source}: model file field {field!r}: {message}")


def _mapping(data: Any, field: str, source: str) -> Mapping:
    if not isinstance(data, Mapping):
        raise _err(source, field, f"expected a dict, got {type(data).__name__}")
    return data


def _get(data: Mapping, key: str, field: str, source: str, types, what: str) -> Any:
    if key not in data:
        raise _err(source, f"{field}.{key}" if field else key, "missing")
    value = data[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        raise _err(source, f"{field}.{key}" if field else key, f"expected {what}, got {type(value).__name__}")
    return value


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _state_dict(data: Mapping, key: str, field: str, source: str) -> None:
    sd = _mapping(data.get(key), f"{field}.{key}", source)
    if not sd:
        raise _err(source, f"{field}.{key}", "empty state dict")
    bad = [k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise _err(source, f"{field}.{key}", f"not a state dict (entry {bad[0]!r} is not a named tensor)")


def _text_encoder(part: Mapping, field: str, source: str) -> None:
    stored = _get(part, "text_encoder_stored", field, source, bool, "true or false")
    ident = _mapping(part.get("text_encoder"), f"{field}.text_encoder", source)
    _get(ident, "name", f"{field}.text_encoder", source, str, "a string")
    if not stored:
        _get(ident, "fingerprint", f"{field}.text_encoder", source, str, "a string")
    elif "config" in ident and not isinstance(ident["config"], Mapping):
        raise _err(source, f"{field}.text_encoder.config", "expected a transformers config dict")


def _config(part: Mapping, field: str, source: str, sections=()) -> Mapping:
    cfg = _mapping(part.get("config"), f"{field}.config", source)
    for s in sections:
        _mapping(cfg.get(s), f"{field}.config.{s}", source)
    return cfg


def validate_model_file(data: Any, source: str = "model file") -> None:
    """Raise :class:`ModelFileError` naming ``source`` and the first field that is missing or of the
    wrong type; the format and its version are checked first."""
    if not isinstance(data, Mapping):
        raise ModelFileError(f"{source}: not a model file (a {type(data).__name__}, not a dict)")
    if data.get("format") != FORMAT:
        if "format" not in data and "model" in data:
            raise ModelFileError(f"{source}: this is a training checkpoint of one stage, not a model file "
                                 "(assemble one with tools/make_model_file.py)")
        raise ModelFileError(f"{source}: not a model file: field 'format' is {data.get('format')!r}, "
                             f"expected {FORMAT!r}")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _err(source, "format_version", f"expected an integer, got {version!r}")
    if version != FORMAT_VERSION:
        newer = version > FORMAT_VERSION
        raise ModelFileError(f"{source}: model file format_version {version} is not supported (this code reads "
                             f"version {FORMAT_VERSION}" + ("; the file was made by a newer version of the "
                                                            "project: upgrade)" if newer else ")"))
    for key in _TOP:
        if key not in data:
            raise _err(source, key, "missing")
    _get(data, "version", "", source, str, "a string")
    mode = _get(data, "mode", "", source, str, "a string")
    if mode not in MODE_PARTS:
        raise _err(source, "mode", f"unknown pipeline mode {mode!r} (known: {', '.join(MODES)})")
    _mapping(data["join"], "join", source)
    _mapping(data["sources"], "sources", source)
    parts = MODE_PARTS[mode]
    for part in _ALL_PARTS:
        if part in data and part not in parts:
            need = [m for m, ps in MODE_PARTS.items() if part in ps]
            raise _err(source, part, f"a {mode} model file holds no {part} part (only mode(s) {', '.join(need)} "
                       f"use one; mode {mode} needs {', '.join(parts)}): remove it, or set the mode")
    for part in parts:
        if part not in data:
            raise _err(source, part, f"missing (mode {mode} needs the parts {', '.join(parts)})")
        p = _mapping(data[part], part, source)
        if part == "features":
            cfg = _config(p, part, source, ("BACKBONE", "INPUT", "CLIPS", "ROI"))
            _get(cfg["BACKBONE"], "NAME", "features.config.BACKBONE", source, str, "a backbone name")
            _get(cfg["INPUT"], "SAMPLE_FPS", "features.config.INPUT", source, (int, float), "a number")
            bb = _mapping(p.get("backbone"), "features.backbone", source)
            kind = _get(bb, "weights", "features.backbone", source, str, "a string")
            if kind not in BACKBONE_WEIGHTS:
                raise _err(source, "features.backbone.weights", f"expected one of {', '.join(BACKBONE_WEIGHTS)}, "
                           f"got {kind!r}")
            _get(bb, "fingerprint", "features.backbone", source, str, "a string")
            if kind == "stored":
                _state_dict(bb, "state_dict", "features.backbone", source)
            crop = cfg["ROI"].get("CROP_NET") if isinstance(cfg.get("ROI"), Mapping) else None
            if crop:
                net = _mapping(p.get("crop_net"), "features.crop_net", source)
                _state_dict(net, "state_dict", "features.crop_net", source)
                fp = _get(net, "fingerprint", "features.crop_net", source, str, "a string")
                classes = _get(net, "classes", "features.crop_net", source, list, "a list of class names")
                if not classes or not all(isinstance(c, str) for c in classes):
                    raise _err(source, "features.crop_net.classes", "expected a non-empty list of class names")
                from .features.crop_net import crop_net_identity

                if crop != crop_net_identity(fp):
                    raise _err(source, "features.config.ROI.CROP_NET", f"expected {crop_net_identity(fp)!r} (the "
                               f"stored net's identity), got {crop!r}")
            elif "crop_net" in p:
                raise _err(source, "features.crop_net", "a stored crop net, but features.config.ROI.CROP_NET is "
                           "not set")
        elif part == "spatial":
            cfg = _config(p, part, source, ("DETECTOR", "DETECTION", "LINKING"))
            _get(cfg["DETECTOR"], "NAME", "spatial.config.DETECTOR", source, str, "a detector name")
            _get(cfg["DETECTION"], "STRIDE", "spatial.config.DETECTION", source, int, "an integer")
        else:
            _config(p, part, source, ("MODEL",))
            _state_dict(p, "model", part, source)
            _text_encoder(p, part, source)
            if part == "temporal" and (mode == "two_stage" or "clip_seconds" in p):
                secs = _get(p, "clip_seconds", part, source, (int, float), "a number of seconds")
                try:
                    ok = secs > 0 and math.isfinite(secs)
                except OverflowError:  # an int too large for a float
                    ok = False
                if not ok:
                    raise _err(source, "temporal.clip_seconds", f"must be > 0 and finite, got {secs}")


def describe(data: Mapping[str, Any]) -> str:
    """A few lines saying what the model file holds."""
    f = data["features"]["config"]
    lines = [f"{FORMAT} v{data['format_version']} (project {data['version']}), mode {data['mode']}",
             f"  features: {f['BACKBONE']['NAME']} ({data['features']['backbone']['weights']} weights), "
             f"{f['INPUT']['SAMPLE_FPS']} fps"]
    det = data["spatial"]["config"]["DETECTOR"]
    tight = data["spatial"]["config"].get("TIGHTEN", {}).get("METHOD", "none")
    lines.append(f"  spatial: detector {det['NAME']}, every {data['spatial']['config']['DETECTION']['STRIDE']} "
                 "frame(s)" + (f", boxes tightened ({tight})" if tight != "none" else ""))
    for part in ("temporal", "matcher"):
        if part in data:
            p = data[part]
            n = sum(int(t.numel()) for t in p["model"].values())
            enc = p["text_encoder"]["name"] + (" (stored)" if p["text_encoder_stored"] else " (by name)")
            extra = f", clip {p['clip_seconds']:g} s" if "clip_seconds" in p else ""
            if part == "temporal" and data["mode"] == "tube_mmn":
                extra += ", tube-conditioned (one map per candidate tube)"
            lines.append(f"  {part}: {n / 1e6:.2f} M parameters stored, text encoder {enc}{extra}")
    for part, src in data.get("sources", {}).items():
        if isinstance(src, Mapping) and isinstance(src.get("path"), str) and src["path"]:
            lines.append(f"  source {part}: {src['path']}")
    return "\n".join(lines)
