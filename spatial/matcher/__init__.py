"""The cross-modal tube matcher: ranks a video's person tubes against a sentence (docs/matcher.md).

    cfg = load_matcher_config("configs/spatial/matcher_synthetic.yaml")
    model = build_matcher(cfg)                       # or load_matcher("runs/matcher/best.pth")
    scores = model.score(tubes, roi, ["the man in red walks left"], frame_indices, w, h,
                         window=(40, 90), num_frames=200)           # Tensor[Q, N], higher = better
"""
from .defaults import MATCHER_DEFAULTS, load_matcher_config
from .geometry import GEOMETRY_DIM, GEOMETRY_NAMES, tube_geometry, tube_layout, window_mask
from .model import TubeMatcher, build_matcher, load_matcher

__all__ = ["TubeMatcher", "MATCHER_DEFAULTS", "load_matcher_config", "build_matcher", "load_matcher",
           "tube_geometry", "tube_layout", "window_mask", "GEOMETRY_DIM", "GEOMETRY_NAMES"]
