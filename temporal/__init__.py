"""The temporal stage (MMN). ``st_iou_map``: spatio-temporal IoU targets of a tube's moment map."""
from .st_iou import st_iou_map

__all__ = ["st_iou_map"]
