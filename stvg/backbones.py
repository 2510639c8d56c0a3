"""Visual backbones from torchvision, built by name, shared by both stages.

    bb = build_backbone("resnet18", weights="IMAGENET1K_V1")   # or "DEFAULT", a local .pth, None
    fmap, vec = bb.encode_frames(frames)    # uint8[N, H, W, 3] -> float32[N, C, h, w], float32[N, C]
    bb = build_backbone("r2plus1d_18", weights=None)
    vec = bb.encode_clips(clips)            # uint8[B, L, H, W, 3] -> float32[B, D]

Two kinds:
* ``"frame"`` (2D image models: resnet18, resnet50): a feature map per frame (by default the last
  stage, stride 32; ``encode_frames(frames, stage=k)`` returns stage k's map instead, stride
  ``2 ** (k + 1)``, :meth:`BackboneSpec.stage_dim` channels: RoI pooling on an earlier stage) and
  the last stage's global average (the model's pooled vector, whatever the stage);
* ``"clip"`` (3D video models: r2plus1d_18, s3d, mvit_v2_s): one vector per clip of L frames.

``weights``: a torchvision weights name (``"IMAGENET1K_V1"``, ``"DEFAULT"`` or the full
``"ResNet18_Weights.IMAGENET1K_V1"``; torchvision downloads it into its cache on first use), a path
to a local state-dict file (torchvision's keys, with or without the classifier, optionally under
``"model"`` or ``"state_dict"``; other missing or unexpected keys are an error that lists them), or ``None``/``"none"``
for random initialisation (tests). Normalisation (mean, std) and input sizes come from the chosen
weights' own transforms; for a local file or no weights, from the model family's default weights
(ImageNet statistics for the resnets, Kinetics-400 for the video models).

Inputs are uint8 RGB on any device; the model follows the device it was moved to (``bb.to(dev)``);
encoding runs under ``torch.inference_mode`` and, on CUDA, autocast (float16) with float32 outputs.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn

__all__ = ["BackboneSpec", "Backbone", "BACKBONES", "available_backbones", "build_backbone",
           "resolve_weights", "weights_label"]


@dataclass(frozen=True)
class BackboneSpec:
    """What the registry knows about one model: its kind, feature size and minimum input."""

    name: str
    kind: str                     # "frame" or "clip"
    feature_dim: int              # pooled vector size D (= channels of the frame feature map)
    stride: int                   # spatial stride of the frame feature map (frame models)
    fixed_clip_len: Optional[int] = None  # models that only accept one clip length (mvit)
    stage_dims: Tuple[int, ...] = ()      # channels of stages 1.. of a frame model (the last = feature_dim)

    @property
    def num_stages(self) -> int:
        return len(self.stage_dims)

    def check_stage(self, stage: int) -> int:
        stage = int(stage)
        if not 1 <= stage <= self.num_stages:
            raise ValueError(f"{self.name} has feature-map stages 1 to {self.num_stages}, not {stage}"
                             if self.num_stages else f"{self.name} is a clip model: it has no feature-map stages")
        return stage

    def stage_dim(self, stage: int) -> int:
        """Channels of stage ``stage``'s feature map (1-based; ``num_stages`` is the last)."""
        return self.stage_dims[self.check_stage(stage) - 1]

    def stage_stride(self, stage: int) -> int:
        """Spatial stride of stage ``stage``'s map: 4, 8, 16, 32 for the ResNets' stages 1-4."""
        return self.stride // 2 ** (self.num_stages - self.check_stage(stage))


BACKBONES: Dict[str, BackboneSpec] = {
    s.name: s for s in (
        BackboneSpec("resnet18", "frame", 512, 32, stage_dims=(64, 128, 256, 512)),
        BackboneSpec("resnet50", "frame", 2048, 32, stage_dims=(256, 512, 1024, 2048)),
        BackboneSpec("r2plus1d_18", "clip", 512, 16),
        BackboneSpec("s3d", "clip", 1024, 32),
        BackboneSpec("mvit_v2_s", "clip", 768, 32, fixed_clip_len=16),
    )
}


def available_backbones() -> List[str]:
    return sorted(BACKBONES)


def _spec(name: str) -> BackboneSpec:
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}")
    return BACKBONES[name]


def resolve_weights(name: str, weights: Optional[str]):
    """``(weights enum or None, local path or None, preprocessing source enum)`` for ``weights``.

    Raises ``ValueError`` naming the valid weights when a name is not one of this model's.
    Never downloads anything.
    """
    from torchvision.models import get_model_weights

    enum = get_model_weights(_spec(name).name)
    if weights is None or str(weights).lower() in ("", "none", "null", "random"):
        return None, None, enum.DEFAULT
    weights = str(weights)
    short = weights.split(".", 1)[1] if weights.startswith(enum.__name__ + ".") else weights
    if short in enum.__members__:
        return enum[short], None, enum[short]
    if os.path.isfile(weights):
        return None, weights, enum.DEFAULT
    looks_like_path = os.sep in weights or weights.endswith((".pth", ".pt", ".bin", ".ckpt"))
    raise ValueError(
        f"backbone {name}: weights {weights!r} is " + (
            "not an existing file" if looks_like_path else
            f"neither a file nor one of {enum.__name__}: {', '.join(enum.__members__)}"))


def weights_label(name: str, weights: Optional[str]) -> str:
    """How a build with these weights is labelled: ``"Enum.NAME"``, the absolute file path or ``"none"``."""
    enum_weights, local, _ = resolve_weights(name, weights)
    if enum_weights is not None:
        return f"{type(enum_weights).__name__}.{enum_weights.name}"
    return os.path.abspath(local) if local is not None else "none"


def _load_local(model: nn.Module, path: str, name: str) -> None:
    """A local state-dict file into the full torchvision model (its classifier may be absent: it is
    dropped anyway); strict otherwise (:func:`stvg.checkpoint.load_state_dict`)."""
    from .checkpoint import load_state_dict, read_checkpoint, state_dict_of

    head = _HEADS[name] + "."
    load_state_dict(model, state_dict_of(read_checkpoint(path, require=(), what=f"{name} weights"), path),
                    source=f"{path} (torchvision {name})", ignore_missing=(head,))


class Backbone(nn.Module):
    """A torchvision model without its classifier, plus its preprocessing constants.

    Attributes: ``name``, ``kind`` ("frame"/"clip"), ``feature_dim`` (D), ``stride`` (frame map
    stride), ``mean``/``std`` (3 floats, for inputs in [0, 1]), ``resize_size`` and ``crop_size``
    (from the weights' transforms: a one-element list means "shorter side", two mean [h, w]),
    ``weights`` (a label: the enum name, the file path or "none").
    """

    def __init__(self, spec: BackboneSpec, model: nn.Module, preprocess_source, weights_label: str,
                 amp: bool = True) -> None:
        super().__init__()
        self.spec, self.model = spec, model
        self.name, self.kind, self.feature_dim, self.stride = spec.name, spec.kind, spec.feature_dim, spec.stride
        t = preprocess_source.transforms()
        self.mean, self.std = tuple(map(float, t.mean)), tuple(map(float, t.std))
        self.resize_size, self.crop_size = list(t.resize_size), list(t.crop_size)
        self.weights, self.amp = weights_label, amp
        self.register_buffer("_mean", torch.tensor(self.mean).view(3, 1, 1), persistent=False)
        self.register_buffer("_std", torch.tensor(self.std).view(3, 1, 1), persistent=False)
        self.eval()

    @property
    def device(self) -> torch.device:
        return self._mean.device

    def extra_repr(self) -> str:
        return f"name={self.name}, kind={self.kind}, dim={self.feature_dim}, weights={self.weights}"

    # ---- preprocessing -------------------------------------------------------------------------
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8[..., H, W, 3] -> float32[..., 3, H, W], (x / 255 - mean) / std, on the model's device."""
        x = x.to(self.device, non_blocking=True).movedim(-1, -3).float().div_(255)
        return (x - self._mean) / self._std

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16, enabled=self.amp and self.device.type == "cuda")

    # ---- forward -----------------------------------------------------------------------------
    def forward_frames(self, x: torch.Tensor, stage: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Normalised float[N, 3, H, W] -> (map of ``stage`` (None: the last) float[N, C_k, H/s_k, W/s_k],
        last stage's global average float[N, D])."""
        if self.kind != "frame":
            raise ValueError(f"{self.name} is a clip model; use encode_clips")
        want = self.spec.num_stages if stage is None else self.spec.check_stage(stage)
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        fmap = None
        for k, layer in enumerate((m.layer1, m.layer2, m.layer3, m.layer4), start=1):
            x = layer(x)
            if k == want:
                fmap = x
        return fmap, x.mean(dim=(2, 3))

    def forward_clips(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised float[B, 3, L, H, W] -> vector float[B, D]."""
        if self.kind != "clip":
            raise ValueError(f"{self.name} is a frame model; use encode_frames")
        if self.name == "s3d":  # global mean of the last features (what avgpool + mean give at 224)
            return self.model.features(x).mean(dim=(2, 3, 4))
        return self.model(x)  # r2plus1d_18 / mvit_v2_s with the classifier replaced by Identity

    @torch.inference_mode()
    def encode_frames(self, frames: torch.Tensor, stage: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """uint8[N, H, W, 3] -> (float32[N, C_k, h, w] feature map of ``stage`` (None: the last, C_k = D),
        float32[N, D] pooled vector of the last stage)."""
        x = self.normalize(frames)
        if self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with self._autocast():
            fmap, vec = self.forward_frames(x, stage)
        return fmap.float(), vec.float()

    @torch.inference_mode()
    def encode_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8[B, L, H, W, 3] -> float32[B, D]."""
        if clips.ndim != 5:
            raise ValueError(f"clips must be uint8[B, L, H, W, 3], got shape {list(clips.shape)}")
        need = self.spec.fixed_clip_len
        if need is not None and clips.shape[1] != need:
            raise ValueError(f"{self.name} takes clips of exactly {need} frames, got {clips.shape[1]}")
        x = self.normalize(clips).transpose(1, 2)  # [B, L, 3, H, W] -> [B, 3, L, H, W]
        with self._autocast():
            vec = self.forward_clips(x)
        return vec.float()


_HEADS = {"resnet18": "fc", "resnet50": "fc", "r2plus1d_18": "fc", "s3d": "classifier",
          "mvit_v2_s": "head"}  # the classifier of each model, replaced by Identity


def _strip_head(name: str, model: nn.Module) -> nn.Module:
    setattr(model, _HEADS[name], nn.Identity())
    return model


def build_backbone(name: str, weights: Optional[str] = None, device: Optional[torch.device] = None,
                   amp: bool = True, seed: int = 0) -> Backbone:
    """Build a registered backbone (see the module docstring for ``weights``), in eval mode.

    Random initialisation (``weights=None``) is seeded with ``seed`` so two builds are identical.
    """
    from torchvision.models import get_model

    spec = _spec(name)
    enum_weights, local, source = resolve_weights(name, weights)
    if enum_weights is not None:
        try:
            model = get_model(name, weights=enum_weights)  # torchvision downloads into its cache
        except (OSError, RuntimeError) as e:  # offline: urlopen errors; a truncated download
            raise OSError(f"backbone {name} with weights {weights_label(name, weights)}: cannot get the weights "
                          f"({type(e).__name__}: {e}). Offline, set BACKBONE.WEIGHTS none (random, seeded by "
                          f"BACKBONE.SEED) or a local state-dict file") from None
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = get_model(name, weights=None)
        if local is not None:
            _load_local(model, local, name)
    bb = Backbone(spec, _strip_head(name, model), source, weights_label(name, weights), amp=amp)
    for p in bb.parameters():
        p.requires_grad_(False)
    return bb.to(device) if device is not None else bb
