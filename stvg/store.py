"""The one per-video store of resumable, sharded jobs (detection, tubes, features, predictions),
and the one report of such a job.

    store = VideoStore("out/tubes", settings={"stride": 4, ...}, kind="tubes", suffix=".json")
    store.check_settings()                        # first use records them; a change is an error
    for vid in shard_items(ids):                  # stvg.sharding
        if vid in store.done_ids(): continue
        try: store.write(vid, work(vid))          # atomic; the file is the video's done marker
        except ...: store.write_failure(vid, reason)
    failures = store.merge(ids)                   # None until every video is done or failed

Layout of ``root`` (ids follow :mod:`stvg.data.ids`; a file name is the id itself plus ``suffix``,
so other code finds ``<root>/<id><suffix>`` without this class):

* ``<id><suffix>``: one video's result (``.json``, ``.npz`` or ``.pt`` by default, or written by a
  caller-given writer), written atomically; a kill at any moment leaves the whole file or nothing;
* ``<id><suffix>.partial``: optional progress of a long video, removed when the video is done;
* ``.store/settings.json``: ``{"kind", "settings"}``, written on first use, compared on resume;
* ``.store/failed/<id>.json``: ``{"video_id", "reason"}`` of a video that failed (removed when
  it succeeds later).

:meth:`VideoStore.merge` runs under an exclusive ``flock`` on ``<root>.lock`` (released by the
kernel if the process dies; the file is removed when the merge is done). It writes the failures list
(``{video_id: reason}``, default ``<root>.failures.json``, removed when nothing failed) and, once
every video of the job is done or failed, calls the job's ``combine`` step (e.g. one HDF5 file of
every part) and optionally removes ``root``. Every process calls it when its share is done, so the
last one completes the job.

Temporaries that a killed process left (``.<name>.<random>.tmp`` of :func:`stvg.io.atomic_write`)
are removed, those older than the :class:`VideoStore` object only, so that the write in progress of
another process is never touched: a video's own when its result is written, and every other one
under ``root`` and next to the failures list by the merge that completes the job
(:meth:`VideoStore.remove_stale_temporaries`, which a job that never merges calls at its end).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Set

from .data.ids import check_video_id
from .config import flatten_config
from .io import atomic_write, atomic_write_json, read_json, temporary_target

__all__ = ["VideoStore", "JobSummary", "exclusive_lock"]

_META = ".store"


def _write_json(f, payload) -> None:
    f.write(json.dumps(payload).encode("utf-8"))


def _write_npz(f, payload) -> None:
    import numpy as np
    np.savez(f, **payload)


def _write_torch(f, payload) -> None:
    import torch
    torch.save(payload, f)


def _read_json(path: str):
    return read_json(path, "store file")


def _read_npz(path: str):
    import numpy as np
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _read_torch(path: str):
    import torch
    return torch.load(path, map_location="cpu", weights_only=True)


_FORMATS = {".json": (_write_json, _read_json), ".npz": (_write_npz, _read_npz),
            ".pt": (_write_torch, _read_torch)}


class VideoStore:
    """One folder of per-video results of a job (see the module docstring).

    ``settings``: what the results depend on (JSON-able; other values are recorded as text);
    ``kind``: the job's name (``"features"``, ``"detections"``, ``"tubes"``, ...);
    ``suffix``: the result files' ending; ``failures_file``: where :meth:`merge` lists failures.
    """

    def __init__(self, root: str, settings: Dict[str, Any], kind: str, suffix: str = ".json",
                 failures_file: Optional[str] = None) -> None:
        if not suffix.startswith(".") or suffix.endswith(".partial"):
            raise ValueError(f"store suffix must start with '.' (and not be .partial), got {suffix!r}")
        self.root = os.fspath(root).rstrip(os.sep) or os.sep
        self.settings, self.kind, self.suffix = settings, kind, suffix
        self.failures_file = failures_file or self.root + ".failures.json"
        self.settings_path = os.path.join(self.root, _META, "settings.json")
        self._failed_dir = os.path.join(self.root, _META, "failed")
        self._created_ns = time.time_ns()
        self._stale: Optional[List[str]] = None  # the root's stale temporaries, listed once

    def path(self, vid: str, partial: bool = False) -> str:
        """``<root>/<id><suffix>`` (``.partial`` appended for progress files)."""
        check_video_id(vid)
        return os.path.join(self.root, vid + self.suffix + (".partial" if partial else ""))

    # ---- settings ------------------------------------------------------------------------------
    def check_settings(self, recorded: Optional[Dict[str, Any]] = None, source: str = "") -> None:
        """Record the settings on first use; raise ``ValueError`` naming the differing keys when the
        store (or, with ``recorded``, an earlier output ``source`` of the job) has other ones."""
        mine = _plain(self.settings)
        old, where = None, self.settings_path
        if os.path.isfile(self.settings_path):
            old = read_json(self.settings_path, "store settings")
        elif recorded is not None:
            old, where = {"kind": self.kind, "settings": _plain(recorded)}, source or "the output"
        if old is not None:
            if old.get("kind") != self.kind:
                raise ValueError(f"{where} belongs to a {old.get('kind')!r} job, not {self.kind!r}; "
                                 "use another output")
            diff = _diff(old.get("settings"), mine)
            if diff:
                raise ValueError(f"{where} was made with other {self.kind} settings ({diff}); "
                                 "use another output or the same settings")
        if not os.path.isfile(self.settings_path):
            atomic_write_json(self.settings_path, {"kind": self.kind, "settings": mine}, indent=1)

    # ---- results and failures --------------------------------------------------------------------
    def done_ids(self) -> Set[str]:
        """Ids that have a result file."""
        if not os.path.isdir(self.root):
            return set()
        n = len(self.suffix)
        return {e.name[:-n] for e in os.scandir(self.root) if e.name.endswith(self.suffix) and e.is_file()}

    def write(self, vid: str, payload: Any, writer: Optional[Callable[[Any, Any], None]] = None,
              partial: bool = False) -> None:
        """Write one video's result atomically (``writer(binary file, payload)``, default by suffix);
        a final result removes the video's progress file and failure record."""
        writer = writer or self._format(0)
        with atomic_write(self.path(vid, partial), "wb") as f:
            writer(f, payload)
        if not partial:
            for stale in (self.path(vid, partial=True), self._failure_path(vid)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(stale)
            if self._stale is None:
                self._stale = self._stale_temporaries("", (self.root,))
            mine = f".{vid}{self.suffix}."
            _remove([p for p in self._stale if os.path.basename(p).startswith(mine)])

    def read(self, vid: str, reader: Optional[Callable[[str], Any]] = None, partial: bool = False) -> Any:
        """One video's result (``reader(path)``, default by suffix)."""
        return (reader or self._format(1))(self.path(vid, partial))

    def write_failure(self, vid: str, reason: str) -> None:
        atomic_write_json(self._failure_path(vid), {"video_id": vid, "reason": str(reason)})

    def failures(self) -> Dict[str, str]:
        """Failure records, ``{video_id: reason}``."""
        if not os.path.isdir(self._failed_dir):
            return {}
        out = {}
        for e in os.scandir(self._failed_dir):
            if e.name.endswith(".json") and e.is_file():
                rec = read_json(e.path, "failure record")
                out[rec["video_id"]] = rec["reason"]
        return out

    def _failure_path(self, vid: str) -> str:
        return os.path.join(self._failed_dir, check_video_id(vid) + ".json")

    def _format(self, i: int):
        if self.suffix not in _FORMATS:
            raise ValueError(f"no default writer/reader for {self.suffix!r} files: pass one")
        return _FORMATS[self.suffix][i]

    # ---- completing the job ----------------------------------------------------------------------
    def merge(self, ids: Iterable[str], combine: Optional[Callable[[List[str]], None]] = None,
              existing: Optional[Callable[[], Iterable[str]]] = None,
              cleanup: bool = False) -> Optional[Dict[str, str]]:
        """Under the lock: write the failures list of ``ids``; once every id is done, failed or in
        ``existing()`` (ids already in a combined output, read under the lock), call
        ``combine(sorted done ids)``, remove ``root`` if ``cleanup``, and return the failures.
        Returns None while some ids are still to do (another shard will complete the job).

        A failure stays listed until its video succeeds: the earlier list is read back, so a job
        whose ``root`` was cleaned up still knows its failed videos."""
        ids = set(ids)
        with exclusive_lock(self.root + ".lock"):
            have = set(existing()) if existing is not None else set()
            done = self.done_ids()
            listed = read_json(self.failures_file, "failures list") if os.path.isfile(self.failures_file) else {}
            records = self.failures()
            failed = {v: r for v, r in sorted({**listed, **records}.items())
                      if v in ids and v not in done and v not in have}
            # an earlier list accounts for its videos only once a completed merge removed root;
            # otherwise they may be being retried right now
            counted = set(failed) if not os.path.isdir(self.root) else set(records)
            finished = not (ids - have - done - counted)
            if finished and combine is not None:
                combine(sorted(done))
            if failed:
                atomic_write_json(self.failures_file, failed, indent=1)
            elif os.path.exists(self.failures_file):
                os.unlink(self.failures_file)
            if finished and cleanup:
                shutil.rmtree(self.root, ignore_errors=True)
            if finished:
                self.remove_stale_temporaries()
            return failed if finished else None

    def remove_stale_temporaries(self) -> List[str]:
        """Remove the temporaries of writes cut by a kill (``.<name>.<random>.tmp``) under ``root``
        (``.store/`` included) and next to the failures list, those older than this object only (a
        newer one may be another process's write in progress); returns their paths. :meth:`merge`
        calls it when the job completes; a job that fills a store without merging it (the detection
        cache of ``build_tubes``) calls it when it ends."""
        parent, base = os.path.split(os.path.abspath(self.failures_file))
        stale = (self._stale_temporaries("", [d for d, _, _ in os.walk(self.root)])
                 + self._stale_temporaries(f".{base}.", (parent,)))
        _remove(stale)
        return stale

    def _stale_temporaries(self, prefix: str, folders: Iterable[str]) -> List[str]:
        """Temporaries (``prefix...``) in ``folders`` of writes cut by a kill: those older than this
        object (module docstring)."""
        found = []
        for folder in folders:
            with contextlib.suppress(FileNotFoundError):
                for e in os.scandir(folder):
                    if e.name.startswith(prefix) and temporary_target(e.name) is not None:
                        with contextlib.suppress(FileNotFoundError):
                            if e.stat().st_mtime_ns < self._created_ns:
                                found.append(e.path)
        return found


def _remove(paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@contextlib.contextmanager
def exclusive_lock(path: str, wait: bool = True, inherited: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (released by the kernel if the process dies); remove
    the file before releasing it. A waiter that locked a file removed meanwhile retries on the new
    one, so two holders never overlap. With ``wait`` False, raise ``BlockingIOError`` naming ``path``
    when another process holds it. With ``inherited`` False, a POSIX record lock (``lockf``) instead:
    held by this process alone, not by the children it forks (data-loader workers), which may
    outlive it by seconds when it is killed."""
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            try:
                (fcntl.flock if inherited else fcntl.lockf)(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):  # lockf may say either
                    raise
                raise BlockingIOError(errno.EAGAIN, f"{path} is locked by another process") from None
            st = os.fstat(fd)
            try:
                now = os.stat(path)
                same = (now.st_ino, now.st_dev) == (st.st_ino, st.st_dev)
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)  # releases the lock



def _plain(settings: Any) -> Any:
    """JSON-normal form (tuples as lists, other values as text), as recorded."""
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def _diff(old: Any, new: Any) -> str:
    """``"KEY: old then, new now, ..."`` over the dotted keys that differ ('' when equal)."""
    a, b = flatten_config(old or {}), flatten_config(new or {})
    keys = sorted(k for k in set(a) | set(b) if a.get(k, "<unset>") != b.get(k, "<unset>"))
    return ", ".join(f"{k}: {a.get(k, '<unset>')!r} then, {b.get(k, '<unset>')!r} now" for k in keys)


@dataclass
class JobSummary:
    """What one process of a per-video job did, and the job's state when it stopped.

    ``failures``: this process's failed videos -> reason; ``finished``: every video of the job is
    done or failed (the output is complete); ``all_failures``: every failed video then."""

    job: str                 # what the job makes: "features", "detections", "tubes", ...
    out: str                 # where: the output file or folder
    failures_file: str
    num_shards: int = 1
    shard: int = 0
    verb: str = "done"       # how the message names this run's results ("extracted", "detected")
    num_assigned: int = 0    # this shard's videos
    num_skipped: int = 0     # already done before this run
    num_done: int = 0        # done by this run
    failures: Dict[str, str] = field(default_factory=dict)
    finished: bool = False
    all_failures: Dict[str, str] = field(default_factory=dict)

    def finish(self, merged: Optional[Dict[str, str]]) -> "JobSummary":
        """Take :meth:`VideoStore.merge`'s answer (None: other shards still have work)."""
        if merged is not None:
            self.finished, self.all_failures = True, dict(merged)
        return self

    def failed(self) -> Dict[str, str]:
        """The failures to report: the whole job's when it finished, else this shard's."""
        return self.all_failures if self.finished else self.failures

    def message(self) -> str:
        where = f" shard {self.shard}/{self.num_shards}" if self.num_shards > 1 else ""
        text = (f"{self.job}{where}: {self.num_done} {self.verb}, {self.num_skipped} already done, "
                f"{len(self.failures)} failed of {self.num_assigned}")
        text += (f"; complete in {self.out}" if self.finished else
                 f"; {self.out} is complete once every shard is done (the last one to finish completes it)")
        if self.failed():
            text += f"; {len(self.failed())} video(s) failed, listed in {self.failures_file}"
        return text
