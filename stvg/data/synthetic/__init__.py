"""Synthetic spatio-temporal video grounding data in HC-STVG's own format, with exact ground truth.

For demos, tests and learning benchmarks only: the videos are cartoon people on plain rooms, and
numbers measured on them say nothing about real HC-STVG results (see docs/synthetic.md).

    from stvg.data.synthetic import generate
    report = generate("data/synth", num_videos=20, seed=0, VIDEO_DURATION=6)
"""
from .dataset import GenerateReport, generate, make_config, split_assignment
from .defaults import SYNTH_DEFAULTS, load_synth_config
from .render import render_video
from .spec import VideoSpec, sample_video

__all__ = ["generate", "GenerateReport", "make_config", "split_assignment", "SYNTH_DEFAULTS",
           "load_synth_config", "render_video", "VideoSpec", "sample_video"]
