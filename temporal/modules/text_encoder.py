"""Sentence encoder: any transformers encoder, mean-pooled, LayerNorm, two linear heads (MMN step 4)."""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

import torch
from torch import nn


def _overrides(model_cfg) -> dict:
    extra = model_cfg.get("TEXT_CONFIG_OVERRIDES") if hasattr(model_cfg, "get") else None
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise ValueError(f"MODEL.TEXT_CONFIG_OVERRIDES must be a mapping or null, got {type(extra).__name__} {extra!r}")
    return dict(extra)


def build_text_backbone(model_cfg) -> nn.Module:
    """The transformers encoder named by the config.

    ``TEXT_ENCODER_PRETRAINED`` True: ``AutoModel.from_pretrained(TEXT_ENCODER)`` (hub name or local
    directory; ``TEXT_CONFIG_OVERRIDES`` passed as config attributes). False: the architecture
    ``TEXT_ENCODER_ARCH`` built from the library-default config with ``TEXT_CONFIG_OVERRIDES`` applied,
    randomly initialised (no download; weights then come from a checkpoint).
    """
    from transformers import AutoConfig, AutoModel

    extra = _overrides(model_cfg)
    if model_cfg.TEXT_ENCODER_PRETRAINED:
        name = model_cfg.TEXT_ENCODER
        try:
            return AutoModel.from_pretrained(name, **extra)
        except (OSError, ValueError) as e:
            raise OSError(f"cannot load text encoder MODEL.TEXT_ENCODER={name!r} (hub name or local directory): {e}. "
                          f"Offline, set MODEL.TEXT_ENCODER to a local directory, or MODEL.TEXT_ENCODER_PRETRAINED "
                          f"False to build {model_cfg.TEXT_ENCODER_ARCH!r} with random weights") from e
    arch = model_cfg.TEXT_ENCODER_ARCH
    try:
        config = AutoConfig.for_model(arch, **extra)
    except ValueError as e:
        raise ValueError(f"MODEL.TEXT_ENCODER_ARCH={arch!r} is not a transformers model_type: {e}") from e
    return AutoModel.from_config(config)


def build_tokenizer(model_cfg):
    """The tokenizer of ``MODEL.TOKENIZER`` (hub name or local directory), or of ``MODEL.TEXT_ENCODER``
    when TOKENIZER is empty."""
    from transformers import AutoTokenizer

    name = model_cfg.TOKENIZER or model_cfg.TEXT_ENCODER
    try:
        return AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise OSError(f"cannot load tokenizer {name!r} (MODEL.TOKENIZER, or MODEL.TEXT_ENCODER when TOKENIZER is "
                      f"empty): {e}. Offline, point MODEL.TOKENIZER to a local directory with the vocabulary") from e


class TextEncoder(nn.Module):
    """``(input_ids: LongTensor[S, L], attention_mask: LongTensor[S, L]) -> (con: Tensor[S, J], iou: Tensor[S, J])``.

    Token states of the encoder are averaged over the real tokens (attention_mask == 1, [CLS] and
    [SEP] included), passed through LayerNorm(hidden), then two Linear(hidden -> J) heads:
    ``head_iou`` and ``head_con``. ``encoder`` is the transformers model (see :func:`build_text_backbone`).
    """

    def __init__(self, model_cfg, encoder: Optional[nn.Module] = None):
        super().__init__()
        self.encoder = encoder if encoder is not None else build_text_backbone(model_cfg)
        hidden = int(self.encoder.config.hidden_size)
        joint = int(model_cfg.JOINT_DIM)
        self.norm = nn.LayerNorm(hidden)
        self.head_iou = nn.Linear(hidden, joint)
        self.head_con = nn.Linear(hidden, joint)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        if input_ids.dim() != 2 or attention_mask.shape != input_ids.shape:
            raise ValueError(f"input_ids and attention_mask must both be [S, L], got {tuple(input_ids.shape)} "
                             f"and {tuple(attention_mask.shape)}")
        lengths = attention_mask.sum(dim=1)
        if bool((lengths == 0).any()):
            bad = torch.nonzero(lengths == 0).flatten().tolist()
            raise ValueError(f"sentences {bad} have no tokens (empty attention mask)")
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]  # [S, L, hidden]
        weights = attention_mask.to(states.dtype)
        pooled = (states * weights[..., None]).sum(dim=1) / lengths.to(states.dtype)[:, None]
        pooled = self.norm(pooled)
        return self.head_con(pooled), self.head_iou(pooled)
