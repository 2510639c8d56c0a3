"""Decoding for feature extraction: one video -> resized uint8 frames at the sampling fps.

:class:`VideoDecodeDataset` wraps :func:`decode_video` for a ``DataLoader`` so that worker
processes decode the next videos while the backbone runs. A video that cannot be read comes back
as a :class:`DecodedVideo` with ``error`` set (never an exception that would stop the loader).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..video import VideoReader

__all__ = ["DecodedVideo", "decode_video", "VideoDecodeDataset"]


@dataclass
class DecodedVideo:
    """``frames``: uint8[K, h, w, 3] transformed; ``frame_indices``: int64[K] 0-based decoded-frame
    indices; ``fps``/``num_frames``/``width``/``height`` describe the source video. On failure
    ``error`` holds the reason and the other fields are empty."""

    video_id: str
    frames: Optional[torch.Tensor] = None
    frame_indices: Optional[np.ndarray] = None
    fps: float = 0.0
    num_frames: int = 0
    width: int = 0
    height: int = 0
    error: Optional[str] = None

    def pin_memory(self) -> "DecodedVideo":
        """Called by ``DataLoader(pin_memory=True)``: page-locked frames for a fast copy to the GPU."""
        if self.frames is not None:
            self.frames = self.frames.pin_memory()
        return self


def decode_video(video_id: str, path: str, sample_fps: float, transform: Callable,
                 decode_threads: int = 1, chunk: int = 32) -> DecodedVideo:
    """Decode ``path`` at ``sample_fps`` in chunks of ``chunk`` frames, transforming each chunk.

    Raises ``FileNotFoundError`` / :class:`stvg.video.VideoReadError` for unreadable files.
    """
    reader = VideoReader(path, num_threads=decode_threads)
    idx = reader.sample_indices(sample_fps)
    if idx.size == 0:  # cannot happen for a readable video, but say so rather than crash later
        raise ValueError(f"{path}: no frame sampled at {sample_fps} fps")
    parts = [transform(reader.get_frames(idx[i:i + chunk])) for i in range(0, idx.size, chunk)]
    return DecodedVideo(video_id, torch.cat(parts), idx, reader.fps, reader.num_frames,
                        reader.width, reader.height)


class VideoDecodeDataset(Dataset):
    """Items ``(video_id, path)`` -> :class:`DecodedVideo` (errors recorded, not raised)."""

    def __init__(self, items: Sequence[Tuple[str, str]], sample_fps: float, transform: Callable,
                 decode_threads: int = 1, chunk: int = 32) -> None:
        self.items = list(items)
        self.sample_fps, self.transform = sample_fps, transform
        self.decode_threads, self.chunk = decode_threads, chunk

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> DecodedVideo:
        vid, path = self.items[i]
        try:
            return decode_video(vid, path, self.sample_fps, self.transform, self.decode_threads,
                                self.chunk)
        except Exception as e:  # one broken video must never stop the run: report it instead
            return DecodedVideo(vid, error=f"{type(e).__name__}: {e}")


def worker_init(_: int) -> None:
    """Keep each decode worker to one torch thread (the backbone owns the cores)."""
    torch.set_num_threads(1)


def first(batch):
    """``collate_fn`` for ``batch_size=None``: the item itself."""
    return batch
