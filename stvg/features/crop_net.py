"""A small CNN on person crops: a trained RoI source that sees pose and motion (``ROI.CROP_NET``).

    net = load_crop_net("crop_net.pth")                       # checked, eval mode
    x = person_crops(frames, pos, boxes)                      # float32[n, 6, 64, 32]
    embed, logits = net(x)                                    # float32[n, EMBED_DIM], [n, len(net.classes)]

Input per box: the box cut from its sampled frame and from the sampled frame before it
(``torchvision.ops.roi_align`` to ``CROP_SIZE``, RGB in [0, 1]): the crop and the difference of the
two (6 channels), so that the net sees the person's pose and how it changes. Net: four stride-2
conv/BatchNorm/ReLU blocks (32, 64, 64, 128 channels), global average, ``Linear -> EMBED_DIM``,
ReLU (the embedding appended to each RoI row, :class:`stvg.features.extractor.FeatureExtractor`),
``Linear -> classes`` (the training labels; :mod:`stvg.features.crop_train`).

File (``torch.save``; read with ``weights_only=True``)::

    format        "stvg-crop-net"
    classes       list of class names (the logits' order)
    state_dict    the net's weights
    fingerprint   :func:`stvg.model_file.state_dict_fingerprint` of ``state_dict``
    meta          what trained it (free-form: data, seed, epochs, accuracy)

A features config names such a file in ``ROI.CROP_NET``; what the features depend on is its
:func:`crop_net_identity` (the fingerprint), not its path.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["CROP_SIZE", "EMBED_DIM", "CropNet", "person_crops", "save_crop_net", "load_crop_net",
           "crop_net_from_record", "crop_net_record", "crop_net_identity", "file_identity", "CROP_NET_FORMAT",
           "IDENTITY_PREFIX"]

CROP_SIZE = (64, 32)     # (h, w) of a person crop
EMBED_DIM = 64           # width of the embedding appended to the RoI features
CROP_NET_FORMAT = "stvg-crop-net"
IDENTITY_PREFIX = "crop-net "


class CropNet(nn.Module):
    """``float[n, 6, 64, 32] -> (float[n, EMBED_DIM] embedding, float[n, C] logits)``."""

    def __init__(self, classes: Sequence[str]) -> None:
        super().__init__()
        if not classes:
            raise ValueError("a crop net needs at least one class")
        self.classes = [str(c) for c in classes]

        def block(i: int, o: int) -> nn.Module:
            return nn.Sequential(nn.Conv2d(i, o, 3, 2, 1), nn.BatchNorm2d(o), nn.ReLU())

        self.body = nn.Sequential(block(6, 32), block(32, 64), block(64, 64), block(64, 128),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, EMBED_DIM), nn.ReLU())
        self.head = nn.Linear(EMBED_DIM, len(self.classes))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        embed = self.body(x)
        return embed, self.head(embed)

    @torch.inference_mode()
    def embed(self, x: torch.Tensor, batch: int = 512) -> torch.Tensor:
        """``float[n, 6, h, w] -> float32[n, EMBED_DIM]`` in batches (eval mode, no gradients)."""
        was = self.training
        self.eval()
        try:
            out = [self.body(x[i:i + batch].float()) for i in range(0, x.shape[0], batch)]
        finally:
            self.train(was)
        return torch.cat(out) if out else x.new_zeros((0, EMBED_DIM), dtype=torch.float32)


def person_crops(frames: torch.Tensor, pos: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Crops of ``boxes float[n, 4]`` (x1, y1, x2, y2 in the pixels of ``frames``) on the sampled
    frames ``pos int64[n]`` of ``frames uint8[K, h, w, 3]``: ``float32[n, 6, *CROP_SIZE]``, the
    crop on frame ``pos`` and its difference to the same box on frame ``max(pos - 1, 0)``."""
    from torchvision.ops import roi_align

    n = int(pos.shape[0])
    if n == 0:
        return torch.zeros((0, 6) + CROP_SIZE)
    pos = pos.long()
    if int(pos.min()) < 0 or int(pos.max()) >= frames.shape[0]:
        raise ValueError(f"crop positions must lie in [0, {frames.shape[0]}), got {int(pos.min())}..{int(pos.max())}")
    need, inv = torch.unique(torch.cat([pos, (pos - 1).clamp(min=0)]), return_inverse=True)
    img = frames[need].permute(0, 3, 1, 2).float().div_(255)                     # [U, 3, h, w]
    b = boxes.float()
    now = roi_align(img, torch.cat([inv[:n].float()[:, None], b], 1), CROP_SIZE, aligned=True)
    before = roi_align(img, torch.cat([inv[n:].float()[:, None], b], 1), CROP_SIZE, aligned=True)
    return torch.cat([now, now - before], 1)


def crop_net_record(net: CropNet, meta: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The file layout (module docstring) of ``net``."""
    from ..model_file import state_dict_fingerprint

    state = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    return {"format": CROP_NET_FORMAT, "classes": list(net.classes), "state_dict": state,
            "fingerprint": state_dict_fingerprint(state), "meta": dict(meta or {})}


def save_crop_net(path: str, net: CropNet, meta: Optional[Mapping[str, Any]] = None) -> None:
    """Write ``net`` atomically (module docstring)."""
    from ..io import atomic_torch_save

    atomic_torch_save(crop_net_record(net, meta), path)


def crop_net_from_record(rec: Mapping[str, Any], source: str) -> CropNet:
    """A :class:`CropNet` (eval mode) from a record (module docstring); every field checked, errors
    name ``source``."""
    from ..checkpoint import CheckpointError, load_state_dict
    from ..model_file import state_dict_fingerprint

    if rec.get("format") != CROP_NET_FORMAT:
        raise CheckpointError(f"{source}: not a crop net (format {rec.get('format')!r}, expected {CROP_NET_FORMAT!r})")
    classes, state = rec.get("classes"), rec.get("state_dict")
    if not isinstance(classes, (list, tuple)) or not classes or not all(isinstance(c, str) for c in classes):
        raise CheckpointError(f"{source}: classes: expected a non-empty list of names, got {classes!r}")
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: state_dict: expected a mapping of tensors")
    got = state_dict_fingerprint(state)
    if got != rec.get("fingerprint"):
        raise CheckpointError(f"{source}: the weights' fingerprint is {got}, not the recorded "
                              f"{rec.get('fingerprint')!r} (the file was altered or cut short)")
    net = CropNet(classes)
    load_state_dict(net, state, source=f"{source}: state_dict")
    return net.eval()


def load_crop_net(path: str) -> CropNet:
    """Read a crop-net file (``weights_only=True``), checked; raises naming ``path``."""
    from ..checkpoint import read_checkpoint

    return crop_net_from_record(read_checkpoint(os.fspath(path), require=("format",), what="crop net"), path)


def crop_net_identity(fingerprint: str) -> str:
    """What the features record for a crop net: ``"crop-net <fingerprint>"`` (not its path)."""
    return f"{IDENTITY_PREFIX}{fingerprint}"


def file_identity(value: str) -> str:
    """:func:`crop_net_identity` of the net ``value`` names: a crop-net file (read and checked), or
    already an identity (a model file's features config), returned as it is."""
    if value.startswith(IDENTITY_PREFIX):
        return value
    return crop_net_identity(state_dict_fingerprint_of(load_crop_net(value)))


def state_dict_fingerprint_of(net: CropNet) -> str:
    from ..model_file import state_dict_fingerprint

    return state_dict_fingerprint(net.state_dict())
