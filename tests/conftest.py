"""Shared fixtures. Tests are CPU-only and offline; GPU tests skip when no GPU is present."""
from __future__ import annotations

import os
import pathlib
import sys

import numpy as np
import pytest
import torch

REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # tests import helpers as ``tests.<pkg>.<module>``
    sys.path.insert(0, str(REPO))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(1)  # see the Makefile: small ops, no thread-pool contention


def _shared_data_dir() -> pathlib.Path:
    env = os.environ.get("STVG_SHARED_DATA")
    return pathlib.Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> pathlib.Path:
    """``../shared/data`` (or $STVG_SHARED_DATA): real annotation files; skips when absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not present at {path} (only in the development checkout)")
    return path


@pytest.fixture
def make_video(tmp_path):
    """Factory: ``make_video(name, frames uint8[T,H,W,3] or None, fps=10, num_frames=20, size=(64, 48))``
    writes an H.264 mp4 under tmp_path and returns its path. With frames None, draws a moving
    square on a gradient so consecutive frames differ."""
    from stvg.video import write_video

    def _make(name="clip.mp4", frames=None, fps=10.0, num_frames=20, size=(64, 48)):
        if frames is None:
            w, h = size
            frames = np.zeros((num_frames, h, w, 3), dtype=np.uint8)
            frames[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, None, :]
            for t in range(num_frames):
                x = (t * 3) % max(1, w - 8)
                frames[t, h // 4: h // 4 + 8, x: x + 8] = 255
        path = tmp_path / name
        write_video(str(path), frames, fps)
        return path

    return _make


requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
