"""Build a detector from the ``DETECTOR`` section of a spatial config (:data:`spatial.defaults.SPATIAL_DEFAULTS`).

Common keys: ``SCORE_THRESHOLD`` and ``BATCH_SIZE`` null keep the backend's default (HOG: SVM margin
0.0; the CNNs: 0.5); ``TOP_K``; ``DEVICE`` (``auto``: CUDA when available). Only the chosen backend's
section is read:

* ``HOG``: UPSCALE, WIN_STRIDE, PADDING, SCALE, GROUP_THRESHOLD, MARGINS, NMS_IOU;
* ``TORCHVISION``: MODEL, WEIGHTS (torchvision name, local file, null = random), MIN_SIZE, MAX_SIZE;
* ``DETECTRON2``: CONFIG, WEIGHTS ("" = the model zoo's, path/URL, null = random), MIN_SIZE/MAX_SIZE
  (0 = the detectron2 config's);
* ``PRECOMPUTED``: COCO_RESULTS + COCO_IMAGES, or CACHE_DIR; CATEGORY_ID; FRAME_BASE.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

from . import PersonDetector, build_detector

__all__ = ["detector_options", "detector_from_config"]


def detector_options(det: Mapping) -> Tuple[str, Dict[str, Any]]:
    """``DETECTOR`` section -> ``(name, keyword options)`` for :func:`build_detector`."""
    name = det["NAME"]
    opts: Dict[str, Any] = {"top_k": int(det["TOP_K"])}
    if det.get("SCORE_THRESHOLD") is not None:
        opts["score_threshold"] = float(det["SCORE_THRESHOLD"])
    if det.get("BATCH_SIZE") is not None:
        opts["batch_size"] = int(det["BATCH_SIZE"])
    if name == "hog":
        s = det["HOG"]
        opts.update(upscale=float(s["UPSCALE"]), win_stride=int(s["WIN_STRIDE"]), padding=int(s["PADDING"]),
                    scale=float(s["SCALE"]), group_threshold=float(s["GROUP_THRESHOLD"]),
                    margins=list(s["MARGINS"]), nms_iou=float(s["NMS_IOU"]))
    elif name == "torchvision":
        s = det["TORCHVISION"]
        opts.update(model=s["MODEL"], weights=s["WEIGHTS"], min_size=int(s["MIN_SIZE"]),
                    max_size=int(s["MAX_SIZE"]), device=det.get("DEVICE") or "auto")
    elif name == "detectron2":
        s = det["DETECTRON2"]
        w = s["WEIGHTS"]
        opts.update(config=s["CONFIG"], weights="model_zoo" if w == "" else w,
                    min_size=int(s["MIN_SIZE"]) or None, max_size=int(s["MAX_SIZE"]) or None,
                    device=det.get("DEVICE") or "auto")
    elif name == "precomputed":
        s = det["PRECOMPUTED"]
        opts.update(coco_results=s["COCO_RESULTS"] or None, coco_images=s["COCO_IMAGES"] or None,
                    cache_dir=s["CACHE_DIR"] or None, person_category=int(s["CATEGORY_ID"]),
                    frame_base=int(s["FRAME_BASE"]))
    return name, opts  # an unknown name is reported by build_detector


def detector_from_config(det: Mapping) -> PersonDetector:
    """The detector configured by a ``DETECTOR`` section."""
    name, opts = detector_options(det)
    return build_detector(name, **opts)
