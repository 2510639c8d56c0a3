"""torchvision detection models (COCO-trained), person class only.

``model``: one of :data:`MODELS`. ``weights``:
* a torchvision weights name, e.g. ``"DEFAULT"`` or ``"FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1"``
  (torchvision downloads it once into its cache: the real loading path);
* a local file holding a ``state_dict`` (or a dict with ``"model"``/``"state_dict"``), loaded
  strictly: missing or unexpected keys raise and are listed;
* ``None`` (or the string ``"none"``): random weights (tests, plumbing).
Runs on ``device`` (default: CUDA when available); inputs and outputs follow it, results come back
on the CPU. COCO person = label 1 in torchvision's 91-class numbering.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from stvg.checkpoint import load_state_dict, read_checkpoint, state_dict_of
from stvg.engine import resolve_device

from .base import PersonDetector

__all__ = ["TorchvisionDetector", "MODELS", "COCO_PERSON"]

COCO_PERSON = 1
MODELS = (
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "retinanet_resnet50_fpn_v2",
    "fcos_resnet50_fpn",
)


class TorchvisionDetector(PersonDetector):
    name = "torchvision"

    def __init__(self, model: str = "fasterrcnn_resnet50_fpn_v2", weights: Optional[str] = "DEFAULT",
                 score_threshold: float = 0.5, top_k: int = 100, batch_size: int = 4,
                 min_size: int = 800, max_size: int = 1333, device: Any = None) -> None:
        super().__init__(score_threshold, top_k, batch_size)
        import torchvision

        if isinstance(weights, str) and weights.strip().lower() in ("", "none", "null", "random"):
            weights = None

        if model not in MODELS:
            raise ValueError(f"torchvision detector: unknown model {model!r}; choose one of {list(MODELS)}")
        self.model_name, self.weights = model, weights
        self.min_size, self.max_size = int(min_size), int(max_size)
        self.device = resolve_device(device)
        builder = torchvision.models.get_model_builder(model)
        # box_score_thresh (Faster R-CNN) / score_thresh (RetinaNet, FCOS): keep low scores, we threshold.
        kw: Dict[str, Any] = {"min_size": self.min_size, "max_size": self.max_size}
        kw["box_score_thresh" if model.startswith("fasterrcnn") else "score_thresh"] = \
            min(0.05, self.score_threshold)
        if weights is None or (isinstance(weights, str) and os.path.isfile(weights)):
            net = builder(weights=None, weights_backbone=None, num_classes=91, **kw)
            if weights is not None:
                load_state_dict(net, state_dict_of(read_checkpoint(weights, require=(), what="detector weights"), weights),
                                source=f"{weights} ({model})")
        elif isinstance(weights, str) and (weights.endswith((".pth", ".pt")) or os.sep in weights):
            raise FileNotFoundError(f"torchvision detector: weights file not found: {weights}")
        else:
            net = builder(weights=weights, weights_backbone=None, **kw)
        self.net = net.eval().to(self.device)

    def setting(self) -> Dict[str, Any]:
        s = super().setting()
        w = self.weights
        if isinstance(w, str) and os.path.isfile(w):
            st = os.stat(w)
            w = {"file": os.path.abspath(w), "size": st.st_size, "mtime": int(st.st_mtime)}
        import torchvision
        s.update(model=self.model_name, weights=w, min_size=self.min_size, max_size=self.max_size,
                 torchvision=torchvision.__version__)  # "DEFAULT" may name other weights in another release
        return s

    @torch.inference_mode()
    def _detect_batch(self, frames: np.ndarray, frame_indices: List[int],
                      video_id: Optional[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        images = list(x.permute(0, 3, 1, 2).float().div_(255.0))
        out = []
        for r in self.net(images):
            person = r["labels"] == COCO_PERSON
            out.append((r["boxes"][person].float().cpu().numpy(), r["scores"][person].float().cpu().numpy()))
        return out
