"""MMN's own sentence head (step 4): LayerNorm + two linear heads over the shared pooled encoder.

The transformers encoder, its tokenizer and masked mean pooling live in :mod:`stvg.text`; this module
only maps the temporal config's ``MODEL`` keys onto them and adds what is MMN's.
"""
from __future__ import annotations

from typing import Mapping, Optional, Tuple

import torch
from torch import nn

from stvg import text

__all__ = ["TextEncoder", "build_text_backbone", "build_tokenizer"]


def _overrides(model_cfg) -> dict:
    extra = model_cfg.TEXT_CONFIG_OVERRIDES
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise ValueError(f"MODEL.TEXT_CONFIG_OVERRIDES must be a mapping or null, got {type(extra).__name__} {extra!r}")
    return dict(extra)


def build_text_backbone(model_cfg) -> nn.Module:
    """The transformers encoder of ``MODEL.TEXT_ENCODER`` (``TEXT_ENCODER_PRETRAINED`` True) or the
    randomly initialised architecture ``MODEL.TEXT_ENCODER_ARCH`` (False); see
    :func:`stvg.text.build_text_encoder`. ``TEXT_CONFIG_OVERRIDES`` are config attributes."""
    return text.build_text_encoder(model_cfg.TEXT_ENCODER, bool(model_cfg.TEXT_ENCODER_PRETRAINED),
                                   model_cfg.TEXT_ENCODER_ARCH, _overrides(model_cfg), key="MODEL.TEXT_ENCODER",
                                   arch_key="MODEL.TEXT_ENCODER_ARCH")


def build_tokenizer(model_cfg):
    """The tokenizer of ``MODEL.TOKENIZER``, or of ``MODEL.TEXT_ENCODER`` when TOKENIZER is empty."""
    if model_cfg.TOKENIZER:
        return text.build_tokenizer(model_cfg.TOKENIZER, key="MODEL.TOKENIZER")
    return text.build_tokenizer(model_cfg.TEXT_ENCODER, key="MODEL.TOKENIZER (empty: MODEL.TEXT_ENCODER)")


class TextEncoder(nn.Module):
    """``(input_ids: LongTensor[S, L], attention_mask: LongTensor[S, L]) -> (con: Tensor[S, J], iou: Tensor[S, J])``.

    Token states of the encoder are averaged over the real tokens (attention_mask == 1, [CLS] and
    [SEP] included; :func:`stvg.text.masked_mean`), passed through LayerNorm(hidden), then two
    Linear(hidden -> J) heads: ``head_iou`` and ``head_con``. ``encoder`` is the transformers model.
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
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]  # [S, L, hidden]
        pooled = self.norm(text.masked_mean(states, attention_mask))
        return self.head_con(pooled), self.head_iou(pooled)
