"""Rank-0 logging for the tools, a per-run log file, and the progress bar every long job uses."""
from __future__ import annotations

import contextlib
import logging
import os
from typing import Iterator, Optional

from tqdm import tqdm

__all__ = ["setup_cli_logging", "file_log", "run_folder", "progress_bar", "is_rank0"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def is_rank0() -> bool:
    return os.environ.get("RANK", "0") == "0"


def setup_cli_logging(level: str = "INFO") -> bool:
    """``level`` on rank 0 (the only process under torchrun that reports progress), WARNING
    elsewhere; tokenizers stay single-threaded in forked loader workers. Returns is-rank-0."""
    rank0 = is_rank0()
    logging.basicConfig(level=getattr(logging, str(level).upper()) if rank0 else logging.WARNING, format=FORMAT)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return rank0


@contextlib.contextmanager
def file_log(path: Optional[str], loggers=("stvg", "temporal", "spatial")) -> Iterator[None]:
    """Copy the named loggers' records to ``path`` while the block runs (nothing when path is None)."""
    if path is None:
        yield
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    for name in loggers:
        logging.getLogger(name).addHandler(handler)
    try:
        yield
    finally:
        for name in loggers:
            logging.getLogger(name).removeHandler(handler)
        handler.close()


def progress_bar(total: Optional[int] = None, desc: str = "", unit: str = "it", enabled: bool = True,
                 leave: bool = True) -> tqdm:
    """A tqdm bar with elapsed time and ETA; disabled off rank 0 or when ``enabled`` is False."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not (enabled and is_rank0()), dynamic_ncols=True,
                leave=leave)


@contextlib.contextmanager
def run_folder(cfg, out_dir: str, is_main: bool) -> Iterator[None]:
    """A training run's folder while the block runs: on the main process ``out_dir`` is created,
    the resolved config written to ``config.yaml`` and the log copied to ``train.log``."""
    if is_main:
        os.makedirs(out_dir, exist_ok=True)
        cfg.dump(os.path.join(out_dir, "config.yaml"))
    with file_log(os.path.join(out_dir, "train.log") if is_main else None):
        yield
