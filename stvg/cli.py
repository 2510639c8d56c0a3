"""What every tool in ``tools/`` shares: one argument parser, one exit-code rule, one error printer.

    @tool_main                                   # project errors -> "error: ..." on stderr, return 2
    def main(argv=None) -> int:
        ap = tool_parser(__doc__)                # --config, KEY VALUE overrides, --device, --log-level
        ap.add_argument("--video", required=True)
        args = ap.parse_args(argv)
        ...
        return EXIT_OK

Exit codes (docs/behaviour.md): 0 success; 1 the job ran but some items failed (the failures file is
named on stderr); 2 bad input, config or environment (nothing was done, nothing half-written left).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
from typing import Callable, Iterator, Optional

__all__ = ["EXIT_OK", "EXIT_SOME_FAILED", "EXIT_BAD_INPUT", "tool_parser", "tool_errors", "ToolExit",
           "add_run_options", "run_overrides", "job_exit_code",
           "fail", "check_output_suffix", "tool_main"]

EXIT_OK, EXIT_SOME_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class ToolExit(Exception):
    """Raised inside :func:`tool_errors` to stop with ``code`` after printing ``message``."""

    def __init__(self, message: str, code: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    raise ToolExit(message, code)


def tool_parser(description: Optional[str], config: bool = True, config_required: bool = False,
                overrides: bool = True, device: bool = True) -> argparse.ArgumentParser:
    """The shared parser: ``--config`` (YAML), ``KEY VALUE`` overrides as trailing positionals,
    ``--device`` (auto, cpu, cuda, cuda:N; checked by :func:`stvg.engine.resolve_device`), ``--log-level``."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    if config:
        ap.add_argument("--config", required=config_required, default=None, help="YAML config file")
    if device:
        ap.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    ap.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    if overrides:
        ap.add_argument("overrides", nargs="*", metavar="KEY VALUE", help="config overrides, e.g. SOLVER.LR 1e-4")
    return ap


def check_output_suffix(path: Optional[str], allowed, what: str) -> None:
    """An output path whose type is decided by its suffix must have one of ``allowed`` (checked before
    any work starts)."""
    if path is None:
        return
    import os

    ext = os.path.splitext(path)[1].lower()
    if ext not in allowed:
        fail(f"{what} {path!r}: unknown file type {ext or '(none)'!r}; use one of {', '.join(allowed)}")
    if os.path.isdir(path):
        fail(f"{what} {path!r} is a directory")


@contextlib.contextmanager
def tool_errors(log: Optional[logging.Logger] = None) -> Iterator[None]:
    """Turn the project's input errors into one ``error: ...`` line on stderr and ``SystemExit(2)``
    (or the :class:`ToolExit` code). Programming errors still raise with their traceback."""
    from .config import ConfigError
    from .engine.device import DeviceError

    try:
        yield
    except ToolExit as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(e.code) from None
    except (ConfigError, DeviceError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


def tool_main(fn: Callable[..., int]) -> Callable[..., int]:
    """Decorate a tool's ``main(argv=None) -> int``: errors handled by :func:`tool_errors` become the
    returned exit code (so tests call ``main([...])`` and compare codes)."""

    @functools.wraps(fn)
    def wrapper(argv=None) -> int:
        try:
            with tool_errors():
                return int(fn(argv) or 0)
        except SystemExit as e:  # tool_errors' codes and argparse's (2 on a usage error)
            return int(e.code or 0) if not isinstance(e.code, str) else EXIT_BAD_INPUT

    return wrapper


def add_run_options(ap: argparse.ArgumentParser, resume: bool = False) -> argparse.ArgumentParser:
    """The options of the training/testing tools: ``--skip-missing`` (DATASET.SKIP_MISSING True),
    ``--no-progress`` and, with ``resume``, ``--resume`` (continue from OUTPUT_DIR/last.pth)."""
    if resume:
        ap.add_argument("--resume", action="store_true", help="continue from OUTPUT_DIR/last.pth")
    ap.add_argument("--skip-missing", action="store_true",
                    help="skip videos absent from the inputs (same as DATASET.SKIP_MISSING True)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    return ap


def run_overrides(args: argparse.Namespace) -> list:
    """The ``KEY VALUE`` overrides of a training/testing tool: the positional ones, then
    ``--skip-missing`` and ``--device`` (when not ``auto``) as config keys."""
    out = list(args.overrides)
    if getattr(args, "skip_missing", False):
        out += ["DATASET.SKIP_MISSING", "True"]
    if getattr(args, "device", "auto") != "auto":
        out += ["DEVICE", args.device]
    return out


def job_exit_code(summary) -> int:
    """The exit code of a job over many videos (a :class:`stvg.store.JobSummary`): 1, naming the
    failures file on stderr, when some videos failed; else 0."""
    failed = summary.failed()
    if failed:
        print(f"error: {len(failed)} video(s) failed, listed in {summary.failures_file}", file=sys.stderr)
        return EXIT_SOME_FAILED
    return EXIT_OK
