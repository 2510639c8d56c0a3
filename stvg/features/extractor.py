"""One video's features from one backbone pass: clip features ``[T, D]`` and per-tube RoI features.

    ex = FeatureExtractor.from_config(cfg, device="cuda")
    out = ex.extract_video("clip.mp4", tubes=[tube, ...])
    out.features        # float32[T, D] clip features (the temporal stage's input)
    out.roi_features    # float32[N, S, C] per tube, S = ROI.NUM_SEGMENTS (frame backbones only)

Frame backbones: every sampled frame gives a feature map and its average; clip t's feature is the
mean of the vectors of its real frames. Clip backbones: clip t is its ``CLIPS.LEN`` frames (padded
by repeating the last frame). RoI features: for each tube, the sampled frames inside its span; on
each, ``torchvision.ops.roi_align`` of the tube's box on the frame's feature map (the last stage's,
or stage ``ROI.STAGE``'s), averaged to a vector per box, or with ``ROI.PARTS`` P > 1 to one vector
per horizontal stripe of the box (P stripes of equal height, top first, concatenated: ``C`` = the
stage's channels x P, :func:`stvg.features.defaults.roi_feature_dim`; the box is pooled on a grid
of P x r rows, r = max(1, round(OUTPUT_SIZE / P)), by ``OUTPUT_SIZE`` columns, and stripe k is the
mean of rows k r to (k + 1) r - 1: P = 1 is the ``OUTPUT_SIZE``^2 grid); the tube's rows are then pooled over time into
``ROI.NUM_SEGMENTS`` segments (:func:`stvg.features.clips.pool_segments`). A tube that covers no
sampled frame uses the sampled frame nearest to its middle, with its own box nearest to that frame.
With a crop net (``ROI.CROP_NET``, :mod:`stvg.features.crop_net`), each box's crop on its sampled
frame and the one before is embedded by the net, and the embedding is appended to the box's row
before the pooling over time (``C`` grows by :data:`stvg.features.crop_net.EMBED_DIM`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..backbones import Backbone, build_backbone
from ..config import Config, ConfigError
from ..structures import Tube
from .clips import clip_positions, clip_real_ranges, pool_segments
from .crop_net import CropNet, person_crops
from .decode import DecodedVideo, decode_video
from .defaults import roi_feature_dim, roi_stage
from .preprocess import build_transform

__all__ = ["VideoFeatures", "FeatureExtractor", "tube_samples"]


@dataclass
class VideoFeatures:
    """``features`` float32[T, D]; ``frame_indices`` int64[K] sampled decoded frames;
    ``clip_frames`` int64[T, 2] first and last (inclusive) real decoded frame of each clip;
    ``roi_features`` float32[N, S, C] or None; source video ``fps``/``num_frames``/``width``/``height``;
    ``sample_fps`` the rate asked for (``INPUT.SAMPLE_FPS``), ``sample_fps_actual`` the rate the
    frames were sampled at (K / the video's duration: below ``sample_fps`` when the video has fewer
    frames per second); ``salvaged`` ``(frames kept, frames in the header)`` for a file cut short."""

    features: np.ndarray
    frame_indices: np.ndarray
    clip_frames: np.ndarray
    fps: float
    num_frames: int
    width: int
    height: int
    roi_features: Optional[np.ndarray] = None
    sample_fps: float = 0.0
    sample_fps_actual: float = 0.0
    salvaged: Optional[Tuple[int, int]] = None


def tube_samples(tube: Tube, frame_indices: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(positions int64[n], boxes float32[n, 4])``: the sampled frames a tube covers, its boxes there."""
    frames = tube.frames.cpu().numpy()
    boxes = tube.boxes.cpu().numpy()
    if frames.size == 0:
        raise ValueError("empty tube (no frames)")
    pos = np.nonzero(np.isin(frame_indices, frames))[0]
    if pos.size == 0:
        mid = (frames[0] + frames[-1]) / 2.0
        pos = np.array([int(np.argmin(np.abs(frame_indices - mid)))])
        j = np.array([int(np.argmin(np.abs(frames - frame_indices[pos[0]])))])
    else:
        j = np.searchsorted(frames, frame_indices[pos])
    return pos.astype(np.int64), boxes[j].astype(np.float32)


class FeatureExtractor:
    """Backbone + preprocessing + clip layout for one extraction setting (see module docstring)."""

    def __init__(self, backbone: Backbone, cfg: Config, crop_net: Optional[CropNet] = None) -> None:
        """``crop_net``: the net of ``ROI.CROP_NET`` (required when it is set; :meth:`from_config`
        reads it from the file the config names)."""
        self.backbone, self.cfg = backbone, cfg
        if bool(cfg.ROI.CROP_NET) != (crop_net is not None):
            raise ConfigError("ROI.CROP_NET is set but no crop net was given" if crop_net is None
                              else "a crop net was given but ROI.CROP_NET is not set")
        self.crop_net = crop_net.to(backbone.device).eval() if crop_net is not None else None
        self.transform = build_transform(cfg, backbone.kind, backbone.resize_size, backbone.crop_size)
        self.clip_len = int(cfg.CLIPS.LEN)
        self.clip_stride = int(cfg.CLIPS.STRIDE) or self.clip_len
        need = backbone.spec.fixed_clip_len
        if need is not None and self.clip_len != need:
            raise ConfigError(f"{backbone.name} takes clips of exactly {need} frames: set CLIPS.LEN {need}")
        if crop_net is not None and backbone.kind != "frame":
            raise ConfigError(f"ROI.CROP_NET needs a frame backbone (RoI features), not the clip model {backbone.name}")
        if backbone.kind == "frame":
            self.roi_stage, self.roi_dim = roi_stage(cfg), roi_feature_dim(cfg)
        else:
            self.roi_stage, self.roi_dim = None, 0

    @classmethod
    def from_config(cls, cfg: Config, device=None) -> "FeatureExtractor":
        from .crop_net import load_crop_net

        bb = build_backbone(cfg.BACKBONE.NAME, cfg.BACKBONE.WEIGHTS, device=None,
                            amp=cfg.BACKBONE.AMP, seed=cfg.BACKBONE.SEED)
        net = load_crop_net(cfg.ROI.CROP_NET) if cfg.ROI.CROP_NET else None
        return cls(bb.to(torch.device(device) if device is not None else "cpu"), cfg, net)

    @property
    def feature_dim(self) -> int:
        """``D`` of the clip features."""
        return self.backbone.feature_dim

    def pool_boxes(self, fmap: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """``float[n, C]`` RoI vectors (C = :attr:`roi_dim`) of ``rois float[n, 5]`` (batch index,
        x1, y1, x2, y2 in map cells) on ``fmap float[B, C_k, h, w]`` (see the module docstring)."""
        from torchvision.ops import roi_align

        parts, size = int(self.cfg.ROI.PARTS), int(self.cfg.ROI.OUTPUT_SIZE)
        rows = max(1, round(size / parts))
        pooled = roi_align(fmap, rois, (parts * rows, size), spatial_scale=1.0,
                           sampling_ratio=self.cfg.ROI.SAMPLING_RATIO, aligned=True)     # [n, C_k, P r, S]
        n, c = pooled.shape[:2]
        return pooled.view(n, c, parts, rows * size).mean(3).transpose(1, 2).reshape(n, parts * c)

    def progress_total(self, num_sampled: int) -> Tuple[int, str]:
        """What :meth:`extract`'s ``progress`` counts for a video of K sampled frames: ``(total,
        unit)``, frames for frame backbones, clips for clip models."""
        if self.backbone.kind == "frame":
            return int(num_sampled), "frame"
        return int(clip_positions(num_sampled, self.clip_len, self.clip_stride).shape[0]), "clip"

    def decode(self, path: str, video_id: str = "") -> DecodedVideo:
        return decode_video(video_id or str(path), str(path), self.cfg.INPUT.SAMPLE_FPS, self.transform,
                            self.cfg.RUN.DECODE_THREADS, self.cfg.RUN.DECODE_CHUNK)

    def extract_video(self, path: str, tubes: Optional[Sequence[Tube]] = None) -> VideoFeatures:
        """Decode ``path`` and :meth:`extract` it (inference on one video)."""
        return self.extract(self.decode(path), tubes)

    def extract(self, video: DecodedVideo, tubes: Optional[Sequence[Tube]] = None,
                progress: Optional[Callable[[int, int], None]] = None) -> VideoFeatures:
        """Features of an already decoded video (``video.frames`` uint8[K, h, w, 3]);
        ``progress(done, total)`` after each backbone batch (units: :meth:`progress_total`)."""
        if video.error is not None:
            raise ValueError(f"{video.video_id}: not decoded: {video.error}")
        k = int(video.frames.shape[0])
        real = clip_real_ranges(k, self.clip_len, self.clip_stride)
        clip_frames = np.stack([video.frame_indices[real[:, 0]], video.frame_indices[real[:, 1] - 1]], 1)
        if self.backbone.kind == "frame":
            feats, roi = self._frame_pass(video, real, tubes, progress)
        else:
            if tubes:
                raise ValueError(f"RoI features need a frame backbone (resnet18/resnet50), "
                                 f"not the clip model {self.backbone.name}")
            feats, roi = self._clip_pass(video, progress), None
        duration = video.num_frames / video.fps if video.fps > 0 else 0.0
        return VideoFeatures(feats, video.frame_indices.astype(np.int64), clip_frames.astype(np.int64),
                             float(video.fps), int(video.num_frames), int(video.width),
                             int(video.height), roi, float(self.cfg.INPUT.SAMPLE_FPS),
                             k / duration if duration > 0 else 0.0, video.salvaged)

    # ---------------------------------------------------------------------------------------------
    def _clip_pass(self, video: DecodedVideo, progress=None) -> np.ndarray:
        pos = torch.from_numpy(clip_positions(video.frames.shape[0], self.clip_len, self.clip_stride))
        frames = video.frames.to(self.backbone.device, non_blocking=True)
        bs, t = self.cfg.RUN.BATCH_SIZE, pos.shape[0]
        out = []
        for i in range(0, t, bs):
            out.append(self.backbone.encode_clips(frames[pos[i:i + bs].to(frames.device)]))
            if progress is not None:
                progress(min(i + bs, t), t)
        return torch.cat(out).cpu().numpy()

    def _frame_pass(self, video: DecodedVideo, real: np.ndarray, tubes: Optional[Sequence[Tube]],
                    progress=None) -> Tuple[np.ndarray, Optional[np.ndarray]]:
        frames, k = video.frames, video.frames.shape[0]
        stride = self.backbone.spec.stage_stride(self.roi_stage)
        sx = frames.shape[2] / video.width / stride   # source pixels -> map cells
        sy = frames.shape[1] / video.height / stride
        plan: List[Tuple[np.ndarray, np.ndarray]] = []
        for i, tube in enumerate(tubes or ()):
            try:
                plan.append(tube_samples(tube, video.frame_indices))
            except ValueError as e:
                raise ValueError(f"{video.video_id}: tube {i}: {e}") from None
        if plan:
            roi_pos = np.concatenate([p for p, _ in plan])
            src_box = np.concatenate([b for _, b in plan])                        # source pixels
            roi_box = src_box * np.array([sx, sy, sx, sy], np.float32)
            roi_vec = np.zeros((roi_pos.size, self.roi_dim), np.float32)
        vecs = []
        bs = self.cfg.RUN.BATCH_SIZE
        for lo in range(0, k, bs):
            fmap, vec = self.backbone.encode_frames(frames[lo:lo + bs], self.roi_stage if plan else None)
            vecs.append(vec.cpu())
            if plan:
                sel = np.nonzero((roi_pos >= lo) & (roi_pos < lo + bs))[0]
                if sel.size:
                    rois = torch.cat([torch.from_numpy(roi_pos[sel] - lo).float()[:, None],
                                      torch.from_numpy(roi_box[sel])], 1).to(fmap.device)
                    pooled = self.pool_boxes(fmap, rois).cpu().numpy()
                    roi_vec[sel, :pooled.shape[1]] = pooled
            if progress is not None:
                progress(min(lo + bs, k), k)
        if plan and self.crop_net is not None:
            self._crop_rows(video, roi_pos, src_box, roi_vec)
        vec = torch.cat(vecs).numpy()
        feats = np.stack([vec[a:b].mean(axis=0) for a, b in real]).astype(np.float32)
        if not plan:
            return feats, None if tubes is None else np.zeros((0, self.cfg.ROI.NUM_SEGMENTS,
                                                               self.roi_dim), np.float32)
        roi, start = [], 0
        for p, _ in plan:
            roi.append(pool_segments(roi_vec[start:start + p.size], self.cfg.ROI.NUM_SEGMENTS))
            start += p.size
        return feats, np.stack(roi).astype(np.float32)

    def _crop_rows(self, video: DecodedVideo, roi_pos: np.ndarray, src_box: np.ndarray, roi_vec: np.ndarray) -> None:
        """Write the crop net's embeddings of the boxes ``src_box float32[n, 4]`` (source-video
        pixels) on the sampled frames ``roi_pos int64[n]`` into the last columns of ``roi_vec``."""
        frames = video.frames
        boxes = src_box * np.array([frames.shape[2] / video.width, frames.shape[1] / video.height] * 2,
                                            np.float32)
        dim = self.crop_net.head.in_features
        bs = 4 * int(self.cfg.RUN.BATCH_SIZE)
        for lo in range(0, roi_pos.size, bs):
            x = person_crops(frames, torch.from_numpy(roi_pos[lo:lo + bs]), torch.from_numpy(boxes[lo:lo + bs]))
            roi_vec[lo:lo + bs, -dim:] = self.crop_net.embed(x.to(self.backbone.device)).cpu().numpy()
