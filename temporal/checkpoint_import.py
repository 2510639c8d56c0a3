"""Import checkpoints saved by the reference MMN implementation, and strict weight loading.

A reference checkpoint is a torch file holding ``{"model": state_dict}`` (keys possibly prefixed
by ``module.`` when saved from DistributedDataParallel). Its keys map onto ours as follows:

=========================================  =========================================
reference                                  ours (:class:`temporal.model.MMN`)
=========================================  =========================================
``featpool.conv.*``                        ``featpool.conv.*``
``proposal_conv.convs.{i}.*``              ``proposal_conv.layers.{i}.conv.*``
``proposal_conv.bn.{i}.*``                 ``proposal_conv.layers.{i}.bn.*``
``proposal_conv.conv1x1_iou.*``            ``proposal_conv.proj_iou.*``
``proposal_conv.conv1x1_contrastive.*``    ``proposal_conv.proj_con.*``
``text_encoder.bert.*`` (DistilBERT)       ``text_encoder.encoder.*``
``text_encoder.layernorm.*``               ``text_encoder.norm.*``
``text_encoder.fc_out1.*`` (IoU head)      ``text_encoder.head_iou.*``
``text_encoder.fc_out2.*`` (contrastive)   ``text_encoder.head_con.*``
=========================================  =========================================

Loading is strict (:func:`stvg.checkpoint.load_state_dict`): missing keys, unexpected keys and
shape mismatches are all reported, and any of them raises
:class:`stvg.checkpoint.CheckpointMismatchError`; :func:`mmn_config_hint` names the config keys
that most likely differ. Checkpoint keys that land on a non-persistent buffer of ours (e.g.
DistilBERT's ``embeddings.position_ids`` saved by older transformers) are ignored and reported.
"""
from __future__ import annotations

import re
from typing import Dict, List, Mapping, Tuple

import torch

from stvg.checkpoint import CheckpointMismatchError, LoadReport, load_state_dict, read_checkpoint, state_dict_of

__all__ = ["REFERENCE_KEY_RULES", "convert_reference_state_dict",
           "mmn_config_hint", "read_reference_checkpoint", "build_model_from_reference",
           "convert_reference_checkpoint", "OFFLINE_TEXT_OVERRIDES"]

REFERENCE_KEY_RULES: List[Tuple[str, str]] = [
    (r"^featpool\.conv\.(.+)$", r"featpool.conv.\1"),
    (r"^proposal_conv\.convs\.(\d+)\.(.+)$", r"proposal_conv.layers.\1.conv.\2"),
    (r"^proposal_conv\.bn\.(\d+)\.(.+)$", r"proposal_conv.layers.\1.bn.\2"),
    (r"^proposal_conv\.conv1x1_iou\.(.+)$", r"proposal_conv.proj_iou.\1"),
    (r"^proposal_conv\.conv1x1_contrastive\.(.+)$", r"proposal_conv.proj_con.\1"),
    (r"^text_encoder\.bert\.(.+)$", r"text_encoder.encoder.\1"),
    (r"^text_encoder\.layernorm\.(.+)$", r"text_encoder.norm.\1"),
    (r"^text_encoder\.fc_out1\.(.+)$", r"text_encoder.head_iou.\1"),
    (r"^text_encoder\.fc_out2\.(.+)$", r"text_encoder.head_con.\1"),
]

# Which config keys shape each group of our parameters (for error messages).
_CONFIG_HINTS = [
    ("featpool.", "MODEL.FEAT_DIM / MODEL.HIDDEN"),
    ("proposal_conv.layers.", "MODEL.HIDDEN / MODEL.CONV_KERNEL / MODEL.CONV_LAYERS"),
    ("proposal_conv.proj_", "MODEL.HIDDEN / MODEL.JOINT_DIM"),
    ("text_encoder.encoder.", "MODEL.TEXT_ENCODER_ARCH / MODEL.TEXT_CONFIG_OVERRIDES (or MODEL.TEXT_ENCODER)"),
    ("text_encoder.", "MODEL.JOINT_DIM / the text encoder's hidden size"),
]

# The reference's text encoder is distilbert-base-uncased: the library-default DistilBERT config.
OFFLINE_TEXT_OVERRIDES = ["MODEL.TEXT_ENCODER_PRETRAINED", "False", "MODEL.TEXT_ENCODER_ARCH", "distilbert"]


def mmn_config_hint(keys) -> str:
    """Which MMN config keys most likely shape ``keys`` (for :func:`stvg.checkpoint.load_state_dict`)."""
    hints = []
    for key in keys:
        for prefix, hint in _CONFIG_HINTS:
            if key.startswith(prefix):
                if hint not in hints:
                    hints.append(hint)
                break
    return f" (check {'; '.join(hints)})" if hints else ""


def convert_reference_state_dict(ref_sd: Mapping[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Rename reference keys to ours. Returns ``(state_dict, unknown_reference_keys)``."""
    out: Dict[str, torch.Tensor] = {}
    unknown: List[str] = []
    for key, value in ref_sd.items():
        name = key[len("module."):] if key.startswith("module.") else key
        for pattern, repl in REFERENCE_KEY_RULES:
            if re.match(pattern, name):
                out[re.sub(pattern, repl, name)] = value
                break
        else:
            unknown.append(key)
    return out, unknown


def read_reference_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """The reference state_dict from a torch file ``{"model": state_dict}`` (a bare state_dict is accepted)."""
    return state_dict_of(read_checkpoint(path, require=(), what="reference MMN checkpoint"), path, ("model",))


def build_model_from_reference(path: str, model_cfg):
    """Build :class:`temporal.model.MMN` from ``model_cfg`` and load the reference checkpoint at ``path``.

    Returns ``(model, report)``. Raises :class:`CheckpointMismatchError` when the checkpoint holds keys
    we cannot map or does not fit the config.
    """
    from .model import MMN

    ref_sd = read_reference_checkpoint(path)
    sd, unknown = convert_reference_state_dict(ref_sd)
    model = MMN(model_cfg)
    if unknown:
        raise CheckpointMismatchError(f"{path}: {len(unknown)} key(s) not in the reference MMN layout: "
                                      f"{', '.join(unknown[:10])}")
    report = load_state_dict(model, sd, source=path, hint=mmn_config_hint)
    return model, report


def convert_reference_checkpoint(src: str, cfg, out: str) -> LoadReport:
    """Convert the reference checkpoint ``src`` for the temporal config ``cfg`` and write ours to ``out``
    (atomically): ``{"model": our state_dict, "config": cfg as a dict, "converted_from": src}``.

    The model is built from ``cfg.MODEL`` as given. To work offline, build ``cfg`` with
    ``OFFLINE_TEXT_OVERRIDES`` (TEXT_ENCODER_PRETRAINED False, library-default DistilBERT, random init,
    weights then loaded from the checkpoint), as ``tools/convert_mmn_checkpoint.py`` does; the written
    config then rebuilds the same architecture offline.
    """
    from stvg.io import atomic_torch_save

    model, report = build_model_from_reference(src, cfg.MODEL)
    atomic_torch_save({"model": model.state_dict(), "config": cfg.to_dict(), "converted_from": str(src)}, out)
    return report
