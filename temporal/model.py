"""MMN (Mutual Matching Network): video moment map and sentence in a joint space.

``MMN(cfg.MODEL)`` follows the MMN description (docs/temporal.md, "Steps") step by step:
feature pool -> sparse 2D moment map -> masked proposal conv stack -> two 1x1 projections (contrastive,
IoU); text encoder -> mean pool -> LayerNorm -> two heads; cosine scores; test-time fusion
``((cos_con * 0.5 + 0.5) ** CONTRASTIVE_SCORE_POW) * iou_score``.
No module holds a device: everything follows the inputs (move the model with ``.to(device)``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .maps import moment_map, valid_mask
from .modules import FeaturePool, ProposalConv, TextEncoder, build_tokenizer

__all__ = ["MMN", "MMNOutput", "build_tokenizer"]


@dataclass
class MMNOutput:
    """Outputs of :meth:`MMN.forward` (B videos, S sentences, C = JOINT_DIM, N = NUM_CLIPS).

    map_con: ``Tensor[B, C, N, N]`` contrastive video map, L2-normalised over C at every cell.
    map_iou: ``Tensor[B, C, N, N]`` IoU-branch video map, L2-normalised over C.
    sent_con: ``Tensor[S, C]`` contrastive sentence embeddings, L2-normalised.
    sent_iou: ``Tensor[S, C]`` IoU-branch sentence embeddings, L2-normalised.
    iou_scores: ``Tensor[S, N, N]`` sigmoid(IOU_SCALE * cos(sent_iou, own video's map_iou)), 0 outside mask.
    con_scores: ``Tensor[S, N, N]`` cos(sent_con, own video's map_con), 0 outside mask.
    mask: ``BoolTensor[N, N]`` valid cells.
    sent_video: ``LongTensor[S]`` index in the batch of each sentence's video.
    """

    map_con: torch.Tensor
    map_iou: torch.Tensor
    sent_con: torch.Tensor
    sent_iou: torch.Tensor
    iou_scores: torch.Tensor
    con_scores: torch.Tensor
    mask: torch.Tensor
    sent_video: torch.Tensor


class MMN(nn.Module):
    """The MMN network, configured by the ``MODEL`` section of the temporal config.

    Submodules: ``featpool`` (:class:`FeaturePool`), ``proposal_conv`` (:class:`ProposalConv`),
    ``text_encoder`` (:class:`TextEncoder`); buffer ``mask`` (valid cells, not saved).
    """

    def __init__(self, model_cfg, text_backbone: nn.Module = None):
        super().__init__()
        self.cfg = model_cfg
        self.num_clips = int(model_cfg.NUM_CLIPS)
        self.pooling_counts = [int(c) for c in model_cfg.POOLING_COUNTS]
        self.iou_scale = float(model_cfg.IOU_SCALE)
        self.score_pow = float(model_cfg.CONTRASTIVE_SCORE_POW)
        mask = valid_mask(self.num_clips, self.pooling_counts)
        self.register_buffer("mask", mask, persistent=False)
        self.featpool = FeaturePool(int(model_cfg.FEAT_DIM), int(model_cfg.HIDDEN), int(model_cfg.NUM_PRE_CLIPS),
                                    self.num_clips, int(model_cfg.POOL_KERNEL))
        bands = int(model_cfg.PROPOSAL_CONV_BANDS)
        self.proposal_conv = ProposalConv(int(model_cfg.HIDDEN), int(model_cfg.JOINT_DIM), int(model_cfg.CONV_KERNEL),
                                          int(model_cfg.CONV_LAYERS), mask, dense=bands <= 0, num_bands=max(1, bands))
        self.text_encoder = TextEncoder(model_cfg, text_backbone)
        self._tokenizer = None

    # ------------------------------------------------------------------------------------------
    @property
    def tokenizer(self):
        """The tokenizer of ``MODEL.TOKENIZER`` (or ``MODEL.TEXT_ENCODER``), loaded on first use."""
        if self._tokenizer is None:
            self._tokenizer = build_tokenizer(self.cfg)
        return self._tokenizer

    def video_maps(self, feats: torch.Tensor):
        """``Tensor[B, NUM_PRE_CLIPS, FEAT_DIM] -> (map_con, map_iou)``, raw (not normalised) ``[B, C, N, N]``."""
        clips = self.featpool(feats)                          # [B, H, N]
        map2d = moment_map(clips, self.pooling_counts)        # [B, H, N, N]
        return self.proposal_conv(map2d)

    def forward(self, feats: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                sent_video: torch.Tensor) -> MMNOutput:
        """Args:
            feats: ``Tensor[B, NUM_PRE_CLIPS, FEAT_DIM]`` resampled clip features.
            input_ids, attention_mask: ``LongTensor[S, L]`` tokenised sentences of the whole batch.
            sent_video: ``LongTensor[S]`` video index (0..B-1) of each sentence.
        Returns: :class:`MMNOutput`.
        """
        if sent_video.dim() != 1 or sent_video.numel() != input_ids.shape[0]:
            raise ValueError(f"sent_video must be [S={input_ids.shape[0]}], got {tuple(sent_video.shape)}")
        b = feats.shape[0]
        if sent_video.numel() and (int(sent_video.min()) < 0 or int(sent_video.max()) >= b):
            raise ValueError(f"sent_video values must be in [0, {b}), got {sent_video.tolist()}")
        map_con, map_iou = self.video_maps(feats)
        sent_con, sent_iou = self.text_encoder(input_ids, attention_mask)
        map_con = F.normalize(map_con, dim=1)
        map_iou = F.normalize(map_iou, dim=1)
        sent_con = F.normalize(sent_con, dim=1)
        sent_iou = F.normalize(sent_iou, dim=1)
        mask = self.mask
        cos_iou = own_video_cosine(sent_iou, map_iou, sent_video)
        cos_con = own_video_cosine(sent_con, map_con, sent_video)
        iou_scores = torch.sigmoid(self.iou_scale * cos_iou) * mask
        con_scores = cos_con * mask
        return MMNOutput(map_con, map_iou, sent_con, sent_iou, iou_scores, con_scores, mask, sent_video)

    def test_scores(self, out: MMNOutput) -> torch.Tensor:
        """``Tensor[S, N, N]`` final scores ``((con * 0.5 + 0.5) ** CONTRASTIVE_SCORE_POW) * iou``, 0 outside the mask.

        The base is clamped at 0 so that a cosine rounded just below -1 cannot give NaN.
        """
        base = (out.con_scores.float() * 0.5 + 0.5).clamp(min=0)
        return (base ** self.score_pow) * out.iou_scores.float() * out.mask


def own_video_cosine(sent: torch.Tensor, maps: torch.Tensor, sent_video: torch.Tensor) -> torch.Tensor:
    """``sent: Tensor[S, C]``, ``maps: Tensor[B, C, N, N]``, ``sent_video: LongTensor[S]`` ->
    ``Tensor[S, N, N]``: dot product of each sentence with every cell of its own video's map.

    Computed as all (sentence, video) pairs, then the own video picked: one batched matmul, no host
    synchronisation; the extra work (S x B x N^2 x C) is negligible next to the proposal convs."""
    b, c, n, _ = maps.shape
    pairs = torch.matmul(sent[None], maps.flatten(2))                 # [B, S, N*N]
    own = pairs[sent_video, torch.arange(sent.shape[0], device=sent.device)]
    return own.view(-1, n, n)
