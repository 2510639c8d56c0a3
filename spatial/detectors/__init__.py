"""Person detectors behind one interface (:class:`PersonDetector`) and a registry.

    det = build_detector("hog", upscale=2.0)                 # OpenCV HOG, offline (default)
    det = build_detector("torchvision", model="fasterrcnn_resnet50_fpn_v2", weights="DEFAULT")
    det = build_detector("detectron2", config="COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml")
    det = build_detector("precomputed", cache_dir="cache/hog-0123abcd")
    dets = det(frames_uint8_THW3, frame_indices)              # -> list[Detections], one per frame

Backends are imported lazily, so an optional dependency (detectron2) is only needed when chosen.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Any, Dict, Tuple

from .base import PersonDetector, finalize_frame

__all__ = ["PersonDetector", "finalize_frame", "build_detector", "DETECTORS", "DEFAULT_DETECTOR"]

DEFAULT_DETECTOR = "hog"
DETECTORS: Dict[str, Tuple[str, str]] = {
    "hog": ("spatial.detectors.hog", "HOGDetector"),
    "torchvision": ("spatial.detectors.torchvision_backend", "TorchvisionDetector"),
    "detectron2": ("spatial.detectors.detectron2_backend", "Detectron2Detector"),
    "precomputed": ("spatial.detectors.precomputed", "PrecomputedDetector"),
}


def build_detector(name: str = DEFAULT_DETECTOR, **opts: Any) -> PersonDetector:
    """Build a registered detector by name with its keyword options (unknown options raise
    ``TypeError`` naming them)."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of {sorted(DETECTORS)}")
    module, cls = DETECTORS[name]
    klass = getattr(importlib.import_module(module), cls)
    accepted = inspect.signature(klass.__init__).parameters
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise TypeError(f"detector {name!r}: unexpected option(s) {', '.join(unknown)}; it takes "
                        f"{', '.join(k for k in accepted if k != 'self')}")
    return klass(**opts)
