"""Training the crop net (:mod:`stvg.features.crop_net`) on labelled person crops.

    net, history = train_crop_net(x, y, classes, val=(xv, yv), epochs=6, seed=0)

``x`` float[N, 6, 64, 32] (float16 is fine: batches are cast), ``y`` int64[N] class indices (-1:
ignored). AdamW (weight decay 0.01), cross-entropy, a cosine learning-rate decay over the epochs,
random horizontal flips with the walking classes swapped (``flip_pairs``). After every epoch the
val accuracy (if ``val``) is logged; the weights of the epoch with the best val accuracy (the last
epoch's without ``val``) are returned.
"""
from __future__ import annotations

import copy
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .crop_net import CropNet

__all__ = ["train_crop_net", "crop_accuracy"]


@torch.inference_mode()
def crop_accuracy(net: CropNet, x: torch.Tensor, y: torch.Tensor, batch: int = 512) -> float:
    """Share of the labelled crops (``y >= 0``) whose arg-max class is ``y``."""
    net.eval()
    keep = y >= 0
    if not bool(keep.any()):
        raise ValueError("no labelled crop to score")
    pred = torch.cat([net(x[i:i + batch].float())[1].argmax(1) for i in range(0, x.shape[0], batch)])
    return float((pred[keep] == y[keep]).float().mean())


def _flip_map(classes: Sequence[str], flip_pairs: Sequence[Tuple[str, str]]) -> torch.Tensor:
    m = torch.arange(len(classes))
    for a, b in flip_pairs:
        if a in classes and b in classes:
            i, j = classes.index(a), classes.index(b)
            m[i], m[j] = j, i
    return m


def train_crop_net(x: torch.Tensor, y: torch.Tensor, classes: Sequence[str],
                   val: Optional[Tuple[torch.Tensor, torch.Tensor]] = None, epochs: int = 6, batch: int = 128,
                   lr: float = 2e-3, seed: int = 0, flip_pairs: Sequence[Tuple[str, str]] = (),
                   log: Optional[Callable[[str], None]] = None) -> Tuple[CropNet, List[Dict[str, float]]]:
    """The trained net and one record per epoch (``epoch``, ``loss``, ``val_accuracy``)."""
    if x.ndim != 4 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be [N, 6, h, w] with one label per crop, got {list(x.shape)} and {list(y.shape)}")
    if epochs < 1 or x.shape[0] == 0:
        raise ValueError(f"need at least one epoch and one crop, got {epochs} epoch(s), {x.shape[0]} crop(s)")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = CropNet(classes)
    opt = torch.optim.AdamW(net.parameters(), lr, weight_decay=1e-2)
    steps = epochs * ((x.shape[0] + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    flip = _flip_map(list(classes), flip_pairs)
    history: List[Dict[str, float]] = []
    best, best_acc = None, -1.0
    for epoch in range(1, epochs + 1):
        net.train()
        total, count = 0.0, 0
        for idx in torch.randperm(x.shape[0], generator=g).split(batch):
            xb, yb = x[idx].float(), y[idx]
            mirror = torch.rand(len(idx), generator=g) < 0.5
            if bool(mirror.any()):
                xb[mirror] = xb[mirror].flip(3)
                yb = torch.where(mirror & (yb >= 0), flip[yb.clamp(min=0)], yb)
            loss = F.cross_entropy(net(xb)[1], yb, ignore_index=-1)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total, count = total + float(loss.detach()) * len(idx), count + len(idx)
        rec = {"epoch": epoch, "loss": total / count}
        if val is not None:
            rec["val_accuracy"] = crop_accuracy(net, *val)
        history.append(rec)
        if log is not None:
            log(f"crop net epoch {epoch}/{epochs}: loss {rec['loss']:.4f}"
                + (f", val accuracy {rec['val_accuracy']:.3f}" if val is not None else ""))
        acc = rec.get("val_accuracy", float(epoch))
        if acc > best_acc:
            best_acc, best = acc, copy.deepcopy(net.state_dict())
    net.load_state_dict(best)
    return net.eval(), history
