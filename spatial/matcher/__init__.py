"""The cross-modal tube matcher: ranks a video's person tubes against a sentence (docs/matcher.md).

    cfg = load_matcher_config("configs/spatial/matcher_synthetic.yaml")
    model = build_matcher(cfg)                       # or load_matcher("runs/matcher/best.pth")
    scores = model.score(tubes, roi, ["the man in red walks left"], frame_indices, w, h,
                         window=(40, 90), num_frames=200)           # Tensor[Q, N], higher = better
    clip = ClipTubeMatcher("openai/clip-vit-base-patch32")          # zero-shot, from video frames
    scores = clip.score_video("clip.mp4", tubes, ["the man in red walks left"], window=(40, 90))
"""
from .clip_backend import ClipTubeMatcher
from .defaults import MATCHER_DEFAULTS, load_matcher_config
from stvg.tube_geometry import GEOMETRY_DIM, GEOMETRY_NAMES, tube_geometry, tube_layout, window_mask
from .model import TubeMatcher, build_matcher, load_matcher

__all__ = ["TubeMatcher", "MATCHER_DEFAULTS", "load_matcher_config", "build_matcher", "load_matcher",
           "tube_geometry", "tube_layout", "window_mask", "GEOMETRY_DIM", "GEOMETRY_NAMES", "ClipTubeMatcher"]
