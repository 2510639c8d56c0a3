"""The cross-modal tube matcher: person tubes and sentences in one joint space (MMN's idea, applied
to people instead of moments).

Tube side, for ``N`` tubes of ``S`` segments: RoI features ``[N, S, C]`` (LayerNorm, Linear C->H)
plus geometry ``[N, S, G]`` (:mod:`spatial.matcher.geometry`, Linear G->H), summed, GELU; then
``TEMPORAL_LAYERS`` residual blocks (Conv1d over segments, kernel ``KERNEL``, GELU, dropout,
LayerNorm); then the mean over the kept segments; then two heads Linear(H -> J): ``con`` and ``iou``.
Masking: a segment outside the window is zeroed before every layer and left out of the mean, so
nothing outside the window reaches a score (not even through the convolution's receptive field).
With ``MODEL.WINDOW_CONTEXT`` the layers see every segment instead, each with a learned in-window or
out-of-window vector added to its input, and only the mean keeps to the window: the score can then
tell a window that cuts an action short, or runs past it, from one that fits it.
Tubes are encoded independently: other tubes of the batch never change a tube's embedding.

Sentence side: :mod:`stvg.text` encoder, masked mean over tokens, LayerNorm, two MLP heads
(hidden -> H -> J): ``con`` and ``iou``.

Scores (test time, see :meth:`TubeMatcher.fuse`): ``cos_con`` = cosine of the con embeddings;
with ``MODEL.IOU_HEAD`` ``iou = sigmoid(IOU_SCALE * cos_iou)`` (trained to predict the vIoU) and
``score = ((cos_con + 1) / 2) ** SCORE_POW * iou``; without it ``score = (cos_con + 1) / 2``. Both
lie in [0, 1]; a tube that does not overlap the window gets ``score - OUTSIDE_PENALTY``.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Dict, Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from stvg import text
from stvg.checkpoint import load_state_dict, read_checkpoint
from stvg.structures import Tube

from .blocks import ConvBlock
from .defaults import matcher_config_from_dict
from .span import SpanHead, best_runs, segment_frames, segment_lengths
from stvg.tube_geometry import GEOMETRY_DIM, TubeLayout, tube_layout, window_mask

__all__ = ["TubeMatcher", "TubeEncoder", "SentenceEncoder", "build_matcher", "load_matcher"]

log = logging.getLogger(__name__)


def _overrides(model_cfg) -> dict:
    extra = model_cfg.TEXT_CONFIG_OVERRIDES
    if extra is None:
        return {}
    if not hasattr(extra, "items"):
        raise ValueError(f"MODEL.TEXT_CONFIG_OVERRIDES must be a mapping or null, got {extra!r}")
    return dict(extra)


class SentenceEncoder(nn.Module):
    """``(input_ids, attention_mask: LongTensor[Q, L]) -> (con, iou): Tensor[Q, J]`` each (not normalised).

    ``encoder``: the transformers model; ``pooled()`` is its masked mean (what a frozen encoder's
    training run caches), ``heads()`` maps it to the joint space."""

    def __init__(self, model_cfg):
        super().__init__()
        self.encoder = text.build_text_encoder(model_cfg.TEXT_ENCODER, bool(model_cfg.TEXT_ENCODER_PRETRAINED),
                                               model_cfg.TEXT_ENCODER_ARCH, _overrides(model_cfg),
                                               key="MODEL.TEXT_ENCODER", arch_key="MODEL.TEXT_ENCODER_ARCH")
        hidden, h, j = int(self.encoder.config.hidden_size), int(model_cfg.HIDDEN), int(model_cfg.JOINT_DIM)
        self.norm = nn.LayerNorm(hidden)
        self.head_con = nn.Sequential(nn.Linear(hidden, h), nn.GELU(), nn.Linear(h, j))
        self.head_iou = nn.Sequential(nn.Linear(hidden, h), nn.GELU(), nn.Linear(h, j)) \
            if model_cfg.IOU_HEAD else None
        self.frozen = bool(model_cfg.FREEZE_TEXT)
        if self.frozen:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "SentenceEncoder":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()  # a frozen encoder never uses dropout
        return self

    def states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``Tensor[Q, L, hidden]``: the encoder's token states (no gradient when frozen)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``Tensor[Q, hidden]``: mean of the encoder's token states over the real tokens."""
        return text.masked_mean(self.states(input_ids, attention_mask), attention_mask)

    def heads(self, pooled: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        x = self.norm(pooled.float())
        return self.head_con(x), (self.head_iou(x) if self.head_iou is not None else None)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        return self.heads(self.pooled(input_ids, attention_mask))


class TubeEncoder(nn.Module):
    """``(roi Tensor[N, S, C], geometry Tensor[N, S, G], mask BoolTensor[N, S]) -> (con, iou): Tensor[N, J]``.

    Every row of ``mask`` must keep at least one segment."""

    def __init__(self, model_cfg):
        super().__init__()
        c, h, j = int(model_cfg.ROI_DIM), int(model_cfg.HIDDEN), int(model_cfg.JOINT_DIM)
        self.use_appearance, self.use_geometry = bool(model_cfg.USE_APPEARANCE), bool(model_cfg.USE_GEOMETRY)
        self.roi_norm = nn.LayerNorm(c) if self.use_appearance else None
        self.roi_proj = nn.Linear(c, h) if self.use_appearance else None
        self.geo_proj = nn.Linear(GEOMETRY_DIM, h) if self.use_geometry else None
        self.blocks = nn.ModuleList(ConvBlock(h, int(model_cfg.KERNEL), float(model_cfg.DROPOUT))
                                    for _ in range(int(model_cfg.TEMPORAL_LAYERS)))
        self.head_con = nn.Linear(h, j)
        self.head_iou = nn.Linear(h, j) if model_cfg.IOU_HEAD else None
        self.window_flag = nn.Embedding(2, h) if model_cfg.WINDOW_CONTEXT else None   # 0 out, 1 in

    def forward(self, roi: torch.Tensor, geometry: torch.Tensor, mask: torch.Tensor):
        m = mask.to(roi.dtype if roi.is_floating_point() else torch.float32)[..., None]   # [N, S, 1]
        x = 0
        if self.use_appearance:
            x = x + self.roi_proj(self.roi_norm(roi))
        if self.use_geometry:
            x = x + self.geo_proj(geometry)
        if self.window_flag is not None:      # every segment seen, flagged; the mean keeps to the window
            x = x + self.window_flag(mask.long())
            seen = torch.ones_like(m)
        else:
            seen = m
        x = F.gelu(x) * seen
        for block in self.blocks:
            x = block(x, seen)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head_con(pooled), (self.head_iou(pooled) if self.head_iou is not None else None)


class TubeMatcher(nn.Module):
    """Scores person tubes against sentences (see the module docstring), built from a matcher config.

    Submodules: ``text_encoder`` (:class:`SentenceEncoder`; its ``encoder`` is the transformers
    model, state-dict prefix :attr:`encoder_prefix`) and ``tube_encoder`` (:class:`TubeEncoder`).
    Test-time entry points: :meth:`score`, or :meth:`encode_sentences` once and
    :meth:`score_encoded` per video/window."""

    encoder_prefix = "text_encoder.encoder."

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        m = cfg.MODEL
        self.num_segments, self.roi_dim, self.joint_dim = int(m.NUM_SEGMENTS), int(m.ROI_DIM), int(m.JOINT_DIM)
        self.iou_head, self.iou_scale = bool(m.IOU_HEAD), float(m.IOU_SCALE)
        self.score_pow, self.outside_penalty = float(m.SCORE_POW), float(m.OUTSIDE_PENALTY)
        self.max_tokens = int(m.MAX_TOKENS)
        self.text_encoder = SentenceEncoder(m)
        self.tube_encoder = TubeEncoder(m)
        self.span_head = SpanHead(m, int(self.text_encoder.encoder.config.hidden_size)) if m.SPAN_HEAD else None
        self._tokenizer = None

    # -- persistence -------------------------------------------------------------------------------
    @property
    def encoder_reloadable(self) -> bool:
        """True when the text encoder's weights come from ``MODEL.TEXT_ENCODER`` unchanged (frozen
        and pretrained): a model file need not hold them."""
        return bool(self.cfg.MODEL.FREEZE_TEXT and self.cfg.MODEL.TEXT_ENCODER_PRETRAINED)

    def saved_state_dict(self) -> Dict[str, torch.Tensor]:
        """The state dict a checkpoint stores: without ``text_encoder.encoder.*`` when reloadable."""
        sd = self.state_dict()
        if self.encoder_reloadable:
            sd = {k: v for k, v in sd.items() if not k.startswith(self.encoder_prefix)}
        return sd

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            m = self.cfg.MODEL
            self._tokenizer = text.build_tokenizer(m.TOKENIZER or m.TEXT_ENCODER,
                                                   key="MODEL.TOKENIZER" if m.TOKENIZER else
                                                   "MODEL.TOKENIZER (empty: MODEL.TEXT_ENCODER)")
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.tube_encoder.parameters()).device

    # -- embeddings --------------------------------------------------------------------------------
    @property
    def encoded_dim(self) -> int:
        """``J`` of :meth:`encode_sentences`: JOINT_DIM (con), doubled with the IoU head (con | iou)."""
        return self.joint_dim * (2 if self.iou_head else 1)

    def tokenize(self, sentences: Sequence[str], source: str = "") -> Tuple[torch.Tensor, torch.Tensor]:
        """``LongTensor[Q, L]`` ids and mask; empty sentences are an error, long ones truncated (warning)."""
        if isinstance(sentences, str):
            raise TypeError("sentences must be a sequence of strings, not one string")
        return text.tokenize(self.tokenizer, sentences, self.max_tokens, source=source)

    @staticmethod
    def _join(con: torch.Tensor, iou: Optional[torch.Tensor]) -> torch.Tensor:
        con = F.normalize(con.float(), dim=-1)
        return con if iou is None else torch.cat([con, F.normalize(iou.float(), dim=-1)], -1)

    def embed_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``Tensor[Q, J]`` normalised sentence embeddings (con | iou), with gradients when training."""
        return self._join(*self.text_encoder(input_ids, attention_mask))

    def embed_pooled_text(self, pooled: torch.Tensor) -> torch.Tensor:
        """:meth:`embed_text` from cached encoder means ``Tensor[Q, hidden]`` (frozen encoder)."""
        return self._join(*self.text_encoder.heads(pooled))

    def embed_tubes(self, roi: torch.Tensor, geometry: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``Tensor[N, J]`` normalised tube embeddings (con | iou) from ``[N, S, C]``, ``[N, S, G]``, ``[N, S]``."""
        return self._join(*self.tube_encoder(roi, geometry, mask))

    def similarities(self, sent: torch.Tensor, tubes: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """``(cos_con Tensor[Q, N], iou Tensor[Q, N] or None)``: the two branches for all pairs."""
        j = self.joint_dim
        cos_con = sent[:, :j] @ tubes[:, :j].t()
        if not self.iou_head:
            return cos_con, None
        return cos_con, torch.sigmoid(self.iou_scale * (sent[:, j:] @ tubes[:, j:].t()))

    def fuse(self, cos_con: torch.Tensor, iou: Optional[torch.Tensor],
             inside: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Test-time score ``Tensor[Q, N]`` (higher is better; see the module docstring)."""
        base = (cos_con.float() * 0.5 + 0.5).clamp(min=0.0)
        score = base if iou is None else base ** self.score_pow * iou.float()
        if inside is not None:
            score = score - self.outside_penalty * (~inside.to(score.device)).to(score.dtype)[None, :]
        return score

    def forward(self, roi: torch.Tensor, geometry: torch.Tensor, mask: torch.Tensor,
                input_ids: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                pooled: Optional[torch.Tensor] = None, tokens: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
                span_pairs: Optional[Tuple[torch.Tensor, torch.Tensor]] = None):
        """Training pass: ``(sent Tensor[Q, J], tubes Tensor[T, J])`` normalised embeddings of the
        sentences and of the tubes (``roi [T, S, C]``, ``geometry [T, S, G]``, ``mask Bool[T, S]``).
        The sentences come as token ids (``input_ids``, ``attention_mask``) or, for a frozen encoder,
        as cached ``pooled`` encoder means ``Tensor[Q, hidden]`` (and, for the span head, cached
        ``tokens`` = ``(states Tensor[Q, L, hidden], mask BoolTensor[Q, L])``). With ``span_pairs``
        ``(pair_sent LongTensor[P], pair_tube LongTensor[P])`` (``MODEL.SPAN_HEAD``) the span head's
        ``logits Tensor[P, S]`` of those pairs, from the whole tubes, come as a third element."""
        if pooled is None or (span_pairs is not None and tokens is None):
            if input_ids is None or attention_mask is None:
                raise ValueError("forward needs input_ids and attention_mask, or pooled (and tokens for the "
                                 "span head)")
            states = self.text_encoder.states(input_ids, attention_mask)
            pooled = text.masked_mean(states, attention_mask)
            tokens = (states, attention_mask.bool())
        sent = self.embed_pooled_text(pooled)
        tubes = self.embed_tubes(roi, geometry, mask)
        if span_pairs is None:
            return sent, tubes
        if self.span_head is None:
            raise ValueError("span_pairs given but the matcher has no span head (MODEL.SPAN_HEAD false)")
        return sent, tubes, self.span_head(roi, geometry, tokens[0], tokens[1], *span_pairs)

    # -- test time ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Eval mode inside the block, the previous mode after (no module walk when already in eval)."""
        was = self.training
        if was:
            self.eval()
        try:
            yield
        finally:
            if was:
                self.train(True)

    @torch.no_grad()
    def encode_sentences(self, sentences: Sequence[str], source: str = "") -> torch.Tensor:
        """``Tensor[Q, J]`` (J = :attr:`encoded_dim`) for :meth:`score_encoded`; eval mode, no grad."""
        with self.eval_mode():
            ids, mask = self.tokenize(sentences, source)
            return self.embed_text(ids.to(self.device), mask.to(self.device))

    def check_roi(self, roi_features, num_tubes: int, video_id: str = "") -> torch.Tensor:
        """``roi_features`` as float32 ``Tensor[N, S, C]`` on the model's device, or ``ValueError``
        naming the video (and the tube) when the count, the shape or the values are wrong."""
        where = f"{video_id}: " if video_id else ""
        roi = torch.as_tensor(roi_features)
        want = (num_tubes, self.num_segments, self.roi_dim)
        if roi.dim() == 3 and roi.shape[0] != num_tubes:
            first = f"RoI features missing for tube {roi.shape[0]}" if roi.shape[0] < num_tubes else \
                f"RoI features for tube {num_tubes} and later, which does not exist"
            raise ValueError(f"{where}{first}: {roi.shape[0]} rows of RoI features for {num_tubes} tubes")
        if roi.dim() != 3 or tuple(roi.shape) != want:
            raise ValueError(f"{where}RoI features have shape {tuple(roi.shape)}, expected [N={num_tubes} tubes, "
                             f"S={self.num_segments} (MODEL.NUM_SEGMENTS), C={self.roi_dim} (MODEL.ROI_DIM)]")
        roi = roi.to(self.device, torch.float32)
        bad = ~torch.isfinite(roi).flatten(1).all(1)
        if bool(bad.any()):
            raise ValueError(f"{where}RoI features of tube {int(bad.nonzero()[0])} are not finite")
        return roi

    @torch.no_grad()
    def score_encoded(self, sent: torch.Tensor, tubes: Sequence[Tube], roi_features, frame_indices,
                      width: float, height: float, window: Optional[Tuple[int, int]] = None,
                      num_frames: Optional[int] = None, video_id: str = "") -> torch.Tensor:
        """``Tensor[Q, N]`` fused scores of one video's tubes against sentences already encoded by
        :meth:`encode_sentences` (``sent Tensor[Q, J]``); see :meth:`score` for the other arguments."""
        n = len(tubes)
        if n == 0:
            return torch.zeros(sent.shape[0], 0, device=sent.device)
        roi = self.check_roi(roi_features, n, video_id)
        try:
            layout = tube_layout(tubes, frame_indices, self.num_segments, width, height, num_frames)
        except ValueError as e:
            raise ValueError(f"{video_id + ': ' if video_id else ''}{e}") from None
        return self.score_layout(sent, roi, layout, window)

    @torch.no_grad()
    def score_layout(self, sent: torch.Tensor, roi: torch.Tensor, layout: TubeLayout,
                     window: Optional[Tuple[int, int]] = None) -> torch.Tensor:
        """:meth:`score_encoded` for tubes whose :class:`TubeLayout` is already computed."""
        mask, inside = window_mask(layout, window)
        with self.eval_mode():
            emb = self.embed_tubes(roi.to(self.device, torch.float32), layout.geometry.to(self.device),
                                   mask.to(self.device))
        cos_con, iou = self.similarities(sent.to(self.device).float(), emb)
        return self.fuse(cos_con, iou, inside.to(self.device) if window is not None else None)

    @torch.no_grad()
    def score_own_windows(self, sent: torch.Tensor, roi: torch.Tensor, layout: TubeLayout,
                          windows: torch.Tensor) -> torch.Tensor:
        """``Tensor[Q, N]``: tube n scored for sentence q (``sent Tensor[Q, J]`` of :meth:`encode_sentences`)
        through its own window ``windows[q, n]`` (``int64[Q, N, 2]`` first, last frame): entry (q, n) of
        :meth:`score_layout` with that window, all pairs encoded in one pass."""
        q, n = windows.shape[:2]
        if n == 0:
            return torch.zeros(q, 0)
        masks, insides = [], []
        for qi in range(q):
            for j in range(n):
                mask, inside = window_mask(layout, (int(windows[qi, j, 0]), int(windows[qi, j, 1])))
                masks.append(mask[j])
                insides.append(inside[j])
        rows = torch.arange(n).repeat(q)
        with self.eval_mode():
            emb = self.embed_tubes(roi.to(self.device, torch.float32)[rows.to(self.device)],
                                   layout.geometry.to(self.device)[rows.to(self.device)],
                                   torch.stack(masks).to(self.device))
        pair_sent = sent.to(self.device).float().repeat_interleave(n, 0)
        j = self.joint_dim
        cos_con = (pair_sent[:, :j] * emb[:, :j]).sum(-1)
        iou = torch.sigmoid(self.iou_scale * (pair_sent[:, j:] * emb[:, j:]).sum(-1)) if self.iou_head else None
        score = self.fuse(cos_con[None], None if iou is None else iou[None],
                          torch.stack(insides).to(self.device))[0]
        return score.view(q, n).float().cpu()

    @torch.no_grad()
    def encode_tokens(self, sentences: Sequence[str], source: str = "") -> Tuple[torch.Tensor, torch.Tensor]:
        """``(states Tensor[Q, L, hidden], mask BoolTensor[Q, L])``: the text encoder's token states of
        ``sentences`` (the span head's input), eval mode, on the model's device."""
        with self.eval_mode():
            ids, mask = self.tokenize(sentences, source)
            ids, mask = ids.to(self.device), mask.to(self.device)
            return self.text_encoder.states(ids, mask).float(), mask.bool()

    @torch.no_grad()
    def span_probs(self, tokens: Tuple[torch.Tensor, torch.Tensor], roi: torch.Tensor, layout: TubeLayout) -> torch.Tensor:
        """``Tensor[Q, N, S]`` span-head probabilities of the N tubes' segments for Q sentences
        (``tokens`` of :meth:`encode_tokens`, ``roi [N, S, C]``); needs ``MODEL.SPAN_HEAD``."""
        if self.span_head is None:
            raise ValueError("this matcher has no span head (MODEL.SPAN_HEAD false)")
        states, tmask = tokens
        q, n = states.shape[0], roi.shape[0]
        if n == 0:
            return torch.zeros(q, 0, self.num_segments)
        ps = torch.arange(q).repeat_interleave(n).to(self.device)
        pt = torch.arange(n).repeat(q).to(self.device)
        with self.eval_mode():
            logits = self.span_head(roi.to(self.device, torch.float32), layout.geometry.to(self.device),
                                    states.to(self.device), tmask.to(self.device), ps, pt)
        return torch.sigmoid(logits.float()).view(q, n, -1).cpu()

    @torch.no_grad()
    def span_answers(self, tokens: Tuple[torch.Tensor, torch.Tensor], roi: torch.Tensor, layout: TubeLayout
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Each tube's best run of segments for each sentence (:func:`spatial.matcher.span.best_runs`):
        ``(frames LongTensor[Q, N, 2]`` first and last frame, inclusive, ``value Tensor[Q, N]`` its
        expected vIoU ``)``."""
        prob = self.span_probs(tokens, roi, layout)
        q, n, s = prob.shape
        fr = segment_frames(layout)                                              # [N, S, 2]
        if n == 0:
            return torch.zeros(q, 0, 2, dtype=torch.int64), torch.zeros(q, 0)
        length = segment_lengths(fr).to(prob.dtype)
        a, b, value = best_runs(prob.reshape(q * n, s), length.repeat(q, 1, 1).reshape(q * n, s))
        rows = torch.arange(n).repeat(q)
        frames = torch.stack([fr[rows, a, 0], fr[rows, b, 1]], -1).view(q, n, 2)
        return frames, value.view(q, n)

    @torch.no_grad()
    def score(self, tubes: Sequence[Tube], roi_features, sentences: Sequence[str], frame_indices,
              width: float, height: float, window: Optional[Tuple[int, int]] = None,
              num_frames: Optional[int] = None, video_id: str = "") -> torch.Tensor:
        """Fused test-time scores ``Tensor[Q, N]`` (higher is better) of ``N`` tubes for ``Q`` sentences.

        Args:
            tubes: the video's candidate tubes (0-based frames, pixel boxes).
            roi_features: ``float32[N, S, C]``, row i from tube i (the feature file's ``roi_features``).
            sentences: Q non-empty strings (longer than ``MODEL.MAX_TOKENS`` tokens: truncated, warning).
            frame_indices: ``int64[K]`` sampled frames the RoI features came from.
            width, height: the video's frame size in pixels; num_frames: its frame count.
            window: ``(first, last)`` 0-based inclusive frames (the temporal stage's span): only
                segments inside it are used; tubes outside it rank below every tube inside it.
        Zero tubes give ``Tensor[Q, 0]``. Runs in eval mode without gradients.
        """
        return self.score_encoded(self.encode_sentences(sentences, source=video_id), tubes, roi_features,
                                  frame_indices, width, height, window, num_frames, video_id)


def build_matcher(cfg) -> TubeMatcher:
    """A :class:`TubeMatcher` from a matcher config (:func:`spatial.matcher.load_matcher_config`)."""
    return TubeMatcher(cfg)


def load_matcher(path: str, device=None) -> TubeMatcher:
    """Rebuild a matcher from a checkpoint file alone (``best.pth``/``last.pth``/a model file): its
    ``config`` builds the model, its ``model`` state dict loads strictly (the text encoder's keys may
    be absent when it is frozen and pretrained: they come from ``MODEL.TEXT_ENCODER``)."""
    data = read_checkpoint(path, require=("model", "config"), what="matcher checkpoint")
    cfg = matcher_config_from_dict(data["config"])
    model = build_matcher(cfg)
    ignore = (TubeMatcher.encoder_prefix,) if model.encoder_reloadable else ()
    load_state_dict(model, data["model"], source=path, ignore_missing=ignore)
    model.eval()
    return model.to(device) if device is not None else model
