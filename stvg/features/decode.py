"""Decoding for feature extraction: one video -> resized uint8 frames at the sampling fps.

:class:`VideoDecodeDataset` wraps :func:`decode_video` for a ``DataLoader`` so that worker
processes decode the next videos while the backbone runs. A video that cannot be read comes back
as a :class:`DecodedVideo` with ``error`` set (never an exception that would stop the loader).
:class:`DecodeProgress` tells the main process how far each decoder (a worker or itself) is in
its video, in frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..video import VideoReader

__all__ = ["DecodedVideo", "decode_video", "VideoDecodeDataset", "DecodeProgress"]


@dataclass
class DecodedVideo:
    """``frames``: uint8[K, h, w, 3] transformed; ``frame_indices``: int64[K] 0-based decoded-frame
    indices; ``fps``/``num_frames``/``width``/``height`` describe the source video. On failure
    ``error`` holds the reason and the other fields are empty. ``salvaged``: ``(frames kept, frames
    in the header)`` when the file was cut short and its start was used (``salvage``)."""

    video_id: str
    frames: Optional[torch.Tensor] = None
    frame_indices: Optional[np.ndarray] = None
    fps: float = 0.0
    num_frames: int = 0
    width: int = 0
    height: int = 0
    error: Optional[str] = None
    salvaged: Optional[Tuple[int, int]] = None

    def pin_memory(self) -> "DecodedVideo":
        """Called by ``DataLoader(pin_memory=True)``: page-locked frames for a fast copy to the GPU."""
        if self.frames is not None:
            self.frames = self.frames.pin_memory()
        return self


def decode_video(video_id: str, path: str, sample_fps: float, transform: Callable,
                 decode_threads: int = 1, chunk: int = 32, salvage: Optional[bool] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> DecodedVideo:
    """Decode ``path`` at ``sample_fps`` in chunks of ``chunk`` frames, transforming each chunk;
    ``progress(frames done, frames to decode)`` after each chunk. ``salvage``: see
    :class:`stvg.video.VideoReader` (None: :func:`stvg.video.salvaging`'s setting).

    Raises ``FileNotFoundError`` / :class:`stvg.video.VideoReadError` for unreadable files.
    """
    reader = VideoReader(path, num_threads=decode_threads, salvage=salvage)
    idx = reader.sample_indices(sample_fps)
    if idx.size == 0:  # cannot happen for a readable video, but say so rather than crash later
        raise ValueError(f"{path}: no frame sampled at {sample_fps} fps")
    parts = []
    for i in range(0, idx.size, chunk):
        parts.append(transform(reader.get_frames(idx[i:i + chunk])))
        if progress is not None:
            progress(min(i + chunk, idx.size), int(idx.size))
    return DecodedVideo(video_id, torch.cat(parts), idx, reader.fps, reader.num_frames,
                        reader.width, reader.height, salvaged=reader.salvaged)


class DecodeProgress:
    """How far each decoder is: one slot per DataLoader worker (slot 0 when decoding inline), in
    memory shared with the workers. A worker writes ``(item, frames done, frames total)`` after
    each chunk; the main process reads :meth:`busy`. When decoding inline, ``listener(item, done,
    total)`` is also called directly (in the main process)."""

    def __init__(self, slots: int, listener: Optional[Callable[[int, int, int], None]] = None) -> None:
        import multiprocessing

        self.slots = max(1, int(slots))
        self._a = multiprocessing.Array("q", 3 * self.slots, lock=False)  # item + 1 (0: idle), done, total
        self.listener = listener

    def __getstate__(self):  # the listener (a progress bar) stays in the main process
        return {"slots": self.slots, "_a": self._a, "listener": None}

    def report(self, item: int, done: int, total: int) -> None:
        info = torch.utils.data.get_worker_info()
        slot = 0 if info is None else info.id % self.slots
        a = self._a
        a[3 * slot], a[3 * slot + 1], a[3 * slot + 2] = item + 1, done, total
        if info is None and self.listener is not None:
            self.listener(item, done, total)

    def idle(self) -> None:
        info = torch.utils.data.get_worker_info()
        self._a[3 * (0 if info is None else info.id % self.slots)] = 0

    def busy(self) -> List[Tuple[int, int, int]]:
        """``(item, frames done, frames total)`` of the decoders inside a video now."""
        a = list(self._a)
        return [(a[3 * s] - 1, a[3 * s + 1], a[3 * s + 2]) for s in range(self.slots) if a[3 * s] > 0]


class VideoDecodeDataset(Dataset):
    """Items ``(video_id, path)`` -> :class:`DecodedVideo` (errors recorded, not raised)."""

    def __init__(self, items: Sequence[Tuple[str, str]], sample_fps: float, transform: Callable,
                 decode_threads: int = 1, chunk: int = 32, salvage: bool = False,
                 progress: Optional[DecodeProgress] = None) -> None:
        self.items = list(items)
        self.sample_fps, self.transform = sample_fps, transform
        self.decode_threads, self.chunk = decode_threads, chunk
        self.salvage, self.progress = bool(salvage), progress

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> DecodedVideo:
        vid, path = self.items[i]
        report = None if self.progress is None else (lambda done, total: self.progress.report(i, done, total))
        try:
            return decode_video(vid, path, self.sample_fps, self.transform, self.decode_threads,
                                self.chunk, salvage=self.salvage, progress=report)
        except Exception as e:  # one broken video must never stop the run: report it instead
            return DecodedVideo(vid, error=f"{type(e).__name__}: {e}")
        finally:
            if self.progress is not None:
                self.progress.idle()


def worker_init(_: int) -> None:
    """Keep each decode worker to one torch thread (the backbone owns the cores)."""
    torch.set_num_threads(1)


def first(batch):
    """``collate_fn`` for ``batch_size=None``: the item itself."""
    return batch
