"""Tube-mode batching: the tubes and sentences of B videos, and the st-IoU target of every
(sentence, tube of its video) pair (from the dataset), in the pair order of
:class:`temporal.tube_mmn.TubeMMN`."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, List, Sequence

import torch

from stvg.structures import Tube
from stvg.text import tokenize

from .tube_dataset import TubeSample

__all__ = ["TubeBatch", "TubeCollator"]


@dataclass
class TubeBatch:
    """B videos, K tubes, S sentences, Q (sentence, tube) pairs in total.

    tube_feats ``FloatTensor[K, NUM_PRE_CLIPS, D]``; tube_video ``LongTensor[K]`` (batch index of each
    tube's video); tube_lengths ``LongTensor[K]`` (boxes per tube); input_ids / attention_mask
    ``LongTensor[S, L]``; sent_video ``LongTensor[S]``; pair_sent, pair_tube ``LongTensor[Q]``: every
    tube of each sentence's video, grouped by sentence, tubes in increasing index (the order of
    ``TubeMMN``'s outputs); iou_targets ``FloatTensor[Q, N, N]`` st-IoU of each pair's cells with its
    sentence's ground-truth tube; gt_segments ``FloatTensor[S, 2]`` seconds; video_ids (B);
    sentence_index ``LongTensor[S]``; sentences (S); tubes (K) and gt_tubes (S): CPU
    :class:`~stvg.structures.Tube` lists, never moved."""

    tube_feats: torch.Tensor
    tube_video: torch.Tensor
    tube_lengths: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    sent_video: torch.Tensor
    pair_sent: torch.Tensor
    pair_tube: torch.Tensor
    iou_targets: torch.Tensor
    gt_segments: torch.Tensor
    video_ids: List[str]
    sentence_index: torch.Tensor
    sentences: List[str]
    tubes: List[Tube]
    gt_tubes: List[Tube]

    def _map(self, fn) -> "TubeBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return TubeBatch(**{k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})

    def to(self, device: Any, non_blocking: bool = False) -> "TubeBatch":
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "TubeBatch":
        return self._map(lambda t: t.pin_memory())


class TubeCollator:
    """``collate_fn`` for :class:`~temporal.data.TubeDataset`.

    Args:
        tokenizer: a transformers tokenizer. max_len: ``DATASET.MAX_SENT_LEN`` (0 = no truncation).
    """

    def __init__(self, tokenizer, max_len: int = 0) -> None:
        self.tokenizer, self.max_len = tokenizer, max_len

    def __call__(self, samples: Sequence[TubeSample]) -> TubeBatch:
        sentences = [s for v in samples for s in v.sentences]
        input_ids, attention_mask = tokenize(self.tokenizer, sentences, self.max_len,
                                             source=",".join(v.video_id for v in samples))
        tubes = [t for v in samples for t in v.tubes]
        first = [0]
        for v in samples:
            first.append(first[-1] + len(v.tubes))
        pair_sent, pair_tube = [], []
        s = 0
        for b, v in enumerate(samples):
            for _ in v.gt_tubes:
                pair_sent.extend([s] * len(v.tubes))
                pair_tube.extend(range(first[b], first[b + 1]))
                s += 1
        return TubeBatch(
            tube_feats=torch.cat([v.feats for v in samples]),
            tube_video=torch.cat([torch.full((len(v.tubes),), b, dtype=torch.long) for b, v in enumerate(samples)]),
            tube_lengths=torch.tensor([len(t) for t in tubes], dtype=torch.long),
            input_ids=input_ids,
            attention_mask=attention_mask,
            sent_video=torch.cat([torch.full((len(v.sentences),), b, dtype=torch.long)
                                  for b, v in enumerate(samples)]),
            pair_sent=torch.tensor(pair_sent, dtype=torch.long),
            pair_tube=torch.tensor(pair_tube, dtype=torch.long),
            iou_targets=torch.cat([v.iou_targets.flatten(0, 1) for v in samples]),
            gt_segments=torch.cat([v.gt_segments for v in samples]),
            video_ids=[v.video_id for v in samples],
            sentence_index=torch.tensor([k for v in samples for k in v.sentence_index], dtype=torch.long),
            sentences=sentences,
            tubes=tubes,
            gt_tubes=[g for v in samples for g in v.gt_tubes],
        )
