"""Training and testing engine of the temporal stage (MMN)."""
from .checkpoint import CheckpointConfigError
from .distributed import DistContext, init_distributed, resolve_device
from .inference import run_inference
from .tester import test_checkpoint
from .trainer import selection_score, train

__all__ = ["train", "test_checkpoint", "run_inference", "selection_score", "CheckpointConfigError",
           "DistContext", "init_distributed", "resolve_device"]
