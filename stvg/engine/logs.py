"""Rank-0 logging for the tools, a per-run log file, and the progress bar every long job uses."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Iterator, Optional

from tqdm import tqdm

__all__ = ["setup_cli_logging", "file_log", "run_folder", "progress_bar", "is_rank0", "LogBar",
           "PROGRESS_LOG_SECONDS"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Seconds between the progress lines written to a log (stderr not a terminal); the environment
# variable STVG_PROGRESS_LOG_SECONDS overrides it (0: a line on every update).
PROGRESS_LOG_SECONDS = 30.0


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


class LogBar(tqdm):
    """A tqdm bar that draws nothing but writes a line to stderr at most every ``log_every``
    seconds, whatever the log level, e.g.
    ``2025-01-01 10:00:00 progress features: 3/10 video (30%) [02:00<04:40, 40.00s/video], failed=0``
    (done/total [elapsed<ETA, rate], then the postfix), and a last one when a ``leave`` bar closes."""

    def __init__(self, *args, log_every: float = PROGRESS_LOG_SECONDS, **kwargs) -> None:
        self._log_every, self._logged, self._logged_n = float(log_every), time.monotonic(), None
        kwargs.setdefault("file", _NullFile())
        super().__init__(*args, mininterval=0, miniters=1, **kwargs)

    def display(self, msg=None, pos=None) -> bool:
        now = time.monotonic()
        if self.n != self._logged_n and (now - self._logged >= self._log_every or self._log_every <= 0):
            self._log_line()
            self._logged = now
        return True

    def _log_line(self) -> None:
        d = dict(self.format_dict)
        d["ncols"] = None
        d["bar_format"] = ("{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) [{elapsed}<{remaining}, {rate_fmt}]{postfix}"
                           if d.get("total") else "{desc}: {n_fmt} {unit} [{elapsed}, {rate_fmt}]{postfix}")
        line = self.format_meter(**d).strip()
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} progress {line}", file=sys.stderr, flush=True)
        self._logged_n = self.n

    def close(self) -> None:
        if self.disable:
            return
        if self.leave and self.n != self._logged_n:
            self._log_line()
        self.leave = False  # tqdm's own last line would go to the null file anyway
        super().close()


class _NullFile:
    def write(self, _: str) -> None:
        pass

    def flush(self) -> None:
        pass


def _log_every() -> float:
    try:
        return float(os.environ.get("STVG_PROGRESS_LOG_SECONDS", PROGRESS_LOG_SECONDS))
    except ValueError:
        return PROGRESS_LOG_SECONDS


def progress_bar(total: Optional[int] = None, desc: str = "", unit: str = "it", enabled: bool = True,
                 leave: bool = True, initial: int = 0) -> tqdm:
    """The progress bar of every long job: on a terminal a tqdm bar with elapsed time and ETA (a
    bar with ``leave=False`` is a nested one, e.g. frames within the current video, cleared when
    done); when stderr is not a terminal (a log file, a batch job) a :class:`LogBar` line every
    ``STVG_PROGRESS_LOG_SECONDS`` (default 30 s). Disabled (silent) off rank 0 or when ``enabled``
    is False (the tools' ``--no-progress``)."""
    disable = not (enabled and is_rank0())
    if not disable and not _is_terminal(sys.stderr):
        return LogBar(total=total, desc=desc, unit=unit, leave=leave, initial=initial, log_every=_log_every())
    return tqdm(total=total, desc=desc, unit=unit, disable=disable, dynamic_ncols=True, leave=leave,
                initial=initial)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def run_folder(cfg, out_dir: str, is_main: bool) -> Iterator[None]:
    """A training run's folder while the block runs: on the main process ``out_dir`` is created,
    the resolved config written to ``config.yaml`` and the log copied to ``train.log``."""
    if is_main:
        os.makedirs(out_dir, exist_ok=True)
        cfg.dump(os.path.join(out_dir, "config.yaml"))
    with file_log(os.path.join(out_dir, "train.log") if is_main else None):
        yield
