"""Training and testing engine of the temporal stage (MMN), on top of :mod:`stvg.engine`."""
from stvg.engine import CheckpointConfigError

from .inference import run_inference
from .tester import evaluate_checkpoint
from .trainer import selection_score, train

__all__ = ["train", "evaluate_checkpoint", "run_inference", "selection_score", "CheckpointConfigError"]
