"""One video reader for the whole project, over decord.

    reader = VideoReader("clip.mp4")
    reader.fps, reader.num_frames, reader.duration, reader.size   # size = (width, height)
    idx = reader.sample_indices(target_fps=5)                     # int64[K], 0-based
    frames = reader.get_frames(idx)                               # uint8[K, H, W, 3], RGB

Errors: a missing file raises ``FileNotFoundError`` naming the path; a directory, or anything the
decoder cannot read (not a video, truncated, corrupt stream), raises :class:`VideoReadError`
naming the file and the reason, never a decoder-specific exception. The decoder's own C-level
messages (FFmpeg's ``moov atom not found``, decord's ``video_reader.cc:83: ERROR ...``) are
captured instead of printed: their gist is part of that one error, and on success they go to the
debug log.

A file cut short after a moov-first ("faststart") header fails to open in decord; the error then
says how many frames, from the start, can still be decoded, and ``VideoReader(path,
salvage=True)`` reads exactly those (``reader.salvaged`` = ``(frames kept, frames in the
header)``; a warning says ``salvaged: kept K of N frames``). The tools' ``--salvage`` option
sets the default for every reader opened inside the job::

    with salvaging(True) as record:       # VideoReader(path) now salvages; salvage=False still refuses
        run_the_job()
    record                                # {path: (kept, total)} of the files that were cut short
    record.message()                      # "salvaged 1 video(s): a.mp4: kept 14 of 30 frames"
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import weakref
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ["VideoReader", "VideoReadError", "sample_indices", "write_video", "salvaging", "Salvaged",
           "salvage_default", "note_salvaged", "salvage_note"]

log = logging.getLogger(__name__)


class VideoReadError(RuntimeError):
    """A video path exists but cannot be decoded (a directory, corrupt, truncated, unsupported)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot read video {path}: {reason}")
        self.path, self.reason = path, reason


def sample_indices(num_frames: int, fps: float, target_fps: float,
                   start: float = 0.0, end: Optional[float] = None) -> np.ndarray:
    """0-based indices of the frames shown at times ``start + k / target_fps`` inside ``[start, end)``.

    Frame f covers ``[f / fps, (f + 1) / fps)``, so the frame shown at time t is ``floor(t * fps)``.
    Returns ``int64[K]`` (strictly increasing when ``target_fps <= fps``; duplicates are removed).
    """
    if fps <= 0 or target_fps <= 0:
        raise ValueError(f"fps and target_fps must be positive, got {fps} and {target_fps}")
    duration = num_frames / fps
    end = duration if end is None else min(end, duration)
    if end <= start:
        return np.zeros(0, dtype=np.int64)
    if target_fps > fps + 1e-9:
        log.warning("sampling at %g fps asked for, but the video has only %g fps: every frame is used once, "
                    "i.e. %g frames per second (clips then cover %gx the configured duration)",
                    target_fps, fps, fps, target_fps / fps)
    count = math.ceil((end - start) * target_fps - 1e-9)
    times = start + np.arange(count, dtype=np.float64) / target_fps
    idx = np.floor(times * fps + 1e-6).astype(np.int64)
    return np.unique(np.clip(idx, 0, num_frames - 1))


def salvage_note(kept: int, total: int) -> str:
    """``salvaged: kept K of N frames`` (the one wording of logs, summaries and errors)."""
    return f"salvaged: kept {int(kept)} of {int(total)} frames"


class Salvaged(dict):
    """``{path or video id: (frames kept, frames in the header)}`` of the files read in part."""

    def message(self) -> str:
        """One line for a tool's summary ('' when nothing was salvaged)."""
        if not self:
            return ""
        items = [f"{os.path.basename(str(k))}: kept {a} of {b} frames" for k, (a, b) in sorted(self.items())]
        more = f"; ... ({len(items) - 10} more)" if len(items) > 10 else ""
        return f"salvaged {len(items)} video(s) cut short: " + "; ".join(items[:10]) + more


_warned_salvaged: set = set()  # (path, size, mtime) of the files already warned about in this process
_salvage_default: contextvars.ContextVar = contextvars.ContextVar("stvg_salvage", default=(False, ()))


def salvage_default() -> bool:
    """Whether ``VideoReader(path)`` (``salvage=None``) salvages here (:func:`salvaging`)."""
    return bool(_salvage_default.get()[0])


def note_salvaged(path: str, kept: int, total: int) -> None:
    """Record a salvaged file in every active :func:`salvaging` record (also for files salvaged in
    another process, e.g. a DataLoader worker, whose reader could not record it here)."""
    for record in _salvage_default.get()[1]:
        record[os.fspath(path)] = (int(kept), int(total))


@contextlib.contextmanager
def salvaging(enabled: Optional[bool] = True) -> Iterator[Salvaged]:
    """Inside the block, ``VideoReader(path)`` salvages a file cut short when ``enabled`` (None: as
    outside the block; a reader's own ``salvage=True/False`` still wins); yields the
    :class:`Salvaged` record of this block. Blocks nest (an inner record also feeds the outer
    ones); the setting is per thread/context."""
    record = Salvaged()
    was, outer = _salvage_default.get()
    token = _salvage_default.set((was if enabled is None else bool(enabled), outer + (record,)))
    try:
        yield record
    finally:
        _salvage_default.reset(token)


class VideoReader:
    """Random-access frame reader. ``num_threads=0`` lets the decoder choose. ``salvage=True``
    reads the decodable start of a file cut short (see the module docstring); ``None`` follows
    :func:`salvaging` (off by default)."""

    def __init__(self, path: str, num_threads: int = 0, salvage: Optional[bool] = None) -> None:
        path = os.fspath(path)
        if salvage is None:
            salvage = salvage_default()
        if os.path.isdir(path):
            raise VideoReadError(path, "is a directory, not a video file")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"video file not found: {path}")
        self.path = path
        self.salvaged: Optional[Tuple[int, int]] = None
        try:
            self._open(path, num_threads)
        except VideoReadError as e:
            prefix = _readable_prefix(path)
            if prefix is None or not 0 < prefix.frames < prefix.total:
                raise
            if not salvage:
                raise VideoReadError(path, f"{e.reason}; the file is cut short: the first {prefix.frames} "
                                     f"of {prefix.total} frames are decodable (the tools' --salvage "
                                     "option, or VideoReader(path, salvage=True), reads them)") from None
            self._salvage(prefix, num_threads)

    def _open(self, source: str, num_threads: int) -> None:
        import decord
        with _captured_stderr() as said:
            try:
                self._vr = decord.VideoReader(source, ctx=decord.cpu(0), num_threads=num_threads)
                self.num_frames = int(len(self._vr))
                self.fps = float(self._vr.get_avg_fps())
                if self.num_frames <= 0:
                    raise VideoReadError(self.path, "no frames")
                first = self._vr[0].shape
            except VideoReadError:
                raise
            except Exception as e:  # decord raises its own DECORDError and RuntimeErrors
                raise VideoReadError(self.path, _cause(e, said(), source)) from None
        if not math.isfinite(self.fps) or self.fps <= 0:
            raise VideoReadError(self.path, f"invalid frame rate {self.fps}")
        self.height, self.width = int(first[0]), int(first[1])

    def _salvage(self, prefix: "_Prefix", num_threads: int) -> None:
        """Open a stream copy of the decodable packets (a temporary file removed with the reader)."""
        folder = tempfile.mkdtemp(prefix="stvg_salvage_")
        weakref.finalize(self, shutil.rmtree, folder, True)
        copy = os.path.join(folder, "prefix" + prefix.suffix)
        try:
            _copy_packets(self.path, copy, prefix.packets)
        except Exception as e:
            raise VideoReadError(self.path, f"salvaging the first {prefix.frames} frames failed: "
                                 f"{_short(e)}") from None
        self._open(copy, num_threads)
        self.num_frames = min(self.num_frames, prefix.frames)
        if prefix.fps:
            self.fps = prefix.fps  # the source's rate, not the copy's estimate
        self.salvaged = (self.num_frames, prefix.total)
        note_salvaged(self.path, *self.salvaged)
        key = (self.path, os.path.getsize(self.path), os.path.getmtime(self.path))
        with _capture_lock:
            first_time = key not in _warned_salvaged
            _warned_salvaged.add(key)
        (log.warning if first_time else log.debug)("%s: %s (the file is cut short; using its first %d of %d frames: %.0f%%, %.2f s)",
                    self.path, salvage_note(*self.salvaged), self.num_frames, prefix.total,
                    100 * self.num_frames / prefix.total, self.duration)

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (f"VideoReader({self.path!r}, {self.num_frames} frames @ {self.fps:.3f} fps, "
                f"{self.width}x{self.height}{', salvaged' if self.salvaged else ''})")

    @property
    def duration(self) -> float:
        """Seconds: ``num_frames / fps``."""
        return self.num_frames / self.fps

    @property
    def size(self) -> tuple:
        """``(width, height)`` in pixels."""
        return (self.width, self.height)

    def sample_indices(self, target_fps: float, start: float = 0.0,
                       end: Optional[float] = None) -> np.ndarray:
        """See :func:`sample_indices`; uses this video's frame count and fps."""
        return sample_indices(self.num_frames, self.fps, target_fps, start, end)

    def get_frames(self, indices: Sequence[int]) -> np.ndarray:
        """Decode the given 0-based frames -> ``uint8[T, H, W, 3]`` (RGB)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return np.zeros((0, self.height, self.width, 3), dtype=np.uint8)
        bad = idx[(idx < 0) | (idx >= self.num_frames)]
        if bad.size:
            raise IndexError(f"{self.path}: frame {int(bad[0])} out of range [0, {self.num_frames})")
        with _captured_stderr() as said:
            try:
                frames = self._vr.get_batch(idx.tolist()).asnumpy()
            except Exception as e:
                raise VideoReadError(self.path, f"decoding frames {int(idx.min())}..{int(idx.max())} "
                                     f"failed: {_cause(e, said(), self.path)}") from None
        if frames.shape[0] != idx.size:
            raise VideoReadError(self.path, f"asked for {idx.size} frames, decoder gave {frames.shape[0]}")
        return frames

    def read_at_fps(self, target_fps: float) -> tuple:
        """``(indices int64[K], frames uint8[K, H, W, 3])`` sampled at ``target_fps``."""
        idx = self.sample_indices(target_fps)
        return idx, self.get_frames(idx)


# --- the decoder's own stderr -----------------------------------------------------------------
_capture_lock = threading.Lock()
_capture = {"depth": 0, "saved": -1, "file": None}


@contextlib.contextmanager
def _captured_stderr() -> Iterator:
    """Send file descriptor 2 to a temporary file for the duration (C-level writes included).

    Yields a function returning what was written so far inside this block. Nested or concurrent
    blocks (threads share fd 2) share one redirection, restored when the last one ends; what the
    decoder said goes to the debug log unless the caller used it in an error. Ctrl-C is held back
    while the redirection is set up or undone, so that it is never left half done (a Ctrl-C there
    left fd 2 in the temporary file, and the tool's ``interrupted`` line with it).
    """
    entered = False
    try:
        with _sigint_held():
            said = _capture_begin()
            entered = True
        yield said
    finally:
        if entered:
            with _sigint_held():
                text = said()
                _capture_end()
            if text.strip():
                log.debug("decoder output: %s", text.strip())


def _capture_begin():
    """One more user of the redirection (made by the first); returns its ``said`` reader."""
    import sys
    with _capture_lock:
        if _capture["depth"] == 0:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            f = tempfile.TemporaryFile()
            try:
                _capture["saved"] = os.dup(2)
            except OSError:  # no fd 2 at all: nothing to capture or restore
                _capture["saved"] = -1
            else:
                os.dup2(f.fileno(), 2)
            _capture["file"] = f
        _capture["depth"] += 1
        f = _capture["file"]
        start = os.lseek(f.fileno(), 0, os.SEEK_END)

    def said() -> str:
        return os.pread(f.fileno(), max(0, os.fstat(f.fileno()).st_size - start), start).decode(
            "utf-8", "replace")
    return said


def _capture_end() -> None:
    """One user fewer; the last one puts fd 2 back."""
    import sys
    with _capture_lock:
        _capture["depth"] -= 1
        if _capture["depth"] == 0:
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            if _capture["saved"] >= 0:
                os.dup2(_capture["saved"], 2)
                os.close(_capture["saved"])
            _capture["file"].close()
            _capture["saved"], _capture["file"] = -1, None


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Defer SIGINT (Ctrl-C) to the end of the block, where it acts as it would have.

    Only the main thread receives ``KeyboardInterrupt``, and only it may change a handler; elsewhere,
    or when the handler was installed outside Python, the block runs as it is.
    """
    import signal
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: List[int] = []
    old = signal.getsignal(signal.SIGINT)
    if old is None:
        yield
        return
    signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
        if held:
            if callable(old):
                old(signal.SIGINT, None)  # the default handler raises KeyboardInterrupt here
            elif old == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


_AVERROR = {1094995529: "invalid data found when processing input", 541478725: "end of file"}


def _short(e: BaseException) -> str:
    """First line of a decoder error, without decord's "[hh:mm:ss] source.cc:123: " prefix."""
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return re.sub(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: (Error: )?", "", line)[:300]


def _cause(e: BaseException, said: str, source: str) -> str:
    """One line: the decoder's captured messages (de-duplicated, without their "[mov,mp4 @ 0x..]"
    and "[hh:mm:ss] file.cc:83: ERROR opening: <path>," prefixes), then the exception's own line
    when it adds something."""
    parts: List[str] = []
    for line in said.splitlines():
        line = re.sub(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: (ERROR |Error: )?", "", line.strip())
        line = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\] ", "", line)
        line = re.sub(r"^opening: " + re.escape(source) + r",\s*", "", line).strip()
        if line and line not in parts:
            parts.append(line)
    own = _short(e)
    for code, meaning in _AVERROR.items():
        own = own.replace(f"failed with {code}", f"failed ({meaning})")
    if not re.fullmatch(r"Error reading .*\.\.\.", own) and own not in parts:
        parts.append(own)
    return "; ".join(parts)[:400] or type(e).__name__


# --- salvaging the start of a file cut short -----------------------------------------------------
@dataclass
class _Prefix:
    frames: int     # frames decodable from the start, with no frame missing before them
    total: int      # frames the container's header announces
    packets: int    # demuxed packets (in decode order) to copy for those frames
    fps: float      # the stream's average rate (0 when unknown)
    suffix: str     # container of the copy


def _readable_prefix(path: str) -> Optional[_Prefix]:
    """Decode the video stream with PyAV until the data ends or breaks; None when PyAV cannot open
    the file or the header gives no frame count. Frames count only up to the first gap in their
    presentation times (a frame whose packet was lost ends the prefix)."""
    try:
        import av
    except ImportError:
        return None
    pts: List[int] = []
    good = 0
    with _captured_stderr():
        try:
            container = av.open(path)
        except Exception:
            return None
        with container:
            streams = container.streams.video
            if not streams or not streams[0].frames:
                return None
            stream = streams[0]
            total = int(stream.frames)
            fps = float(stream.average_rate) if stream.average_rate else 0.0
            try:
                for packet in container.demux(stream):
                    if packet.size == 0:
                        break
                    if packet.is_corrupt:
                        break
                    try:
                        frames = packet.decode()
                    except Exception:
                        break
                    good += 1
                    pts.extend(f.pts for f in frames)
            except Exception:  # the data ends inside a packet, or the stream breaks
                pass
            with contextlib.suppress(Exception):
                pts.extend(f.pts for f in stream.codec_context.decode(None))  # frames still buffered
    suffix = ".mp4" if path.lower().endswith((".mp4", ".mov", ".m4v")) else ".mkv"
    return _Prefix(_gap_free(pts), total, good, fps, suffix)


def _gap_free(pts: List[Optional[int]]) -> int:
    """How many of the sorted presentation times run from the first without a gap."""
    if not pts or any(p is None for p in pts):
        return len(pts)
    t = np.sort(np.asarray(pts, dtype=np.int64))
    if t.size < 2:
        return int(t.size)
    step = np.diff(t)
    usual = np.median(step)
    gaps = np.flatnonzero(step > 1.5 * usual)
    return int(gaps[0] + 1) if gaps.size else int(t.size)


def _copy_packets(source: str, dest: str, count: int) -> None:
    """Stream-copy the first ``count`` video packets of ``source`` into ``dest`` (no re-encoding)."""
    import av
    with _captured_stderr(), av.open(source) as inp, av.open(dest, "w") as out:
        src = inp.streams.video[0]
        dst = out.add_stream_from_template(src)
        for n, packet in enumerate(inp.demux(src)):
            if n >= count or packet.size == 0:
                break
            packet.stream = dst
            out.mux(packet)


# --- writing ----------------------------------------------------------------------------------
_heap_lock = threading.Lock()
_heap = {"depth": 0, "mallopt": None}
_M_PERTURB, _PERTURB_BYTE = -6, 0x5A   # glibc's mallopt(M_PERTURB): fill every new heap block


@contextlib.contextmanager
def _deterministic_heap() -> Iterator[None]:
    """Make every heap block allocated inside the block start with the same bytes (glibc
    ``mallopt(M_PERTURB)``; a no-op elsewhere), so code that reads memory before writing it
    behaves the same on every run. Nested and concurrent uses share one switch."""
    with _heap_lock:
        if _heap["mallopt"] is None:
            try:
                import ctypes
                _heap["mallopt"] = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):
                _heap["mallopt"] = False
        if _heap["mallopt"] and _heap["depth"] == 0:
            _heap["mallopt"](_M_PERTURB, _PERTURB_BYTE)
        _heap["depth"] += 1
    try:
        yield
    finally:
        with _heap_lock:
            _heap["depth"] -= 1
            if _heap["mallopt"] and _heap["depth"] == 0:
                _heap["mallopt"](_M_PERTURB, 0)


_CONTAINERS = {"mkv": "matroska", "mp4": "mp4", "mov": "mov", "avi": "avi", "webm": "webm"}


def write_video(path: str, frames: np.ndarray, fps: float, codec: str = "libx264",
                crf: int = 18, threads: int = 1) -> None:
    """Encode ``uint8[T, H, W, 3]`` RGB frames to ``path`` with PyAV (H.264 by default).

    Width and height must be even for H.264 with yuv420p. The container follows the file's
    suffix (.mp4, .mkv, .mov, .avi, .webm). The file is written atomically.

    The bytes are a function of the frames alone (on glibc systems): ``threads`` (encoder threads)
    defaults to 1, since libx264 with several threads may encode the same frames differently
    from run to run (0 lets the encoder choose), and the encoding runs under
    :func:`_deterministic_heap`, since the encoder's output also depends on heap memory it reads
    before writing it (measured with PyAV 18 / libx264: 1 to 9 distinct files in 10 encodings of
    the same frames in one process, with one thread).
    Note: decord 0.6 fails to decode some very small sizes (seen: 48x32); tests use 64x48 or larger.
    """
    import fractions

    import av

    from .io import atomic_write

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8[T, H, W, 3], got {frames.dtype}{list(frames.shape)}")
    t, h, w, _ = frames.shape
    if codec == "libx264" and (h % 2 or w % 2):
        raise ValueError(f"H.264 needs even width and height, got {w}x{h}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)) or not 0 < float(fps) < math.inf:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    rate = fractions.Fraction(fps).limit_denominator(1001)
    suffix = os.path.splitext(path)[1].lstrip(".").lower() or "mp4"
    container_format = _CONTAINERS.get(suffix, suffix)
    with atomic_write(path, "wb") as f, _deterministic_heap():
        with av.open(f, mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.codec_context.thread_count = int(threads)
            if codec == "libx264":
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
