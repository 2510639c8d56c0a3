"""The training engine both stages use: device resolution, torchrun/DDP, seeding and RNG capture,
``last``/``best`` checkpoints with exact resume, logging and the progress bar."""
from ..config import config_diff, flatten_config
from .checkpoints import CheckpointConfigError, RunCheckpoints
from .device import DeviceError, resolve_device
from .distributed import DistContext, init_distributed
from .logs import file_log, is_rank0, progress_bar, run_folder, setup_cli_logging
from .seed import capture_rng, restore_rng, seed_everything
from .steps import finish_epoch, loss_values, optimizer_step, resume_state, wrap_ddp

__all__ = ["DeviceError", "resolve_device", "DistContext", "init_distributed", "seed_everything", "capture_rng",
           "restore_rng", "RunCheckpoints", "CheckpointConfigError", "config_diff", "flatten_config",
           "setup_cli_logging", "file_log", "run_folder", "progress_bar", "is_rank0", "loss_values", "optimizer_step",
           "resume_state", "wrap_ddp", "finish_epoch"]
