"""detectron2 detectors (the HC-STVG community's choice), COCO person class only.

``config``: a model-zoo name (``"COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml"``) or a config file.
``weights``: a path or URL as detectron2's checkpointer accepts (``detectron2://...``,
``https://...``, a local ``.pkl``/``.pth``); ``"model_zoo"`` takes the zoo's trained weights for a
zoo config; ``None`` (or ``"none"``): random weights (plumbing tests). Inputs are resized like detectron2's
``DefaultPredictor`` (``INPUT.MIN_SIZE_TEST``/``MAX_SIZE_TEST``) and fed in batches; boxes come
back in frame pixels (``min_size``/``max_size`` override the config's test sizes). COCO person = contiguous class 0.

detectron2 is optional: without it, building this backend raises ``ImportError`` saying how to
install it.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from stvg.engine import resolve_device

from .base import PersonDetector

__all__ = ["Detectron2Detector", "INSTALL_HINT"]

PERSON = 0
INSTALL_HINT = ("the 'detectron2' detector needs detectron2, which is not installed. Install it the "
                "official way (https://detectron2.readthedocs.io/en/latest/tutorials/install.html, e.g. "
                "pip install 'git+https://github.com/facebookresearch/detectron2.git'), or for "
                "development without a compiler run tools/setup_detectron2.sh")


def _import_detectron2():
    try:
        import detectron2  # noqa: F401
        from detectron2 import model_zoo
        from detectron2.checkpoint import DetectionCheckpointer
        from detectron2.config import get_cfg
        from detectron2.data import transforms as T
        from detectron2.modeling import build_model
    except ImportError as e:
        raise ImportError(f"{INSTALL_HINT} ({e})") from None
    return model_zoo, DetectionCheckpointer, get_cfg, T, build_model


class Detectron2Detector(PersonDetector):
    name = "detectron2"

    def __init__(self, config: str = "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml",
                 weights: Optional[str] = "model_zoo", score_threshold: float = 0.5, top_k: int = 100,
                 batch_size: int = 4, min_size: Optional[int] = None, max_size: Optional[int] = None,
                 device: Any = None) -> None:
        super().__init__(score_threshold, top_k, batch_size)
        model_zoo, Checkpointer, get_cfg, T, build_model = _import_detectron2()
        if isinstance(weights, str) and weights.strip().lower() in ("none", "null", "random"):
            weights = None
        self.config, self.device = config, resolve_device(device)
        cfg = get_cfg()
        if os.path.isfile(config):
            cfg.merge_from_file(config)
            if weights == "model_zoo":
                raise ValueError(f"detectron2: weights 'model_zoo' needs a model-zoo config name, "
                                 f"not the file {config}; give a weights path or URL")
        else:
            try:
                cfg.merge_from_file(model_zoo.get_config_file(config))
            except RuntimeError:
                raise FileNotFoundError(f"detectron2: {config!r} is neither a file nor a model-zoo "
                                        f"config name") from None
            if weights == "model_zoo":
                weights = model_zoo.get_checkpoint_url(config)
        self.weights = weights
        if min_size:
            cfg.INPUT.MIN_SIZE_TEST = int(min_size)
        if max_size:
            cfg.INPUT.MAX_SIZE_TEST = int(max_size)
        cfg.MODEL.DEVICE = str(self.device)
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = min(0.05, self.score_threshold)
        cfg.MODEL.RETINANET.SCORE_THRESH_TEST = min(0.05, self.score_threshold)
        cfg.freeze()
        self.cfg = cfg
        self.net = build_model(cfg).eval()
        if weights:
            Checkpointer(self.net).load(weights)
        self._resize = T.ResizeShortestEdge([cfg.INPUT.MIN_SIZE_TEST] * 2, cfg.INPUT.MAX_SIZE_TEST)
        self._bgr = cfg.INPUT.FORMAT == "BGR"

    def setting(self) -> Dict[str, Any]:
        s = super().setting()
        w, c = self.weights, self.config
        if isinstance(w, str) and os.path.isfile(w):  # a local file: its identity, not just its name
            st = os.stat(w)
            w = {"file": os.path.abspath(w), "size": st.st_size, "mtime": int(st.st_mtime)}
        if os.path.isfile(c):
            c = {"file": os.path.abspath(c), "mtime": int(os.stat(c).st_mtime)}
        s.update(config=c, weights=w, min_size=self.cfg.INPUT.MIN_SIZE_TEST,
                 max_size=self.cfg.INPUT.MAX_SIZE_TEST)
        return s

    @torch.inference_mode()
    def _detect_batch(self, frames: np.ndarray, frame_indices: List[int],
                      video_id: Optional[str]) -> List[Tuple[np.ndarray, np.ndarray]]:
        inputs = []
        for f in frames:
            img = f[:, :, ::-1] if self._bgr else f
            resized = self._resize.get_transform(img).apply_image(img)
            tensor = torch.from_numpy(np.array(resized.transpose(2, 0, 1), dtype=np.float32))
            inputs.append({"image": tensor.to(self.device), "height": f.shape[0], "width": f.shape[1]})
        out = []
        for r in self.net(inputs):
            inst = r["instances"]
            person = inst.pred_classes == PERSON
            out.append((inst.pred_boxes.tensor[person].float().cpu().numpy(),
                        inst.scores[person].float().cpu().numpy()))
        return out
