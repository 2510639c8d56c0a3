"""Batching: videos with all their sentences, tokenized, plus the IoU target maps."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Sequence

import torch

from stvg.text import tokenize

from ..maps import iou_map
from .dataset import VideoSample

__all__ = ["MomentBatch", "MomentCollator"]


@dataclass
class MomentBatch:
    """B videos, S sentences in total.

    feats ``FloatTensor[B, NUM_PRE_CLIPS, D]``; input_ids / attention_mask ``LongTensor[S, L]``;
    sent_video ``LongTensor[S]`` (batch index of each sentence's video); iou_targets
    ``FloatTensor[S, N, N]`` (temporal IoU of each cell with the sentence's moment); gt_segments
    ``FloatTensor[S, 2]`` seconds; durations ``FloatTensor[B]``; video_ids (B), sentence_index
    ``LongTensor[S]`` (position in the video's annotation list), sentences (S)."""

    feats: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    sent_video: torch.Tensor
    iou_targets: torch.Tensor
    gt_segments: torch.Tensor
    durations: torch.Tensor
    video_ids: List[str]
    sentence_index: torch.Tensor
    sentences: List[str]

    def to(self, device: Any, non_blocking: bool = False) -> "MomentBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.to(device, non_blocking=non_blocking)
        return MomentBatch(**moved)

    def pin_memory(self) -> "MomentBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for k, v in moved.items():
            if isinstance(v, torch.Tensor):
                moved[k] = v.pin_memory()
        return MomentBatch(**moved)


class MomentCollator:
    """``collate_fn`` for :class:`~temporal.data.MomentDataset`.

    Args:
        tokenizer: a transformers tokenizer (``temporal.model.build_tokenizer(cfg.MODEL)``).
        num_clips: N of the moment map. max_len: longest token sequence kept (``DATASET.MAX_SENT_LEN``;
            0 = no truncation).
    """

    def __init__(self, tokenizer, num_clips: int, max_len: int = 0) -> None:
        self.tokenizer, self.num_clips, self.max_len = tokenizer, num_clips, max_len

    def __call__(self, samples: Sequence[VideoSample]) -> MomentBatch:
        sentences = [s for v in samples for s in v.sentences]
        input_ids, attention_mask = tokenize(self.tokenizer, sentences, self.max_len,
                                             source=",".join(v.video_id for v in samples))
        segs = torch.cat([v.segments for v in samples])
        sent_video = torch.cat([torch.full((len(v.sentences),), b, dtype=torch.long)
                                for b, v in enumerate(samples)])
        targets = torch.stack([iou_map(tuple(seg.tolist()), v.duration, self.num_clips)
                               for v in samples for seg in v.segments])
        return MomentBatch(
            feats=torch.stack([v.feats for v in samples]),
            input_ids=input_ids,
            attention_mask=attention_mask,
            sent_video=sent_video,
            iou_targets=targets,
            gt_segments=segs,
            durations=torch.tensor([v.duration for v in samples], dtype=torch.float32),
            video_ids=[v.video_id for v in samples],
            sentence_index=torch.tensor([k for v in samples for k in v.sentence_index], dtype=torch.long),
            sentences=sentences,
        )
