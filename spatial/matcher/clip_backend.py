"""Zero-shot tube matcher: person crops sampled along each tube, scored against the sentence by a
CLIP model from transformers (``CLIPModel`` + ``CLIPProcessor``, a hub name or a local directory).
No training: a user with their own video gets an answer from public weights.

    clip = ClipTubeMatcher("openai/clip-vit-base-patch32", device="cuda")   # or ClipTubeMatcher.from_config(cfg)
    scores = clip.score_video("clip.mp4", tubes, ["the woman in red waves"], window=(40, 90))  # Tensor[Q, N]

Per tube: ``CROPS_PER_TUBE`` frames evenly spaced over the tube's frames inside the window (all its
frames without a window, or when it does not overlap the window); on each, the box enlarged by
``CONTEXT`` of its size on every side and clipped to the frame. Score = mean over the crops of the
cosine between the image and the sentence embeddings (in [-1, 1]); a tube that does not overlap the
window gets ``score - 2`` (below every tube inside it). Sentences longer than the model's text
length are truncated with a warning; an empty sentence is a ``ValueError``.

Loading: a local directory never touches the network; a hub name is looked up in the local cache
first and fetched only when that misses and ``HF_HUB_OFFLINE`` is not set.
"""
from __future__ import annotations

import logging
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from stvg import text
from stvg.engine import resolve_device
from stvg.structures import Tube

__all__ = ["ClipTubeMatcher", "load_clip", "crop_plan", "OUTSIDE_PENALTY"]

log = logging.getLogger(__name__)

OUTSIDE_PENALTY = 2.0


def load_clip(name: str, key: str = "CLIP.MODEL"):
    """``(CLIPModel, CLIPProcessor)`` of ``name`` (hub name or local directory), eval mode."""
    from transformers import CLIPModel, CLIPProcessor

    from stvg.text import load_pretrained

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{key} must name a CLIP model (hub name or local directory), got {name!r}")
    hint = f"Set {key} to a local directory holding CLIPModel.save_pretrained and CLIPProcessor.save_pretrained output"
    model = load_pretrained(CLIPModel, name, "CLIP model", key, hint)
    processor = load_pretrained(CLIPProcessor, name, "CLIP processor", key, hint)
    return model.eval(), processor


def crop_plan(tube: Tube, count: int, window: Optional[Tuple[int, int]], width: int, height: int,
              context: float) -> Tuple[np.ndarray, np.ndarray, bool]:
    """``(frames int64[k], boxes int64[k, 4], inside)``: the frames sampled for a tube's crops, their
    pixel crop boxes (x1, y1, x2, y2, clipped, at least 1 px), and whether the tube overlaps ``window``."""
    frames = tube.frames.cpu().numpy()
    boxes = tube.boxes.cpu().numpy().astype(np.float64)
    if frames.size == 0:
        raise ValueError("empty tube (no frames)")
    inside = True
    if window is not None:
        keep = (frames >= int(window[0])) & (frames <= int(window[1]))
        inside = bool(keep.any())
        if inside:
            frames, boxes = frames[keep], boxes[keep]
    k = min(int(count), frames.size)
    pick = np.unique(np.round(np.linspace(0, frames.size - 1, k)).astype(np.int64))
    b = boxes[pick]
    pad = np.stack([(b[:, 2] - b[:, 0]) * context, (b[:, 3] - b[:, 1]) * context], 1)
    x1 = np.clip(np.floor(b[:, 0] - pad[:, 0]), 0, width - 1)
    y1 = np.clip(np.floor(b[:, 1] - pad[:, 1]), 0, height - 1)
    x2 = np.clip(np.ceil(b[:, 2] + pad[:, 0]), x1 + 1, width)
    y2 = np.clip(np.ceil(b[:, 3] + pad[:, 1]), y1 + 1, height)
    return frames[pick].astype(np.int64), np.stack([x1, y1, x2, y2], 1).astype(np.int64), inside


class ClipTubeMatcher:
    """See the module docstring. ``device``: "auto", "cpu", "cuda", ... (:func:`stvg.engine.resolve_device`)."""

    def __init__(self, model: str, device="auto", crops_per_tube: int = 4, context: float = 0.1,
                 batch_size: int = 32, key: str = "CLIP.MODEL"):
        if int(crops_per_tube) < 1:
            raise ValueError(f"CLIP.CROPS_PER_TUBE must be >= 1, got {crops_per_tube}")
        self.name = model
        self.model, self.processor = load_clip(model, key)
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.crops_per_tube, self.context, self.batch_size = int(crops_per_tube), float(context), int(batch_size)
        self.max_tokens = int(self.model.config.text_config.max_position_embeddings)

    @classmethod
    def from_config(cls, cfg, device=None) -> "ClipTubeMatcher":
        c = cfg.CLIP
        return cls(c.MODEL, device if device is not None else cfg.DEVICE, c.CROPS_PER_TUBE, c.CONTEXT, c.BATCH_SIZE)

    @staticmethod
    def _features(out) -> torch.Tensor:
        return out if isinstance(out, torch.Tensor) else out.pooler_output  # transformers 4 / 5

    @torch.no_grad()
    def encode_sentences(self, sentences: Sequence[str], source: str = "") -> torch.Tensor:
        """``Tensor[Q, D]`` normalised text embeddings."""
        if isinstance(sentences, str):
            raise TypeError("sentences must be a sequence of strings, not one string")
        ids, mask = text.tokenize(self.processor.tokenizer, sentences, self.max_tokens, source=source)
        feats = self._features(self.model.get_text_features(input_ids=ids.to(self.device),
                                                            attention_mask=mask.to(self.device)))
        return F.normalize(feats.float(), dim=-1)

    @torch.no_grad()
    def encode_crops(self, crops: List[np.ndarray]) -> torch.Tensor:
        """``Tensor[M, D]`` normalised image embeddings of uint8 RGB crops ``[h, w, 3]``."""
        out = []
        for lo in range(0, len(crops), self.batch_size):
            pix = self.processor(images=crops[lo:lo + self.batch_size], return_tensors="pt")["pixel_values"]
            out.append(F.normalize(self._features(self.model.get_image_features(
                pixel_values=pix.to(self.device))).float(), dim=-1))
        return torch.cat(out)

    @torch.no_grad()
    def score_frames(self, tubes: Sequence[Tube], get_frames: Callable[[Sequence[int]], np.ndarray],
                     sentences: Sequence[str], width: int, height: int,
                     window: Optional[Tuple[int, int]] = None, video_id: str = "") -> torch.Tensor:
        """``Tensor[Q, N]`` scores; ``get_frames(sorted frame indices) -> uint8[K, H, W, 3]`` RGB."""
        sent = self.encode_sentences(sentences, source=video_id)
        if len(tubes) == 0:
            return torch.zeros(sent.shape[0], 0, device=sent.device)
        plans = []
        for i, t in enumerate(tubes):
            try:
                plans.append(crop_plan(t, self.crops_per_tube, window, int(width), int(height), self.context))
            except ValueError as e:
                raise ValueError(f"{video_id + ': ' if video_id else ''}tube {i}: {e}") from None
        wanted = np.unique(np.concatenate([p[0] for p in plans]))
        frames = get_frames(wanted.tolist())
        if frames.shape[0] != wanted.size:
            raise ValueError(f"{video_id}: asked for {wanted.size} frames, got {frames.shape[0]}")
        row = {int(f): i for i, f in enumerate(wanted)}
        crops, owner = [], []
        for i, (fr, bx, _) in enumerate(plans):
            for f, (x1, y1, x2, y2) in zip(fr, bx):
                crops.append(np.ascontiguousarray(frames[row[int(f)], y1:y2, x1:x2]))
                owner.append(i)
        img = self.encode_crops(crops)                                        # [M, D]
        cos = sent @ img.t()                                                  # [Q, M]
        own = torch.tensor(owner, device=cos.device)
        total = torch.zeros(sent.shape[0], len(tubes), device=cos.device).index_add_(1, own, cos)
        count = torch.bincount(own, minlength=len(tubes)).to(cos.dtype)
        score = total / count
        outside = torch.tensor([not p[2] for p in plans], device=cos.device)
        return score - OUTSIDE_PENALTY * outside.to(score.dtype)[None, :]

    def score_video(self, video_path: str, tubes: Sequence[Tube], sentences: Sequence[str],
                    window: Optional[Tuple[int, int]] = None, video_id: str = "") -> torch.Tensor:
        """:meth:`score_frames` reading the crops' frames from a video file (:class:`stvg.video.VideoReader`)."""
        from stvg.video import VideoReader

        reader = VideoReader(video_path)
        w, h = reader.size
        return self.score_frames(tubes, reader.get_frames, sentences, w, h, window, video_id or video_path)
