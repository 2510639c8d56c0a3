"""Run a tool's real command line with numbered progress events, and SIGKILL it at one of them.

    python tests/kill_driver.py EVENTS_FILE KILL_AT WATCH_DIR tools/<tool>.py ARGS...

Events, one line each appended to EVENTS_FILE (flushed before anything else happens):

* ``before-replace <path>``: a file under WATCH_DIR is fully written to its temporary name and
  about to be renamed over ``<path>`` (a kill here is a kill in the middle of the write);
* ``after-replace <path>``: the rename is done (a kill here is a kill between two files);
* ``step <n>``: an optimiser step is done (a kill here is a kill in the middle of an epoch).

At event number KILL_AT (0-based; -1: never), or at the first event whose text is KILL_AT (e.g.
``before-replace /out/a.mp4.npz``: an event of an earlier run, found again in a resumed one), the
process sends itself SIGKILL: nothing after that
point runs (no ``finally``, no ``atexit``, no flush), exactly as a kill from outside at that moment,
but at a point chosen by the test rather than by the scheduler of a loaded machine. The helpers
below run the driver from the tests (no test here): :func:`run` / :func:`start_together` in a new
interpreter, :func:`fork` in a child of the test process (the same tool run, without spending
seconds on imports for every kill).
"""
from __future__ import annotations

import contextlib
import os
import pathlib
import runpy
import signal
import subprocess
import sys
import time
from typing import Callable, Iterator, List, Optional, Union

REPO = pathlib.Path(__file__).resolve().parents[1]
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="",
           HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONHASHSEED="0")


def install(sink: Callable[[str], None], kill_at: Union[int, str], watch: str,
            barrier: Optional[str] = None) -> Callable[[], None]:
    """Emit the events (module docstring) to ``sink``; SIGKILL this process at event ``kill_at``
    (its number or its text); with ``barrier`` (``DIR:N``), wait at the first event until N
    processes got there (past their imports and setup), so that their work overlaps (``DIR:N:start``:
    wait before the tool starts instead, :func:`fork`). Returns a
    function that removes the hooks (for recording in the test's own process)."""
    import torch.optim.optimizer as optim

    count, steps = [0], [0]
    watch = os.path.realpath(watch)

    def event(text: str) -> None:
        if count[0] == 0 and barrier and not barrier.endswith(":start"):
            _wait_for_peers(barrier)
        sink(text)
        if count[0] == kill_at or text == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        count[0] += 1

    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        dst_s = os.path.realpath(os.fspath(dst))
        watched = dst_s == watch or dst_s.startswith(watch + os.sep)
        if watched:
            event(f"before-replace {dst_s}")
        real_replace(src, dst, *a, **kw)
        if watched:
            event(f"after-replace {dst_s}")

    def step_hook(optimizer, args, kwargs):
        steps[0] += 1
        event(f"step {steps[0]}")

    os.replace = replace
    handle = optim.register_optimizer_step_post_hook(step_hook)

    def remove() -> None:
        os.replace = real_replace
        handle.remove()

    return remove


@contextlib.contextmanager
def recording(watch: str, on_event: Optional[Callable[[str], None]] = None) -> Iterator[List[str]]:
    """The events of the block, run in this process (nothing is killed); ``on_event(text)`` is
    called at each (e.g. to keep a copy of a file just written)."""
    seen: List[str] = []

    def sink(text: str) -> None:
        seen.append(text)
        if on_event is not None:
            on_event(text)

    remove = install(sink, -1, watch)
    try:
        yield seen
    finally:
        remove()


def _wait_for_peers(spec: str) -> None:
    """``DIR:N[:start]``: wait until N processes have announced themselves in DIR."""
    folder, n = spec.removesuffix(":start").rsplit(":", 1)
    open(os.path.join(folder, f"ready.{os.getpid()}"), "w").close()
    deadline = time.time() + 120
    while sum(e.startswith("ready.") for e in os.listdir(folder)) < int(n) and time.time() < deadline:
        time.sleep(0.02)


def command(args: List[str], events_file: str, kill_at: Union[int, str] = -1, watch: str = "") -> List[str]:
    """The driver's command line for ``python tools/<tool>.py ...`` (``args[0]`` is the tool's path)."""
    return [sys.executable, __file__, events_file, str(kill_at), watch or os.devnull] + list(args)


def run(args: List[str], events_file: str, kill_at: Union[int, str] = -1, watch: str = "",
        timeout: float = 300) -> subprocess.CompletedProcess:
    """The tool in a fresh interpreter through the driver (events logged, SIGKILL at ``kill_at``)."""
    return subprocess.run(command(args, events_file, kill_at, watch), cwd=REPO, env=ENV, capture_output=True,
                          text=True, timeout=timeout)


def start_together(commands: List[List[str]], barrier_dir: str) -> List[subprocess.Popen]:
    """Start the driver commands at once; each waits for the others at its first event."""
    env = dict(ENV, KILL_DRIVER_BARRIER=f"{barrier_dir}:{len(commands)}")
    os.makedirs(barrier_dir, exist_ok=True)
    return [subprocess.Popen(c, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for c in commands]


def events(path: str) -> List[str]:
    return open(path).read().splitlines() if os.path.exists(path) else []


def fork(args: List[str], events_file: str, kill_at: Union[int, str] = -1, watch: str = "",
         barrier: Optional[str] = None) -> int:
    """The same as the driver's command line, without a new interpreter's imports: a child of this
    process runs ``args[0]`` as ``__main__`` with ``sys.argv = args``, its stdout and stderr going to
    ``events_file`` + ``.out`` / ``.err``. Returns the child's pid (see :func:`wait`)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        for fd, ext in ((1, ".out"), (2, ".err")):
            out = os.open(events_file + ext, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        import logging
        for h in list(logging.root.handlers):  # the test runner's capture handlers
            logging.root.removeHandler(h)
        log = open(events_file, "a", buffering=1)
        install(lambda text: (log.write(text + "\n"), log.flush()), kill_at, watch, barrier)
        if barrier and barrier.endswith(":start"):
            _wait_for_peers(barrier)
        sys.argv = list(args)
        try:
            runpy.run_path(str(REPO / args[0]), run_name="__main__")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the child's stderr, never in the test process
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def wait(pid: int, timeout: float = 300) -> int:
    """The exit status of a :func:`fork` child: its code, or ``-signal`` (``-9`` when killed)."""
    deadline = time.time() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise TimeoutError(f"{pid} still running after {timeout} s")
        time.sleep(0.02)


if __name__ == "__main__":
    events_file, kill_at, watch, tool = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    kill_at = int(kill_at) if kill_at.lstrip("-").isdigit() else kill_at
    sys.path.insert(0, str(REPO))
    log = open(events_file, "a", buffering=1)
    install(lambda text: (log.write(text + "\n"), log.flush()), kill_at, watch, os.environ.get("KILL_DRIVER_BARRIER"))
    sys.argv = [tool] + sys.argv[5:]
    runpy.run_path(tool, run_name="__main__")
