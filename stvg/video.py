"""One video reader for the whole project, over decord.

    reader = VideoReader("clip.mp4")
    reader.fps, reader.num_frames, reader.duration, reader.size   # size = (width, height)
    idx = reader.sample_indices(target_fps=5)                     # int64[K], 0-based
    frames = reader.get_frames(idx)                               # uint8[K, H, W, 3], RGB

Errors: a missing file raises ``FileNotFoundError`` naming the path; anything the decoder cannot
read (not a video, truncated, corrupt stream) raises :class:`VideoReadError` naming the file and
the reason, never a decoder-specific exception.
"""
from __future__ import annotations

import math
import os
import re
from typing import Optional, Sequence

import numpy as np

__all__ = ["VideoReader", "VideoReadError", "sample_indices", "write_video"]


class VideoReadError(RuntimeError):
    """A video file exists but cannot be decoded (corrupt, truncated, unsupported)."""

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
    count = math.ceil((end - start) * target_fps - 1e-9)
    times = start + np.arange(count, dtype=np.float64) / target_fps
    idx = np.floor(times * fps + 1e-6).astype(np.int64)
    return np.unique(np.clip(idx, 0, num_frames - 1))


class VideoReader:
    """Random-access frame reader. ``num_threads=0`` lets the decoder choose."""

    def __init__(self, path: str, num_threads: int = 0) -> None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"video file not found: {path}")
        self.path = path
        try:
            import decord
            self._vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=num_threads)
            self.num_frames = int(len(self._vr))
            self.fps = float(self._vr.get_avg_fps())
            if self.num_frames <= 0:
                raise VideoReadError(path, "no frames")
            first = self._vr[0].shape
        except VideoReadError:
            raise
        except Exception as e:  # decord raises its own DECORDError and RuntimeErrors
            raise VideoReadError(path, _short(e)) from None
        if not math.isfinite(self.fps) or self.fps <= 0:
            raise VideoReadError(path, f"invalid frame rate {self.fps}")
        self.height, self.width = int(first[0]), int(first[1])

    def __len__(self) -> int:
        return self.num_frames

    def __repr__(self) -> str:
        return (f"VideoReader({self.path!r}, {self.num_frames} frames @ {self.fps:.3f} fps, "
                f"{self.width}x{self.height})")

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
        try:
            frames = self._vr.get_batch(idx.tolist()).asnumpy()
        except Exception as e:
            raise VideoReadError(self.path, f"decoding frames {int(idx.min())}..{int(idx.max())} "
                                 f"failed: {_short(e)}") from None
        if frames.shape[0] != idx.size:
            raise VideoReadError(self.path, f"asked for {idx.size} frames, decoder gave {frames.shape[0]}")
        return frames

    def read_at_fps(self, target_fps: float) -> tuple:
        """``(indices int64[K], frames uint8[K, H, W, 3])`` sampled at ``target_fps``."""
        idx = self.sample_indices(target_fps)
        return idx, self.get_frames(idx)


def _short(e: BaseException) -> str:
    """First line of a decoder error, without decord's "[hh:mm:ss] source.cc:123: " prefix."""
    text = str(e).strip().splitlines()
    line = text[0] if text else type(e).__name__
    return re.sub(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: (Error: )?", "", line)[:300]


_CONTAINERS = {"mkv": "matroska", "mp4": "mp4", "mov": "mov", "avi": "avi", "webm": "webm"}


def write_video(path: str, frames: np.ndarray, fps: float, codec: str = "libx264",
                crf: int = 18) -> None:
    """Encode ``uint8[T, H, W, 3]`` RGB frames to ``path`` with PyAV (H.264 by default).

    Width and height must be even for H.264 with yuv420p. The container follows the file's
    suffix (.mp4, .mkv, .mov, .avi, .webm). The file is written atomically. Note: decord 0.6 fails
    to decode some very small sizes (seen: 48x32); tests use 64x48 or larger.
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
    rate = fractions.Fraction(fps).limit_denominator(1001)
    suffix = os.path.splitext(path)[1].lstrip(".").lower() or "mp4"
    container_format = _CONTAINERS.get(suffix, suffix)
    with atomic_write(path, "wb") as f:
        with av.open(f, mode="w", format=container_format) as container:
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": str(crf), "preset": "veryfast"}
            for frame in frames:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
