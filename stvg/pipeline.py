"""End to end: a video and a sentence -> the person's tube. The only stvg module importing both stages.

    predictor = STVGPredictor.from_file("models/stvg_synthetic.pth", device="cpu")
    result = predictor("clip.mp4", "the man in red waves")          # STVGResult
    result.segment, result.frames, result.tube, result.score        # seconds, 0-based frames, Tube
    results = predictor("clip.mp4", ["q1", "q2"], start=30, end=50)  # one decode, two answers

Two pipeline modes, named by the model file's ``mode`` (:attr:`STVGPredictor.mode` dispatches at
:meth:`STVGPredictor.ground`; steps 1-3 are the same, so one :class:`PreparedVideo` serves both).

Steps of mode ``two_stage``:

1. **decode** once: the frames the detector needs (every ``DETECTION.STRIDE``-th frame of the
   section and its last) and the frames the features need (``INPUT.SAMPLE_FPS``), each frame read
   once; the detector sees full-size frames, the backbone resized ones;
2. **detection** + **linking** (spatial stage) -> candidate tubes with a box on every frame of their span;
3. **features**: one backbone pass -> clip features ``[T, D]`` and the tubes' RoI features ``[N, S, C]``;
4. **temporal**: MMN on each window of the section -> score maps -> top moments (NMS);
5. **matcher**: every tube scored through each top moment's window;
6. **join** (:mod:`stvg.join`): the best (moment, tube) pair, with the alternatives.

Mode ``tube_mmn`` (MMN's HC-STVG entry, docs/tube_mmn.md), after steps 1-3:

4. **tube_mmn**: every candidate tube's RoI features ``[S, C]`` (L2-normalised rows resampled to
   ``NUM_PRE_CLIPS``, as in training) make one ``N x N`` map per tube; each sentence is scored on
   every cell of every tube (:meth:`temporal.tube_mmn.TubeMMN.test_scores`, fused test score;
   cells with an empty sub-tube or no frame inside the section are never chosen);
5. **answer**: the best (tube, cell): cell ``(i, j)`` of a tube with ``T`` boxes is its sub-tube of
   boxes ``round(i / N * T)`` to ``round((j + 1) / N * T)`` (:func:`temporal.st_iou.cell_sub_tube`),
   cut to the section, with a box on every frame of its interval. Alternatives: the next best
   (tube, cell) answers after greedy spatio-temporal NMS (an answer whose vIoU with a better one
   exceeds the join option ``NMS_THRESH`` is dropped; the other join options do not apply and
   setting them is refused). A tube's map covers that tube's own span, however long: there are
   no windows in this mode.

Long videos (section longer than ``(1 + WINDOW_TOLERANCE) x`` the window length, which defaults
to the temporal model's training clip length): overlapping windows of that length, ``WINDOW_OVERLAP``
apart, the last one ending at the section's end. **Cross-window rule**: MMN's test score of a cell is
an absolute quantity (a sigmoid-calibrated IoU estimate times a cosine term), not a softmax over the
window, so scores of different windows are compared as they are: each window's top moments (after
NMS) are put in one list in video time, and greedy NMS over that list keeps the best. With 50 %
overlap every moment up to half a window long lies wholly inside some window.

Bad input: a missing file (``FileNotFoundError``), an unreadable video (``VideoReadError``), an
empty query (``ValueError``), a section holding fewer sampled frames than one feature clip
(:class:`VideoTooShortError`), a bad model file (:class:`stvg.model_file.ModelFileError`).
No person detected is not an error: the result has an empty tube and says why in ``reason``.

Batch prediction over an annotation file: :func:`predict_dataset` (one result per video in a
:class:`stvg.store.VideoStore`, resumable, sharded, merged by the last process to finish).
Model files: :func:`assemble_model_file` builds one from trained runs.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .backbones import BACKBONES, build_backbone, weights_label
from .checkpoint import load_state_dict, project_version, read_checkpoint
from .config import Config, ConfigError, load_config
from .data.ids import video_id_of
from .features.decode import DecodedVideo
from .features.defaults import FEATURES_DEFAULTS, SETTINGS_SECTIONS, roi_description, roi_feature_dim
from .features.extractor import FeatureExtractor
from .join import JoinedPair, fill_tube, join_config, join_pairs, join_runs
from .model_file import (FORMAT, FORMAT_VERSION, ModelFileError, file_sha256, portable, read_model_file,
                         state_dict_fingerprint, validate_model_file)
from .ops import nms_1d, segment_iou, tube_viou
from .structures import Segment, Tube
from .submission import tube_to_entry
from .tube_geometry import GEOMETRY_DIM, tube_layout

__all__ = ["STVGPredictor", "STVGResult", "Alternative", "PreparedVideo", "VideoTooShortError",
           "assemble_model_file", "predict_dataset", "check_stages", "stage_configs", "section_windows",
           "result_entry", "prediction_store"]

log = logging.getLogger(__name__)

STAGES = ("decode", "detection", "linking", "features", "temporal", "matcher", "join")
TUBE_STAGES = ("decode", "detection", "linking", "features", "tube_mmn", "answer")
TEMPORAL_TEXT_PREFIX = "text_encoder.encoder."
TUBE_TEXT_PREFIX = "mmn." + TEMPORAL_TEXT_PREFIX  # TubeMMN holds its MMN as ``mmn``
WINDOW_BATCH = 16  # MMN windows per forward pass
TUBE_BATCH = 64  # tubes per TubeMMN forward pass (tube_mmn mode)
TUBE_JOIN_KEYS = ("NMS_THRESH",)  # the join options mode tube_mmn reads


class VideoTooShortError(ValueError):
    """The video (or the asked section) holds fewer sampled frames than one feature clip."""


# =============================================================================================
# Results
# =============================================================================================
@dataclass
class Alternative:
    """Another (interval x tube) answer: ``frames`` (first, last) 0-based inclusive, ``segment``
    seconds, ``tube`` (a box on every frame), ``score`` and its parts, ``tube_index`` into the
    candidates, ``moment`` index into the moments (two_stage; -1 in tube_mmn), ``cell`` the map
    cell ``(i, j)`` of that tube (tube_mmn; None in two_stage)."""

    segment: Segment
    frames: Tuple[int, int]
    tube: Tube
    score: float
    mmn_score: float
    matcher_score: float
    coverage: float
    tube_index: int
    moment: int
    cell: Optional[Tuple[int, int]] = None


@dataclass
class STVGResult:
    """The answer for one sentence (conventions: 0-based frames, x1, y1, x2, y2 pixels, seconds).

    ``segment`` seconds ``[first / fps, (last + 1) / fps)``; ``frames`` ``(first, last)`` inclusive;
    ``tube`` a box on every frame of ``frames`` (empty when ``reason`` says why there is no answer);
    ``score`` the join score; ``alternatives`` the next best pairs; ``score_map`` ``Tensor[W, N, N]``
    MMN test scores per window (0 outside ``score_mask``), ``windows`` their spans in seconds;
    ``moments`` ``Tensor[M, 2]`` seconds, ``moment_frames`` ``int64[M, 2]``, ``moment_scores``
    ``Tensor[M]``; ``candidates`` the tubes and ``matcher_scores`` ``Tensor[M, N]`` (tube n seen
    through moment m's window); ``timings`` seconds per stage and ``total`` for the whole call.

    Mode ``tube_mmn`` (``mode``): ``score`` = ``mmn_score`` the fused tube-MMN score of the answer,
    ``matcher_score`` 0, ``coverage`` 1; ``cell`` its ``(i, j)`` in the map of tube ``tube_index``;
    ``score_map`` ``Tensor[K, N, N]`` one map per candidate tube (0 where a cell cannot be chosen),
    ``windows`` each tube's span in seconds; ``tube_scores`` ``Tensor[K]`` each tube's best cell
    score (-inf: none it can answer with); ``moments`` and ``matcher_scores`` None."""

    video_id: str
    query: str
    segment: Segment
    frames: Tuple[int, int]
    tube: Tube
    score: float
    reason: Optional[str]
    fps: float
    num_frames: int
    width: int
    height: int
    section: Tuple[float, float]
    tube_index: int = -1
    mmn_score: float = 0.0
    matcher_score: float = 0.0
    coverage: float = 0.0
    alternatives: List[Alternative] = field(default_factory=list)
    score_map: Optional[torch.Tensor] = None
    score_mask: Optional[torch.Tensor] = None
    windows: List[Tuple[float, float]] = field(default_factory=list)
    moments: Optional[torch.Tensor] = None
    moment_frames: Optional[torch.Tensor] = None
    moment_scores: Optional[torch.Tensor] = None
    candidates: List[Tube] = field(default_factory=list)
    matcher_scores: Optional[torch.Tensor] = None
    timings: Dict[str, float] = field(default_factory=dict)
    mode: str = "two_stage"
    cell: Optional[Tuple[int, int]] = None
    tube_scores: Optional[torch.Tensor] = None

    @property
    def found(self) -> bool:
        return len(self.tube) > 0

    def entry(self) -> dict:
        """The challenge entry (1-based frame numbers; :func:`result_entry`)."""
        return result_entry(self)

    def to_json(self, boxes: bool = True, score_map: bool = True) -> Dict[str, Any]:
        """A JSON-able dict in the library's conventions, plus ``challenge_entry``
        (``{video id: entry}``, 1-based). ``boxes``: include every box of the answer's tube."""
        def seg(s: Segment) -> List[float]:
            return [round(s.start, 4), round(s.end, 4)]

        out: Dict[str, Any] = {
            "conventions": "frames 0-based, inclusive; boxes x1, y1, x2, y2 in pixels; seconds half-open; "
                           "challenge_entry uses the annotation's 1-based frame numbers",
            "mode": self.mode, "video_id": self.video_id, "query": self.query, "found": self.found,
            "reason": self.reason,
            "segment": seg(self.segment), "frames": list(self.frames), "score": round(self.score, 6),
            "mmn_score": round(self.mmn_score, 6), "matcher_score": round(self.matcher_score, 6),
            "coverage": round(self.coverage, 4), "tube_index": self.tube_index,
            "video": {"fps": self.fps, "num_frames": self.num_frames, "width": self.width, "height": self.height},
            "section": [round(self.section[0], 4), round(self.section[1], 4)],
            "windows": [[round(a, 4), round(b, 4)] for a, b in self.windows],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }
        if self.cell is not None:
            out["cell"] = list(self.cell)
        if boxes:
            out["tube"] = {"frames": self.tube.frames.tolist(),
                           "boxes": np.round(self.tube.boxes.double().numpy(), 2).tolist()}
        out["alternatives"] = [{"segment": seg(a.segment), "frames": list(a.frames), "score": round(a.score, 6),
                                "mmn_score": round(a.mmn_score, 6), "matcher_score": round(a.matcher_score, 6),
                                "coverage": round(a.coverage, 4), "tube_index": a.tube_index,
                                **({"cell": list(a.cell)} if a.cell is not None else {})}
                               for a in self.alternatives]
        if self.moments is not None:
            out["moments"] = [{"segment": [round(float(s), 4), round(float(e), 4)], "frames": [int(a), int(b)],
                               "score": round(float(p), 6)}
                              for (s, e), (a, b), p in zip(self.moments.tolist(), self.moment_frames.tolist(),
                                                           self.moment_scores.tolist())]
        out["candidates"] = [{"index": i, "start_frame": t.start_frame, "end_frame": t.end_frame,
                              "linking_score": None if t.score is None else round(float(t.score), 4),
                              "matcher_scores": ([round(float(v), 4) for v in self.matcher_scores[:, i]]
                                                 if self.matcher_scores is not None else []),
                              **({"tube_mmn_score": _finite_or_none(self.tube_scores[i])}
                                 if self.tube_scores is not None else {})}
                             for i, t in enumerate(self.candidates)]
        if score_map and self.score_map is not None and len(self.score_map):  # tube_mmn without a tube: no map
            out["score_map"] = np.round(self.score_map.double().numpy(), 4).tolist()
            if self.score_mask is not None:
                out["score_mask"] = self.score_mask.int().tolist()
        out["challenge_entry"] = {self.video_id: self.entry()}
        return out


def _finite_or_none(value) -> Optional[float]:
    v = float(value)
    return round(v, 6) if math.isfinite(v) else None


def result_entry(result: STVGResult) -> dict:
    """Challenge entry of a result: the tube's boxes, ``st_frame``/``ed_frame`` the answer's frames
    (1-based). No tube: the interval with no box (valid; it scores vIoU 0)."""
    from .data.frames import index_to_file

    if result.found:
        return tube_to_entry(result.tube, *result.frames)
    return {"st_frame": index_to_file(result.frames[0]), "ed_frame": index_to_file(result.frames[1]), "bbox": {}}


@dataclass
class PreparedVideo:
    """What the stages need of one video, computed once for any number of queries.

    ``section`` seconds and ``section_frames`` (first, last) inclusive; ``features`` float32[T, D]
    raw clip features, ``clip_frames`` int64[T, 2], ``frame_indices`` int64[K] (sampled frames),
    ``tubes`` and ``roi_features`` float32[N, S, C]; ``timings`` of the stages run so far."""

    video_id: str
    fps: float
    num_frames: int
    width: int
    height: int
    section: Tuple[float, float]
    section_frames: Tuple[int, int]
    features: np.ndarray
    clip_frames: np.ndarray
    frame_indices: np.ndarray
    tubes: List[Tube]
    roi_features: np.ndarray
    timings: Dict[str, float] = field(default_factory=dict)
    detector: str = ""
    salvaged: Optional[Tuple[int, int]] = None   # (frames kept, frames in the header): a file cut short
    no_tubes: Optional[Tuple[str, int]] = None    # no tube linked: (spatial.tubes.no_tubes_reason, detections)


# =============================================================================================
# Stage configs from a model file, and the checks that the stages agree
# =============================================================================================
def _config_from(defaults: Mapping, values: Mapping, source: str, overrides: Any = ()) -> Config:
    cfg = load_config(None, defaults, freeze=False)
    cfg.merge(dict(values), source=source)
    if isinstance(overrides, Mapping):
        cfg.merge(dict(overrides), source=f"{source} (overrides)")
    else:
        cfg.merge_from_list(list(overrides))
    return cfg.freeze()


@dataclass
class StageConfigs:
    """Each stage's resolved config; ``matcher`` is None in mode ``tube_mmn``."""

    features: Config
    spatial: Config
    temporal: Config
    matcher: Optional[Config]
    join: Config


def stage_configs(data: Mapping[str, Any], source: str, overrides: Optional[Mapping[str, Any]] = None) -> StageConfigs:
    """Each stage's config from a model file, merged strictly onto that stage's defaults (a key the
    code does not know is an error naming the field). ``overrides``: ``{"features": ..., "spatial":
    ..., "join": ...}``, each a mapping or KEY VALUE list; only ``RUN.*`` of the features may change
    (the rest is what the stages were trained on). Mode ``tube_mmn`` reads only the join options
    :data:`TUBE_JOIN_KEYS`; any other one set to a non-default value is refused."""
    from spatial.defaults import SPATIAL_DEFAULTS
    from spatial.matcher.defaults import MATCHER_DEFAULTS, check_matcher_config
    from temporal.defaults import TEMPORAL_DEFAULTS

    overrides = dict(overrides or {})
    unknown = set(overrides) - {"features", "spatial", "join"}
    if unknown:
        raise ConfigError(f"unknown predictor override(s) {sorted(unknown)}: use features (RUN.* only), "
                          "spatial or join")
    fo = overrides.get("features", ())
    keys = list(fo) if isinstance(fo, Mapping) else list(fo)[0::2]
    bad = [k for k in keys if not str(k).startswith("RUN")]
    if bad:
        raise ConfigError(f"features override {bad[0]!r}: only RUN.* may change (the stages were trained on "
                          "the recorded features)")
    try:
        feats = _config_from(FEATURES_DEFAULTS, data["features"]["config"], f"{source}: features.config", fo)
        spatial = _config_from(SPATIAL_DEFAULTS, data["spatial"]["config"], f"{source}: spatial.config",
                               overrides.get("spatial", ()))
        temporal = _config_from(TEMPORAL_DEFAULTS, data["temporal"]["config"], f"{source}: temporal.config")
        matcher = None
        if "matcher" in data:
            matcher = check_matcher_config(_config_from(MATCHER_DEFAULTS, data["matcher"]["config"],
                                                        f"{source}: matcher.config"))
        join_values = dict(data["join"])
        jo = overrides.get("join", ())
        if isinstance(jo, Mapping):
            join_values.update(jo)
            jo = ()
        join = join_config(join_values, jo, source=f"{source}: join")
    except ConfigError as e:
        raise ModelFileError(str(e)) from None
    if data.get("mode") == "tube_mmn":
        check_tube_join(join, f"{source}: join")
    return StageConfigs(feats, spatial, temporal, matcher, join)


def check_tube_join(join: Mapping[str, Any], source: str) -> None:
    """Mode ``tube_mmn`` reads only :data:`TUBE_JOIN_KEYS`: another join option set to a value other
    than its default would be silently ignored, so it is refused (:class:`ConfigError` naming it)."""
    from .join import JOIN_DEFAULTS

    for key, value in dict(join).items():
        if key not in TUBE_JOIN_KEYS and key in JOIN_DEFAULTS and value != JOIN_DEFAULTS[key]:
            raise ConfigError(f"{source}: join option {key} = {value!r} has no effect in mode tube_mmn (it reads "
                              f"only {', '.join(TUBE_JOIN_KEYS)}: the NMS of its alternatives)")


def check_stages(cfgs: StageConfigs, data: Mapping[str, Any], source: str) -> None:
    """Refuse stages that cannot work together, with a message naming the fields."""
    name = cfgs.features.BACKBONE.NAME
    if name not in BACKBONES:
        raise ModelFileError(f"{source}: features.config.BACKBONE.NAME {name!r} is not a known backbone "
                             f"({', '.join(sorted(BACKBONES))})")
    spec = BACKBONES[name]
    mode = data.get("mode", "two_stage")
    if spec.kind != "frame":
        raise ModelFileError(f"{source}: features.config.BACKBONE.NAME {name} is a clip model; the pipeline "
                             "needs RoI features of the tubes, i.e. a frame backbone (resnet18, resnet50)")
    want_mode = {"two_stage": "moment", "tube_mmn": "tube"}[mode]
    got_mode = cfgs.temporal.MODEL.MODE
    if got_mode != want_mode:
        other = {"moment": "two_stage", "tube": "tube_mmn"}.get(got_mode, "?")
        raise ModelFileError(f"{source}: temporal.config.MODEL.MODE is {got_mode!r} but the model file's mode "
                             f"{mode} needs MODEL.MODE {want_mode!r} (a {got_mode}-mode MMN goes in a {other} "
                             "model file: tools/make_model_file.py --mode)")
    feat_dim = int(cfgs.temporal.MODEL.FEAT_DIM)
    roi_dim, roi_how = roi_feature_dim(cfgs.features), roi_description(cfgs.features)
    if mode == "tube_mmn" and cfgs.temporal.MODEL.TUBE_GEOMETRY:
        want_dim, what = roi_dim + GEOMETRY_DIM, (f"{roi_dim}-d RoI features ({roi_how}) + {GEOMETRY_DIM} geometry "
                                                 "values (temporal.config.MODEL.TUBE_GEOMETRY)")
    elif mode == "tube_mmn":
        want_dim, what = roi_dim, f"{roi_dim}-d RoI features ({roi_how})"
    else:
        want_dim, what = spec.feature_dim, f"{spec.feature_dim}-d features"
    if feat_dim != want_dim:
        raise ModelFileError(f"{source}: stages disagree: temporal.config.MODEL.FEAT_DIM is {feat_dim} but the "
                             f"backbone {name} (features.config.BACKBONE.NAME) gives {what}")
    if cfgs.matcher is not None:
        got = int(cfgs.matcher.MODEL.ROI_DIM)
        if got != roi_dim:
            raise ModelFileError(f"{source}: stages disagree: matcher.config.MODEL.ROI_DIM is {got} but the "
                                 f"backbone {name} gives {roi_dim}-d RoI features ({roi_how})")
        segs, want = int(cfgs.matcher.MODEL.NUM_SEGMENTS), int(cfgs.features.ROI.NUM_SEGMENTS)
        if segs != want:
            raise ModelFileError(f"{source}: stages disagree: matcher.config.MODEL.NUM_SEGMENTS is {segs} but "
                                 f"features.config.ROI.NUM_SEGMENTS is {want}")
    if cfgs.spatial.DETECTOR.NAME == "precomputed":
        raise ModelFileError(f"{source}: spatial.config.DETECTOR.NAME is 'precomputed' (stored detections of "
                             "known videos): a model file needs a detector that runs on any video")
    for part, cfg in (("temporal", cfgs.temporal), ("matcher", cfgs.matcher)):
        if cfg is None:
            continue
        p = data[part]
        recorded = p["text_encoder"]["name"]
        if recorded != cfg.MODEL.TEXT_ENCODER:
            raise ModelFileError(f"{source}: {part}.text_encoder.name {recorded!r} differs from "
                                 f"{part}.config.MODEL.TEXT_ENCODER {cfg.MODEL.TEXT_ENCODER!r}")
        if not p["text_encoder_stored"] and not cfg.MODEL.TEXT_ENCODER_PRETRAINED:
            raise ModelFileError(f"{source}: {part}.text_encoder_stored is false but {part}.config.MODEL."
                                 "TEXT_ENCODER_PRETRAINED is false: a randomly initialised encoder cannot be "
                                 "rebuilt by name; its weights must be stored")


# =============================================================================================
# Building the stages
# =============================================================================================
def _param_fingerprint(module: torch.nn.Module) -> str:
    return state_dict_fingerprint(dict(module.named_parameters()))


def _plain_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def _encoder_from_config(config: Mapping) -> torch.nn.Module:
    """A transformers encoder built offline from its stored config dict (weights come next)."""
    from transformers import AutoConfig, AutoModel

    cfg = {k: v for k, v in config.items() if k not in ("model_type", "transformers_version", "_name_or_path",
                                                          "architectures")}
    return AutoModel.from_config(AutoConfig.for_model(config["model_type"], **cfg))


def _check_text_encoder(encoder: torch.nn.Module, tokenizer, part: Mapping, name: str, source: str) -> None:
    """A reloaded encoder must be the one recorded; every tokenizer id must fit its embeddings."""
    if not part["text_encoder_stored"]:
        want, got = part["text_encoder"]["fingerprint"], _param_fingerprint(encoder)
        if want != got:
            raise ModelFileError(f"{source}: {name}.text_encoder: the encoder {part['text_encoder']['name']!r} "
                                 f"loaded here (fingerprint {got}) is not the one the model was made with "
                                 f"({want}); install the same version of it, or store its weights")
    vocab = int(getattr(encoder.config, "vocab_size", 0) or 0)
    if vocab and len(tokenizer) > vocab:
        raise ModelFileError(f"{source}: {name}: the tokenizer has {len(tokenizer)} tokens but the text encoder "
                             f"embeds only {vocab}: tokenizer and encoder disagree")


def _build_mmn(data: Mapping, cfg: Config, source: str):
    """The temporal model: :class:`temporal.model.MMN` (``MODEL.MODE moment``) or
    :class:`temporal.tube_mmn.TubeMMN` (``MODEL.MODE tube``), in eval mode."""
    from temporal.model import MMN
    from temporal.tube_mmn import TubeMMN

    part = data["temporal"]
    ident = part["text_encoder"]
    backbone = None
    if part["text_encoder_stored"] and cfg.MODEL.TEXT_ENCODER_PRETRAINED and "config" in ident:
        backbone = _encoder_from_config(ident["config"])  # fine-tuned: no need for the original files
    tube = cfg.MODEL.MODE == "tube"
    model = (TubeMMN if tube else MMN)(cfg.MODEL, text_backbone=backbone)
    mmn = model.mmn if tube else model
    ignore = () if part["text_encoder_stored"] else (TUBE_TEXT_PREFIX if tube else TEMPORAL_TEXT_PREFIX,)
    load_state_dict(model, part["model"], source=f"{source}: temporal.model", ignore_missing=ignore)
    _check_text_encoder(mmn.text_encoder.encoder, mmn.tokenizer, part, "temporal", source)
    return model.eval()


def _build_matcher(data: Mapping, cfg: Config, source: str):
    from spatial.matcher import build_matcher
    from spatial.matcher.defaults import check_matcher_config

    part = data["matcher"]
    ident = part["text_encoder"]
    if part["text_encoder_stored"] and cfg.MODEL.TEXT_ENCODER_PRETRAINED and "config" in ident:
        # fine-tuned pretrained encoder: build its architecture from the stored transformers config
        enc = dict(ident["config"])
        changed = cfg.to_dict()
        changed["MODEL"].update(TEXT_ENCODER_PRETRAINED=False, TEXT_ENCODER_ARCH=enc["model_type"],
                                TOKENIZER=cfg.MODEL.TOKENIZER or cfg.MODEL.TEXT_ENCODER,
                                TEXT_CONFIG_OVERRIDES={k: v for k, v in enc.items() if k not in (
                                    "model_type", "transformers_version", "_name_or_path", "architectures")})
        cfg = check_matcher_config(Config(changed).freeze())
    model = build_matcher(cfg)
    ignore = () if part["text_encoder_stored"] else (model.encoder_prefix,)
    load_state_dict(model, part["model"], source=f"{source}: matcher.model", ignore_missing=ignore)
    _check_text_encoder(model.text_encoder.encoder, model.tokenizer, part, "matcher", source)
    return model.eval()


def _build_extractor(data: Mapping, cfg: Config, source: str, device: torch.device) -> FeatureExtractor:
    bb_info = data["features"]["backbone"]
    b = cfg.BACKBONE
    if bb_info["weights"] == "stored":
        bb = build_backbone(b.NAME, None, amp=b.AMP, seed=b.SEED)
        load_state_dict(bb.model, bb_info["state_dict"], source=f"{source}: features.backbone.state_dict")
        bb.weights = f"stored in {source}"
    else:
        bb = build_backbone(b.NAME, b.WEIGHTS, amp=b.AMP, seed=b.SEED)
        got = state_dict_fingerprint(bb.model.state_dict())
        if got != bb_info["fingerprint"]:
            how = (f"torchvision weights {b.WEIGHTS}" if bb_info["weights"] == "torchvision"
                   else f"random initialisation with BACKBONE.SEED {b.SEED}")
            raise ModelFileError(f"{source}: features.backbone: the {b.NAME} rebuilt here ({how}) has fingerprint "
                                 f"{got}, not the {bb_info['fingerprint']} the stages were trained on (another "
                                 "torch/torchvision version initialises or ships it differently); store the backbone "
                                 "weights in the model file (tools/make_model_file.py --store-backbone)")
    net = None
    if cfg.ROI.CROP_NET:
        from .features.crop_net import CROP_NET_FORMAT, crop_net_from_record

        rec = dict(data["features"]["crop_net"], format=CROP_NET_FORMAT)
        net = crop_net_from_record(rec, f"{source}: features.crop_net")
    return FeatureExtractor(bb.to(device), cfg, net)


# =============================================================================================
# Windows over a section
# =============================================================================================
def section_windows(start: float, end: float, length: float, overlap: float, tolerance: float
                    ) -> List[Tuple[float, float]]:
    """Windows ``(start, end)`` seconds covering ``[start, end)``: one when the section is at most
    ``(1 + tolerance) x length`` long, else windows of ``length`` every ``length x (1 - overlap)``
    seconds from ``start``, the last one ending at ``end``."""
    span = end - start
    if span <= length * (1 + tolerance) + 1e-9:
        return [(start, end)]
    step = length * (1 - overlap)
    out = []
    s = start
    while s + length < end - 1e-9:
        out.append((s, s + length))
        s += step
    out.append((end - length, end))
    return out


def _no_tube_reason(prep: PreparedVideo, tail: str) -> str:
    """Why a result has no tube: no person tube in the section, with the linker's reason when the
    video was detected here (:func:`spatial.tubes.no_tubes_reason`), then ``tail``."""
    span = f"{prep.section[0]:.2f}-{prep.section[1]:.2f} s"
    how = f"detector {prep.detector}" if prep.detector else "the tube files"
    if prep.no_tubes is None:
        return f"no person detected in {span} ({how}): no tube to answer with; {tail}"
    why, detections = prep.no_tubes
    lead = "no person detected" if detections == 0 else "no person tube"
    return f"{lead} in {span} ({how}): {why}; no tube to answer with; {tail}"


# =============================================================================================
# The predictor
# =============================================================================================
class STVGPredictor:
    """Everything in one model file, ready to ground sentences in videos (see the module docstring).

    Attributes: ``mode``, ``device``, ``source`` (the model file), ``model_sha256``, ``configs``
    (:class:`StageConfigs`), ``join`` (the join options), ``clip_seconds`` (the temporal model's
    training clip length; None in tube_mmn), ``extractor``, ``detector``, ``link_params``, ``mmn``
    and ``matcher`` (two_stage; None in tube_mmn), ``tube_mmn`` (tube_mmn; None in two_stage)."""

    def __init__(self, data: Mapping[str, Any], source: str = "model file", device=None,
                 **overrides: Any) -> None:
        from spatial.linking import LinkParams
        from spatial.tighten import TightenParams
        from spatial.tubes import detector_from_config
        from stvg.engine import resolve_device

        validate_model_file(data, source)
        self.source, self.data = source, data
        self.mode = data["mode"]
        self.device = resolve_device(device if device is not None else "auto")
        self.configs = stage_configs(data, source, overrides)
        check_stages(self.configs, data, source)
        self.join = self.configs.join
        clip = data["temporal"].get("clip_seconds")
        self.clip_seconds = None if clip is None else float(clip)
        self.model_sha256: Optional[str] = None
        sp = self.configs.spatial
        if not _overridden(overrides.get("spatial", ()), "DETECTOR.DEVICE"):
            sp = _replace(sp, "DETECTOR", "DEVICE", str(self.device))
        self.spatial_cfg = sp
        self.detector = detector_from_config(sp)
        self.link_params = LinkParams.from_config(sp.LINKING)
        self.tighten = TightenParams.from_config(sp.TIGHTEN)
        self.extractor = _build_extractor(data, self.configs.features, source, self.device)
        self.feature_dim = BACKBONES[self.configs.features.BACKBONE.NAME].feature_dim
        self.roi_dim = roi_feature_dim(self.configs.features)
        temporal = _build_mmn(data, self.configs.temporal, source).to(self.device)
        self.mmn, self.tube_mmn, self.matcher = None, None, None
        if self.mode == "tube_mmn":
            self.tube_mmn = temporal
        else:
            self.mmn = temporal
            self.matcher = _build_matcher(data, self.configs.matcher, source).to(self.device)
            if self.join.SPAN_MODE == "runs" and self.matcher.span_head is None:
                raise ConfigError(f"{source}: join option SPAN_MODE runs needs a matcher with a span head "
                                  f"(MODEL.SPAN_HEAD true); this model file's matcher has none")
        self._ground = {"two_stage": self._ground_two_stage, "tube_mmn": self._ground_tube_mmn}[self.mode]

    @classmethod
    def from_file(cls, path: str, device=None, **overrides: Any) -> "STVGPredictor":
        """Load a model file (:func:`stvg.model_file.read_model_file`) and build every stage on
        ``device`` (None: CUDA when available, else CPU). ``overrides``: see :func:`stage_configs`."""
        path = os.fspath(path)
        pred = cls(read_model_file(path), source=path, device=device, **overrides)
        pred.model_sha256 = file_sha256(path)
        return pred

    # -- inputs -----------------------------------------------------------------------------------
    @staticmethod
    def check_queries(query_or_queries: Union[str, Sequence[str]]) -> List[str]:
        queries = [query_or_queries] if isinstance(query_or_queries, str) else list(query_or_queries)
        if not queries:
            raise ValueError("no query given")
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise ValueError(f"query {i} is empty or not a string: {q!r}")
        return [q.strip() for q in queries]

    def _section(self, path: str, fps: float, num_frames: int, start: Optional[float],
                 end: Optional[float]) -> Tuple[float, float]:
        duration = num_frames / fps
        s = 0.0 if start is None else float(start)
        e = duration if end is None else min(float(end), duration)
        if not (math.isfinite(s) and math.isfinite(e)) or s < 0:
            raise ValueError(f"{path}: section start {start} / end {end}: expected 0 <= start < end")
        if s >= duration:
            raise ValueError(f"{path}: section start {s:g} s is at or after the end of the video ({duration:.3f} s)")
        if e <= s:
            raise ValueError(f"{path}: section end {e:g} s is not after its start {s:g} s")
        return s, e

    def _check_length(self, path: str, num_sampled: int, section: Tuple[float, float]) -> None:
        need = max(1, int(self.configs.features.CLIPS.LEN))
        if num_sampled < need:
            fps = float(self.configs.features.INPUT.SAMPLE_FPS)
            raise VideoTooShortError(
                f"{path}: the {'video' if section[0] == 0 else 'section'} lasts {section[1] - section[0]:.3f} s "
                f"and holds {num_sampled} frame(s) sampled at {fps:g} fps; one feature clip needs {need} "
                f"(at least {need / fps:.3f} s)")

    def prepare(self, video_path: str, start: Optional[float] = None, end: Optional[float] = None,
                video_id: Optional[str] = None, progress: Optional[Callable[[str, int, int], None]] = None,
                salvage: Optional[bool] = None) -> PreparedVideo:
        """Decode once, detect people (and tighten their boxes when the spatial config's ``TIGHTEN``
        says so), link them, extract clip and RoI features (the part shared by every query on this video). ``start``/``end``: the section in seconds (default: all).
        ``progress(stage, done, total)``: frames decoded and detected (stage "decode"), then frames
        through the feature backbone ("features"). ``salvage``: see :class:`stvg.video.VideoReader`."""
        from spatial.cache import detection_frames
        from spatial.linking import link_detections
        from spatial.tighten import background_model, tighten_detections
        from stvg.video import VideoReader

        t0 = time.perf_counter()
        path = os.fspath(video_path)
        vid = video_id or video_id_of(path)
        reader = VideoReader(path, salvage=salvage)
        fps, n = reader.fps, reader.num_frames
        section = self._section(path, fps, n, start, end)
        first, last = Segment(*section).to_frames(fps, n)
        last = max(first, last)
        fcfg = self.configs.features
        feat_idx = reader.sample_indices(float(fcfg.INPUT.SAMPLE_FPS), *section)
        feat_idx = feat_idx[(feat_idx >= first) & (feat_idx <= last)]
        self._check_length(path, int(feat_idx.size), section)
        det_idx = first + detection_frames(last - first + 1, int(self.spatial_cfg.DETECTION.STRIDE))
        order = np.union1d(feat_idx, det_idx)
        timings = {"decode": 0.0, "detection": 0.0}
        dets, parts = [], []
        background = None
        if self.tighten.enabled:  # box tightening (spatial.tighten): its time counts as detection
            t = time.perf_counter()
            background = background_model(reader, first, last, self.tighten.background_frames)
            timings["detection"] += time.perf_counter() - t
        chunk = max(1, int(fcfg.RUN.DECODE_CHUNK))
        transform = self.extractor.transform
        for lo in range(0, order.size, chunk):
            idx = order[lo:lo + chunk]
            t = time.perf_counter()
            frames = reader.get_frames(idx)
            fsel = np.isin(idx, feat_idx)
            if fsel.any():
                parts.append(transform(frames[fsel]))
            timings["decode"] += time.perf_counter() - t
            dsel = np.isin(idx, det_idx)
            if dsel.any():
                t = time.perf_counter()
                found = self.detector(frames[dsel], idx[dsel].tolist(), video_id=vid)
                if background is not None:
                    found = tighten_detections(frames[dsel], found, background, self.tighten)
                dets.extend(found)
                timings["detection"] += time.perf_counter() - t
            if progress is not None:
                progress("decode", min(lo + chunk, order.size), int(order.size))
        t = time.perf_counter()
        tubes, link_report = link_detections(dets, frame_size=(reader.width, reader.height), params=self.link_params)
        no_tubes = None
        if not tubes:  # say why, as build_tubes does (the HOG window, too few steps, short tracks)
            from spatial.tubes import no_tubes_reason
            rep = asdict(link_report)
            no_tubes = (no_tubes_reason(rep, self.spatial_cfg, reader.width, reader.height), int(rep["num_detections"]))
        timings["linking"] = time.perf_counter() - t
        t = time.perf_counter()
        decoded = DecodedVideo(vid, torch.cat(parts), feat_idx.astype(np.int64), fps, n, reader.width, reader.height)
        feats = self.extractor.extract(decoded, tubes, progress=None if progress is None else
                                       (lambda done, total: progress("features", done, total)))
        timings["features"] = time.perf_counter() - t
        timings["prepare"] = time.perf_counter() - t0
        return PreparedVideo(vid, fps, n, reader.width, reader.height, section, (first, last), feats.features,
                             feats.clip_frames, feats.frame_indices, tubes, feats.roi_features, timings,
                             self.detector.name, reader.salvaged, no_tubes)

    def prepare_from_arrays(self, video_id: str, features: np.ndarray, clip_frames: np.ndarray,
                            frame_indices: np.ndarray, fps: float, num_frames: int, width: int, height: int,
                            tubes: Sequence[Tube], roi_features: Optional[np.ndarray],
                            start: Optional[float] = None, end: Optional[float] = None) -> PreparedVideo:
        """A :class:`PreparedVideo` from precomputed features (the HDF5 layout of
        :mod:`stvg.features.store`) and tubes (tube files); checks their shapes against the model."""
        t0 = time.perf_counter()
        feats = np.asarray(features, np.float32)
        d = self.feature_dim
        if feats.ndim != 2 or feats.shape[1] != d or feats.shape[0] < 1:
            raise ValueError(f"{video_id}: clip features have shape {list(feats.shape)}, expected [T, {d}]")
        clip_frames = np.asarray(clip_frames, np.int64).reshape(-1, 2)
        if clip_frames.shape[0] != feats.shape[0]:
            raise ValueError(f"{video_id}: {feats.shape[0]} clip features but {clip_frames.shape[0]} clip_frames rows")
        tubes = list(tubes)
        s, c = int(self.configs.features.ROI.NUM_SEGMENTS), self.roi_dim
        roi = np.zeros((0, s, c), np.float32) if roi_features is None else np.asarray(roi_features, np.float32)
        if roi.shape != (len(tubes), s, c):
            raise ValueError(f"{video_id}: RoI features have shape {list(roi.shape)} for {len(tubes)} tube(s), "
                             f"expected [{len(tubes)}, {s}, {c}] (one row per tube, in tube-file order)")
        section = self._section(video_id, fps, num_frames, start, end)
        first, last = Segment(*section).to_frames(fps, num_frames)
        last = max(first, last)
        keep = (clip_frames[:, 0] >= first) & (clip_frames[:, 0] <= last)
        fi = np.asarray(frame_indices, np.int64)
        self._check_length(video_id, int(((fi >= first) & (fi <= last)).sum()), section)
        sel = [i for i, t in enumerate(tubes) if len(t) and t.end_frame >= first and t.start_frame <= last]
        return PreparedVideo(video_id, float(fps), int(num_frames), int(width), int(height), section, (first, last),
                             feats[keep], clip_frames[keep], fi, [tubes[i] for i in sel], roi[sel],
                             {"prepare": time.perf_counter() - t0}, "precomputed tubes")

    # -- grounding ----------------------------------------------------------------------------------
    def __call__(self, video_path: str, query_or_queries: Union[str, Sequence[str]],
                 start: Optional[float] = None, end: Optional[float] = None, top_k: int = 5,
                 video_id: Optional[str] = None) -> Union[STVGResult, List[STVGResult]]:
        """Ground one sentence (-> :class:`STVGResult`) or several (-> a list) in ``video_path``."""
        t0 = time.perf_counter()
        queries = self.check_queries(query_or_queries)
        prepared = self.prepare(video_path, start, end, video_id)
        results = self.ground(prepared, queries, top_k, t0)
        return results[0] if isinstance(query_or_queries, str) else results

    def ground(self, prepared: PreparedVideo, queries: Sequence[str], top_k: int = 5,
               started: Optional[float] = None) -> List[STVGResult]:
        """Answers for ``queries`` on an already prepared video (the dispatch point of the modes)."""
        t0 = time.perf_counter() if started is None else started
        queries = self.check_queries(queries)
        results = self._ground(prepared, queries, max(0, int(top_k)))
        total = time.perf_counter() - t0
        for r in results:
            r.timings["total"] = total
        return results

    def _temporal(self, prep: PreparedVideo, queries: List[str]):
        """-> (windows, score maps Tensor[W, Q, N, N], per query (moments s [M, 2], scores [M]))."""
        from temporal.data.features import prepare_features
        from temporal.evaluation import rank_moments

        cfg = self.configs.temporal
        j = self.join
        length = float(j.WINDOW_SECONDS) or self.clip_seconds
        windows = section_windows(*prep.section, length, float(j.WINDOW_OVERLAP), float(j.WINDOW_TOLERANCE))
        starts = prep.clip_frames[:, 0] / prep.fps
        feats, kept = [], []
        for ws, we in windows:
            rows = (starts >= ws - 1e-9) & (starts < we - 1e-9)
            if not rows.any():
                continue
            feats.append(prepare_features(torch.from_numpy(prep.features[rows]), int(cfg.MODEL.NUM_PRE_CLIPS)))
            kept.append((ws, we))
        if not kept:
            raise VideoTooShortError(f"{prep.video_id}: no clip feature starts inside the section "
                                     f"{prep.section[0]:.3f}-{prep.section[1]:.3f} s")
        w, q = len(kept), len(queries)
        ids, mask = _tokenize_mmn(self.mmn, queries, int(cfg.DATASET.MAX_SENT_LEN))
        dev = self.device
        parts = []
        with torch.no_grad():  # windows in chunks: memory stays bounded on long videos
            for lo in range(0, w, WINDOW_BATCH):
                chunk = torch.stack(feats[lo:lo + WINDOW_BATCH]).to(dev)
                b = chunk.shape[0]
                out = self.mmn(chunk, ids.repeat(b, 1).to(dev), mask.repeat(b, 1).to(dev),
                               torch.arange(b, device=dev).repeat_interleave(q))
                parts.append(self.mmn.test_scores(out).float().cpu().view(b, q, *out.mask.shape))
        maps = torch.cat(parts)
        valid = self.mmn.mask.cpu()
        top = int(j.TOP_MOMENTS)
        per_query = []
        for qi in range(q):
            segs, scores = [], []
            for wi, (ws, we) in enumerate(kept):
                m, s = rank_moments(maps[wi, qi], valid, we - ws, float(j.NMS_THRESH), top)
                segs.append(m + ws)
                scores.append(s)
            segs, scores = torch.cat(segs), torch.cat(scores)
            if w > 1:  # the cross-window rule: scores compared as they are, NMS in video time
                keep = nms_1d(segs, scores, float(j.NMS_THRESH), top_k=top)
                segs, scores = segs[keep], scores[keep]
            per_query.append((segs, scores))
        return kept, maps, valid, per_query

    def _moment_frames(self, prep: PreparedVideo, segs: torch.Tensor) -> torch.Tensor:
        first, last = prep.section_frames
        out = []
        for s, e in segs.tolist():
            a, b = Segment(s, e).to_frames(prep.fps, prep.num_frames)
            a = min(max(a, first), last)
            b = min(max(b, a), last)
            out.append((a, b))
        return torch.tensor(out, dtype=torch.int64).reshape(-1, 2)

    def _ground_two_stage(self, prep: PreparedVideo, queries: List[str], top_k: int) -> List[STVGResult]:
        timings = dict(prep.timings)
        t = time.perf_counter()
        windows, maps, valid, per_query = self._temporal(prep, queries)
        timings["temporal"] = time.perf_counter() - t
        t = time.perf_counter()
        tubes = prep.tubes
        matcher_scores = []
        if tubes:
            sent = self.matcher.encode_sentences(queries, source=prep.video_id)
            roi = torch.from_numpy(np.ascontiguousarray(prep.roi_features))
            for qi, (segs, _) in enumerate(per_query):
                rows = [self.matcher.score_encoded(sent[qi:qi + 1], tubes, roi, prep.frame_indices, prep.width,
                                                   prep.height, window=(int(a), int(b)), num_frames=prep.num_frames,
                                                   video_id=prep.video_id)[0].float().cpu()
                        for a, b in self._moment_frames(prep, segs).tolist()]
                matcher_scores.append(torch.stack(rows) if rows else torch.zeros(0, len(tubes)))
        else:
            matcher_scores = [torch.zeros(len(segs), 0) for segs, _ in per_query]
        runs = self._span_runs(prep, queries, windows, maps, valid) if self.join.SPAN_MODE == "runs" and tubes else None
        timings["matcher"] = time.perf_counter() - t
        t = time.perf_counter()
        results = []
        for qi, query in enumerate(queries):
            segs, scores = per_query[qi]
            mframes = self._moment_frames(prep, segs)
            if runs is not None:
                pairs = join_runs(*(x[qi] for x in runs), tubes, self.join, top_k=top_k + 1)
            else:
                pairs = join_pairs(mframes, scores, tubes, matcher_scores[qi], self.join, top_k=top_k + 1)
            results.append(self._result(prep, query, pairs, windows, maps[:, qi], valid, segs, mframes, scores,
                                        matcher_scores[qi]))
        timings["join"] = time.perf_counter() - t
        for r in results:
            r.timings = dict(timings)
        return results

    def _span_runs(self, prep: PreparedVideo, queries: List[str], windows, maps: torch.Tensor, valid: torch.Tensor):
        """``SPAN_MODE runs``: per query ``(runs int64[N, 2], values [N], matcher scores [N], MMN scores [N])``
        stacked over the queries (:func:`stvg.join.join_runs`'s inputs): each tube's span-head run, the
        matcher's score of the tube through it, and MMN's score of the map cell (over all windows) of
        highest temporal IoU with the run (ties: the first window, then the first cell)."""
        tubes, m = prep.tubes, self.matcher
        roi = m.check_roi(np.ascontiguousarray(prep.roi_features), len(tubes), prep.video_id)
        try:
            layout = tube_layout(tubes, prep.frame_indices, m.num_segments, prep.width, prep.height, prep.num_frames)
        except ValueError as e:
            raise ValueError(f"{prep.video_id}: {e}") from None
        frames, values = m.span_answers(m.encode_tokens(queries, source=prep.video_id), roi, layout)  # [Q, N, ...]
        sent = m.encode_sentences(queries, source=prep.video_id)
        q, n = values.shape
        mscore = m.score_own_windows(sent, roi, layout, frames)
        # MMN's score of each run: the valid cell of highest temporal IoU with it, over the windows
        g = valid.shape[0]
        i, j = valid.nonzero(as_tuple=True)
        cells, cell_scores = [], []
        for wi, (ws, we) in enumerate(windows):
            step = (we - ws) / g
            cells.append(torch.stack([ws + i.double() * step, ws + (j.double() + 1) * step], -1))
            cell_scores.append(maps[wi][:, i, j].double())                                 # [Q, C]
        cells, cell_scores = torch.cat(cells), torch.cat(cell_scores, 1)
        secs = torch.stack([frames[..., 0].double() / prep.fps, (frames[..., 1].double() + 1) / prep.fps], -1)
        best = segment_iou(secs.reshape(-1, 2), cells).argmax(1).view(q, n)                # first maximum
        mmn = cell_scores.gather(1, best)
        return frames, values, mscore, mmn

    def _result(self, prep: PreparedVideo, query: str, pairs: List[JoinedPair], windows, maps, valid,
                segs, mframes, scores, mscores) -> STVGResult:
        common = dict(video_id=prep.video_id, query=query, fps=prep.fps, num_frames=prep.num_frames,
                      width=prep.width, height=prep.height, section=prep.section, score_map=maps, score_mask=valid,
                      windows=list(windows), moments=segs, moment_frames=mframes, moment_scores=scores,
                      candidates=list(prep.tubes), matcher_scores=mscores)
        if not pairs:
            a, b = (int(v) for v in mframes[0])
            if not prep.tubes:
                reason = _no_tube_reason(prep, "the interval is the temporal stage's best moment")
            else:
                reason = (f"none of the {len(prep.tubes)} person tube(s) has a box inside the top "
                          f"{len(segs)} moment(s); the interval is the temporal stage's best moment")
            return STVGResult(segment=Segment(a / prep.fps, (b + 1) / prep.fps), frames=(a, b),
                              tube=Tube(torch.zeros(0, dtype=torch.int64), torch.zeros(0, 4)), score=0.0,
                              reason=reason, mmn_score=float(scores[0]), **common)

        def seg(p: JoinedPair) -> Segment:
            return Segment(p.first / prep.fps, (p.last + 1) / prep.fps)

        best = pairs[0]
        alts = [Alternative(seg(p), (p.first, p.last), p.tube, p.score, p.mmn_score, p.matcher_score, p.coverage,
                            p.tube_index, p.moment) for p in pairs[1:]]
        return STVGResult(segment=seg(best), frames=(best.first, best.last), tube=best.tube, score=best.score,
                          reason=None, tube_index=best.tube_index, mmn_score=best.mmn_score,
                          matcher_score=best.matcher_score, coverage=best.coverage, alternatives=alts, **common)

    # -- mode tube_mmn ------------------------------------------------------------------------------
    def _ground_tube_mmn(self, prep: PreparedVideo, queries: List[str], top_k: int) -> List[STVGResult]:
        timings = dict(prep.timings)
        t = time.perf_counter()
        maps = self._tube_maps(prep, queries)
        timings["tube_mmn"] = time.perf_counter() - t
        t = time.perf_counter()
        results = [self._tube_result(prep, query, maps[qi], top_k) for qi, query in enumerate(queries)]
        timings["answer"] = time.perf_counter() - t
        for r in results:
            r.timings = dict(timings)
        return results

    def _tube_maps(self, prep: PreparedVideo, queries: List[str]) -> torch.Tensor:
        """``Tensor[Q, K, N, N]``: the fused test score of every cell of every candidate tube for each
        query (:meth:`TubeMMN.test_scores`); -inf where the cell is outside the map's mask, where its
        sub-tube is empty, and where the sub-tube has no frame inside the section."""
        from temporal.data.features import tube_sequences
        from temporal.st_iou import cell_box_bounds

        cfg, model, dev = self.configs.temporal, self.tube_mmn, self.device
        n, q, k = int(cfg.MODEL.NUM_CLIPS), len(queries), len(prep.tubes)
        if k == 0:
            return torch.full((q, 0, n, n), float("-inf"))
        roi = torch.from_numpy(np.ascontiguousarray(prep.roi_features))
        geo = tube_layout(prep.tubes, prep.frame_indices, roi.shape[1], prep.width, prep.height,
                          prep.num_frames).geometry if cfg.MODEL.TUBE_GEOMETRY else None
        feats = tube_sequences(roi, int(cfg.MODEL.NUM_PRE_CLIPS), geo)  # as in training
        lengths = [len(t) for t in prep.tubes]
        ids, mask = _tokenize_mmn(model.mmn, queries, int(cfg.DATASET.MAX_SENT_LEN))
        ids, mask = ids.to(dev), mask.to(dev)
        sent_video = torch.zeros(q, dtype=torch.long, device=dev)  # every tube is of this one video
        parts = []
        with torch.no_grad():  # tubes in chunks: memory stays bounded with many tubes
            for lo in range(0, k, TUBE_BATCH):
                chunk = feats[lo:lo + TUBE_BATCH].to(dev)
                b = chunk.shape[0]
                out = model(chunk, torch.zeros(b, dtype=torch.long, device=dev), ids, mask, sent_video)
                # pairs come grouped by sentence, tubes in increasing index: [Q * b] -> [Q, b]
                parts.append(model.test_scores(out, lengths[lo:lo + b]).float().cpu().view(q, b, n, n))
        scores = torch.cat(parts, dim=1)
        first, last = prep.section_frames
        inside = []
        for tube in prep.tubes:  # cell (i, j) has a frame in the section iff its rows hold one
            hit = torch.cat([torch.zeros(1, dtype=torch.int64),
                             ((tube.frames >= first) & (tube.frames <= last)).long().cumsum(0)])
            bounds = cell_box_bounds(len(tube), n)
            inside.append(hit[bounds[None, 1:]] > hit[bounds[:-1, None]])
        return scores.masked_fill(~torch.stack(inside)[None], float("-inf"))

    def _tube_answers(self, prep: PreparedVideo, scores: torch.Tensor, count: int
                      ) -> List[Tuple[int, int, int, float, Tube]]:
        """Up to ``count`` answers ``(tube index, i, j, score, sub-tube)`` of one query, best first
        (``scores Tensor[K, N, N]``). The sub-tube of cell (i, j) is cut to the section and has a box
        on every frame of its interval. Greedy spatio-temporal NMS: a candidate whose vIoU
        (:func:`stvg.ops.tube_viou`) with a kept answer exceeds ``NMS_THRESH`` is skipped (cells of
        one tube: their temporal IoU; equal sub-tubes of small tubes: 1)."""
        from temporal.st_iou import cell_sub_tube

        n = scores.shape[-1]
        flat = scores.flatten()
        cand = torch.nonzero(torch.isfinite(flat)).flatten()
        order = cand[torch.sort(flat[cand], descending=True, stable=True).indices].tolist()
        first, last = prep.section_frames
        thresh = float(self.join.NMS_THRESH)
        kept: List[Tuple[int, int, int, float, Tube]] = []
        for c in order:
            if len(kept) >= count:
                break
            k, rest = divmod(c, n * n)
            i, j = divmod(rest, n)
            sub = cell_sub_tube(prep.tubes[k], i, j, n).crop(first, last)
            if len(sub) != sub.end_frame - sub.start_frame + 1:  # linked tubes are dense; tube files may not be
                sub = fill_tube(sub, sub.start_frame, sub.end_frame)
            if any(float(tube_viou(sub, other[4])) > thresh for other in kept):
                continue
            kept.append((k, i, j, float(flat[c]), sub))
        return kept

    def _tube_result(self, prep: PreparedVideo, query: str, scores: torch.Tensor, top_k: int) -> STVGResult:
        fps = prep.fps
        finite = torch.isfinite(scores)
        common = dict(video_id=prep.video_id, query=query, fps=fps, num_frames=prep.num_frames, width=prep.width,
                      height=prep.height, section=prep.section,
                      score_map=torch.where(finite, scores, torch.zeros_like(scores)),
                      score_mask=self.tube_mmn.mmn.mask.cpu(),
                      windows=[(t.start_frame / fps, (t.end_frame + 1) / fps) for t in prep.tubes],
                      candidates=list(prep.tubes), mode="tube_mmn",
                      tube_scores=scores.flatten(1).amax(dim=1) if len(prep.tubes) else torch.zeros(0))
        answers = self._tube_answers(prep, scores, top_k + 1)
        if not answers:
            a, b = prep.section_frames
            if not prep.tubes:
                reason = _no_tube_reason(prep, "the interval is the whole section")
            else:
                reason = (f"none of the {len(prep.tubes)} person tube(s) has a cell with a box inside the section; "
                          "the interval is the whole section")
            return STVGResult(segment=Segment(a / fps, (b + 1) / fps), frames=(a, b),
                              tube=Tube(torch.zeros(0, dtype=torch.int64), torch.zeros(0, 4)), score=0.0,
                              reason=reason, **common)

        def seg(sub: Tube) -> Segment:
            return Segment(sub.start_frame / fps, (sub.end_frame + 1) / fps)

        k, i, j, score, sub = answers[0]
        alts = [Alternative(seg(s), (s.start_frame, s.end_frame), s, sc, sc, 0.0, 1.0, kk, -1, (ii, jj))
                for kk, ii, jj, sc, s in answers[1:]]
        return STVGResult(segment=seg(sub), frames=(sub.start_frame, sub.end_frame), tube=sub, score=score,
                          reason=None, tube_index=k, mmn_score=score, matcher_score=0.0, coverage=1.0,
                          alternatives=alts, cell=(i, j), **common)


def _tokenize_mmn(model, queries: Sequence[str], max_len: int) -> Tuple[torch.Tensor, torch.Tensor]:
    from stvg.text import tokenize

    return tokenize(model.tokenizer, list(queries), max_len=max_len, source="query")


def _overridden(overrides: Any, key: str) -> bool:
    if isinstance(overrides, Mapping):
        section, _, leaf = key.partition(".")
        return leaf in overrides.get(section, {}) if isinstance(overrides.get(section), Mapping) else key in overrides
    return key in list(overrides)[0::2]


def _replace(cfg: Config, section: str, key: str, value: Any) -> Config:
    d = cfg.to_dict()
    d[section][key] = value
    return Config(d).freeze()


# =============================================================================================
# Assembling a model file from trained runs
# =============================================================================================
def _run_checkpoint(path: str, what: str) -> str:
    """A run folder -> its ``best.pth`` (else ``last.pth``); a file -> itself."""
    path = os.fspath(path)
    if os.path.isdir(path):
        for name in ("best.pth", "last.pth"):
            if os.path.isfile(os.path.join(path, name)):
                return os.path.join(path, name)
        raise FileNotFoundError(f"{what} run {path} holds neither best.pth nor last.pth")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} checkpoint not found: {path}")
    return path


def _source(path: str, ckpt: Optional[Mapping] = None) -> Dict[str, Any]:
    out: Dict[str, Any] = {"path": portable(os.path.abspath(path)), "sha256": file_sha256(path)}
    if ckpt is not None:
        for key in ("epoch", "version"):
            if key in ckpt:
                out[key] = ckpt[key]
        if isinstance(ckpt.get("metrics"), Mapping):
            out["metrics"] = {k: float(v) for k, v in ckpt["metrics"].items() if isinstance(v, (int, float))}
    return out


def _text_part(state: Dict[str, torch.Tensor], prefix: str, encoder: torch.nn.Module, model_cfg
               ) -> Tuple[Dict[str, torch.Tensor], bool, Dict[str, Any]]:
    """Drop a frozen pretrained encoder's weights from ``state`` (identity + fingerprint kept).

    ``encoder``: the encoder as the config builds it, before any checkpoint is loaded into it (for
    a pretrained one: the weights reloaded by name)."""
    ident: Dict[str, Any] = {"name": model_cfg.TEXT_ENCODER}
    names = [k for k, _ in encoder.named_parameters()]
    present = [k for k in state if k.startswith(prefix)]
    if model_cfg.TEXT_ENCODER_PRETRAINED:
        fresh = _param_fingerprint(encoder)
        same = bool(present) and all(prefix + k in state for k in names) and fresh == state_dict_fingerprint(
            {k: state[prefix + k] for k in names})
        if not present or same:
            ident["fingerprint"] = fresh
            return {k: v for k, v in state.items() if not k.startswith(prefix)}, False, ident
    ident["config"] = _plain_json(encoder.config.to_dict())
    return state, True, ident


def _cast(state: Mapping[str, torch.Tensor], dtype: Optional[torch.dtype]) -> Dict[str, torch.Tensor]:
    if dtype is None:
        return dict(state)
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def assemble_model_file(temporal: str, matcher: Optional[str], features_cfg: Config, spatial_cfg: Config,
                        join: Optional[Mapping] = None, clip_seconds: Optional[float] = None,
                        store_backbone: bool = False, dtype: Optional[torch.dtype] = None,
                        sources: Optional[Mapping[str, Any]] = None, mode: str = "two_stage") -> Dict[str, Any]:
    """The model-file dict (:mod:`stvg.model_file`) of trained runs (a run folder: its best.pth,
    else last.pth; or a checkpoint file) and the feature and spatial settings they were trained on.

    ``mode`` ``two_stage``: a moment-mode MMN run (``temporal``) and a ``matcher`` run; ``tube_mmn``:
    a tube-mode MMN run (``MODEL.MODE tube``) alone (``matcher`` None, no ``clip_seconds``; of the
    join options only ``NMS_THRESH`` may differ from its default). ``clip_seconds`` (two_stage): the
    temporal model's training clip length (default: the median duration of its training
    annotations, ``DATASET.TRAIN_ANN``). ``store_backbone``: store the backbone's weights even when
    they can be rebuilt by name or seed. ``dtype`` (e.g. ``torch.float16``): stored weights are cast
    to it (they are cast back to float32 on loading). Frozen pretrained text encoders are not
    stored. Every check of :class:`STVGPredictor` about the stages agreeing is made here too."""
    from spatial.matcher import build_matcher
    from spatial.matcher.defaults import matcher_config_from_dict
    from temporal.defaults import TEMPORAL_DEFAULTS
    from temporal.model import MMN
    from temporal.tube_mmn import TubeMMN

    from .model_file import MODES

    if mode not in MODES:
        raise ValueError(f"unknown pipeline mode {mode!r} (known: {', '.join(MODES)})")
    tube = mode == "tube_mmn"
    if tube and matcher is not None:
        raise ValueError("mode tube_mmn takes no matcher run: it answers with the tube-conditioned MMN alone")
    if not tube and matcher is None:
        raise ValueError("mode two_stage needs a matcher run (--matcher)")
    if tube and clip_seconds is not None:
        raise ValueError("mode tube_mmn has no training clip length (--clip-seconds): each tube's map covers "
                         "that tube's own span")
    tpath = _run_checkpoint(temporal, "temporal")
    tck = read_checkpoint(tpath, require=("model", "config"), what="temporal checkpoint")
    tcfg = _config_from(TEMPORAL_DEFAULTS, tck["config"], f"{tpath}: config")
    want = "tube" if tube else "moment"
    if tcfg.MODEL.MODE != want:
        raise ValueError(f"{tpath}: the temporal run was trained with MODEL.MODE {tcfg.MODEL.MODE}, but mode {mode} "
                         f"needs MODEL.MODE {want} (use --mode {'two_stage' if tube else 'tube_mmn'})")
    if tube:
        check_tube_join(join_config(join or {}), "join options")
    elif clip_seconds is None:
        clip_seconds = _training_clip_seconds(tcfg, tpath)
    model = (TubeMMN if tube else MMN)(tcfg.MODEL)  # its text encoder as the config builds it (by name, or random)
    prefix = TUBE_TEXT_PREFIX if tube else TEMPORAL_TEXT_PREFIX
    encoder = (model.mmn if tube else model).text_encoder.encoder
    t_state, t_stored, t_ident = _text_part(dict(tck["model"]), prefix, encoder, tcfg.MODEL)
    load_state_dict(model, tck["model"], source=tpath, ignore_missing=() if t_stored else (prefix,))
    if not tube:
        mpath = _run_checkpoint(matcher, "matcher")
        mck = read_checkpoint(mpath, require=("model", "config"), what="matcher checkpoint")
        try:
            mcfg = matcher_config_from_dict(mck["config"])
        except ConfigError as e:
            raise ConfigError(f"{mpath}: {e}") from None
        mt = build_matcher(mcfg)
        m_state, m_stored, m_ident = _text_part(dict(mck["model"]), mt.encoder_prefix, mt.text_encoder.encoder,
                                                mcfg.MODEL)
        load_state_dict(mt, mck["model"], source=mpath, ignore_missing=() if m_stored else (mt.encoder_prefix,))

    b = features_cfg.BACKBONE
    bb = build_backbone(b.NAME, b.WEIGHTS, amp=b.AMP, seed=b.SEED)
    label = weights_label(b.NAME, b.WEIGHTS)
    kind = "random" if label == "none" else ("stored" if os.path.isfile(label) else "torchvision")
    backbone: Dict[str, Any] = {"weights": "stored" if store_backbone else kind,
                                "fingerprint": state_dict_fingerprint(bb.model.state_dict())}
    if backbone["weights"] == "stored":
        backbone["state_dict"] = _cast(bb.model.state_dict(), dtype)
    fcfg, crop = features_cfg.to_dict(), None
    if features_cfg.ROI.CROP_NET:  # stored: a model file holds no paths, the net is small
        from .features.crop_net import crop_net_identity, crop_net_record, load_crop_net

        rec = crop_net_record(load_crop_net(features_cfg.ROI.CROP_NET))
        crop = {"classes": rec["classes"], "state_dict": rec["state_dict"],  # float32 always: ~0.6 MB
                "fingerprint": rec["fingerprint"]}
        fcfg["ROI"]["CROP_NET"] = crop_net_identity(rec["fingerprint"])
    sp = spatial_cfg.to_dict()
    sp["DETECTION"]["CACHE_DIR"] = ""  # a model file holds no paths
    src = {"temporal": _source(tpath, tck)}
    if not tube:
        src["matcher"] = _source(mpath, mck)
    if kind == "stored":
        src["backbone_weights"] = _source(label)
    if crop is not None:
        src["crop_net"] = _source(features_cfg.ROI.CROP_NET)
    src.update(portable(dict(sources or {})))
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "version": project_version(), "mode": mode,
            "features": {"config": fcfg, "backbone": backbone, **({"crop_net": crop} if crop else {})},
            "spatial": {"config": sp},
            "temporal": {"config": portable(tcfg.to_dict()), "model": _cast(t_state, dtype),
                         "text_encoder_stored": t_stored, "text_encoder": t_ident},
            "join": join_config(join or {}).to_dict(), "sources": src}
    if not tube:
        data["temporal"]["clip_seconds"] = float(clip_seconds)
        data["matcher"] = {"config": portable(mcfg.to_dict()), "model": _cast(m_state, dtype),
                           "text_encoder_stored": m_stored, "text_encoder": m_ident}
    validate_model_file(data, "assembled model file")
    check_stages(stage_configs(data, "assembled model file"), data, "assembled model file")
    return data


def _training_clip_seconds(tcfg: Config, source: str) -> float:
    from temporal.data.annotations import load_annotations

    ann = tcfg.DATASET.TRAIN_ANN
    if not ann or not os.path.isfile(ann):
        raise ValueError(f"{source}: cannot tell the temporal model's training clip length: its training "
                         f"annotations DATASET.TRAIN_ANN {ann!r} are not readable here; give it (--clip-seconds)")
    videos, _ = load_annotations(tcfg.DATASET.NAME, ann)
    return float(np.median([v.duration for v in videos]))


# =============================================================================================
# Batch prediction
# =============================================================================================
def _store_settings(predictor: STVGPredictor, input_mode: str, top_k: int) -> Dict[str, Any]:
    return {"model_sha256": predictor.model_sha256 or "", "mode": predictor.mode, "input": input_mode,
            "join": predictor.join.to_dict(), "spatial": predictor.configs.spatial.to_dict()
            if input_mode == "videos" else None, "top_k": int(top_k)}


def prediction_store(out: str, settings: Mapping[str, Any]):
    """The per-video store of a batch prediction into the submission ``out``: ``<out>.parts/<id>.json``
    (one result per video), failures listed in ``<out>.failures.json``."""
    from .store import VideoStore

    out = os.fspath(out)
    return VideoStore(out + ".parts", dict(settings), "predictions", suffix=".json",
                      failures_file=out + ".failures.json")


def predict_dataset(predictor: STVGPredictor, items: Sequence[Tuple[str, str]], out: str,
                    video_paths: Optional[Mapping[str, str]] = None, features: Optional[str] = None,
                    tubes: Optional[Mapping[str, Sequence[Tube]]] = None, num_shards: Optional[int] = None,
                    shard: Optional[int] = None, progress: bool = True, top_k: int = 5,
                    max_videos: Optional[int] = None, failures: Optional[Mapping[str, str]] = None,
                    salvage: Optional[bool] = None):
    """Ground ``items`` (``(video id, sentence)``, one per video) into the submission ``out``.

    Input: ``video_paths`` (id -> video file), or precomputed ``features`` (an HDF5 file of
    :mod:`stvg.features.store`, with ``roi_features`` of ``tubes``: id -> tubes in tube-file order).
    Each process takes its share (:func:`stvg.sharding.shard_items`), skips videos already in the
    store, writes one result per video, and calls the store's merge: the process that finds every
    video done or failed writes ``out`` (validated, atomic). ``max_videos``: stop after that many
    videos in this run (a time-limited job; a rerun continues). ``failures``: ids already known to
    be broken (e.g. invalid annotations) -> reason. ``progress``: videos with an ETA, and the frames
    of the video in hand (a nested bar). ``salvage`` (None: :func:`stvg.video.salvaging`'s
    setting): a video file cut short is grounded on its decodable start, its part file records
    ``"salvaged": [kept, total]`` and :func:`stvg.video.note_salvaged` records it. Returns a
    :class:`stvg.store.JobSummary`."""
    from .data.ids import check_video_id
    from .engine.logs import progress_bar
    from .sharding import resolve_shard, shard_items
    from .store import JobSummary
    from .submission import SubmissionError, validate, write_submission

    out = os.fspath(out)
    if (video_paths is None) == (features is None):
        raise ValueError("give either video_paths or features (+ tubes)")
    sentences = dict(items)
    ids = list(sentences) + [v for v in (failures or {}) if v not in sentences]
    for vid in ids:
        check_video_id(vid)
    mode = "videos" if video_paths is not None else "features"
    n, i = resolve_shard(num_shards, shard)
    store = prediction_store(out, _store_settings(predictor, mode, top_k))
    store.check_settings()
    summary = JobSummary("predictions", out, store.failures_file, n, i, verb="predicted")
    mine = shard_items(ids, n, i)
    summary.num_assigned = len(mine)
    done = store.done_ids()
    todo = [v for v in mine if v not in done]
    summary.num_skipped = len(mine) - len(todo)
    reader = _FeatureFile(features, predictor) if features is not None else None
    bar = progress_bar(total=len(todo), desc="predict" + (f" {i}/{n}" if n > 1 else ""), unit="video",
                       enabled=progress)
    try:
        for count, vid in enumerate(todo):
            if max_videos is not None and count >= max_videos:
                break
            reason = (failures or {}).get(vid)
            if reason is None:
                try:
                    if reader is not None:
                        prep = reader.prepare(vid, (tubes or {}).get(vid))
                        result = predictor.ground(prep, [sentences[vid]], top_k)[0]
                    else:
                        t0 = time.perf_counter()
                        with _VideoBar(vid, progress) as inner:
                            prep = predictor.prepare(video_paths[vid], video_id=vid, progress=inner, salvage=salvage)
                        result = predictor.ground(prep, [sentences[vid]], top_k, t0)[0]
                except (OSError, ValueError, RuntimeError, IndexError, KeyError) as e:
                    reason = f"{type(e).__name__}: {e}"
                else:
                    part = {"video_id": vid, "sentence": sentences[vid], "entry": result.entry(),
                            "result": result.to_json(boxes=False)}
                    if prep.salvaged is not None:
                        from .video import note_salvaged, salvage_note
                        part["salvaged"] = list(prep.salvaged)
                        note_salvaged(video_paths[vid], *prep.salvaged)
                        log.warning("video %s: %s (the file is cut short)", vid, salvage_note(*prep.salvaged))
                    store.write(vid, part)
                    summary.num_done += 1
            if reason is not None:
                summary.failures[vid] = reason
                store.write_failure(vid, reason)
                log.warning("video %s: %s", vid, reason)
            bar.set_postfix(failed=len(summary.failures), refresh=False)
            bar.update(1)
    finally:
        bar.close()
        if reader is not None:
            reader.close()

    def combine(done_ids: List[str]) -> None:
        have = set(done_ids)
        entries = {vid: store.read(vid)["entry"] for vid in ids if vid in have}
        problems = validate(entries)
        if problems:
            raise SubmissionError(out, problems)
        write_submission(out, entries)

    return summary.finish(store.merge(ids, combine))


class _VideoBar:
    """``progress(stage, done, total)`` of :meth:`STVGPredictor.prepare` as a nested bar per stage
    (``<id> decode+detect``, ``<id> features``; frames)."""

    def __init__(self, vid: str, enabled: bool) -> None:
        self.vid, self.enabled, self.stage, self.bar = vid, enabled, None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        from .engine.logs import progress_bar

        if stage != self.stage:
            self.close()
            self.stage = stage
            name = "decode+detect" if stage == "decode" else stage
            self.bar = progress_bar(total=total, desc=f"{self.vid} {name}", unit="frame", enabled=self.enabled,
                                    leave=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.stage = None, None

    def __enter__(self) -> "_VideoBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _FeatureFile:
    """Precomputed inputs: ``f[vid]`` groups of :mod:`stvg.features.store`, checked against the model."""

    def __init__(self, path: str, predictor: STVGPredictor) -> None:
        import h5py
        import yaml

        if not os.path.isfile(path):
            raise FileNotFoundError(f"feature file not found: {path}")
        self.path, self.predictor = path, predictor
        self.f = h5py.File(path, "r")
        text = self.f.attrs.get("settings")
        if text is None:
            raise ValueError(f"{path}: no 'settings' attribute: not a feature file of tools/extract_features.py")
        have = yaml.safe_load(text)
        want = {k: predictor.configs.features[k].to_dict() for k in SETTINGS_SECTIONS}
        from .config import flatten_config
        a, b = flatten_config(have), flatten_config(want)
        skip = {"BACKBONE.AMP"} | ({"BACKBONE.WEIGHTS"} if predictor.data["features"]["backbone"]["weights"] == "stored"
                                   else set())
        diff = [f"{k}: file {a.get(k)!r}, model {b.get(k)!r}" for k in sorted(set(a) | set(b))
                if k not in skip and a.get(k) != b.get(k)]
        if diff:
            raise ValueError(f"{path}: these features were made with other settings than the model file's: "
                             + "; ".join(diff))

    def prepare(self, vid: str, tubes: Optional[Sequence[Tube]]) -> PreparedVideo:
        if vid not in self.f:
            raise KeyError(f"{self.path}: no features for video {vid}")
        g = self.f[vid]
        roi = g["roi_features"][()] if "roi_features" in g else None
        if tubes is None:
            raise KeyError(f"video {vid}: no tube file")
        if roi is None and len(tubes):
            raise KeyError(f"{self.path}: video {vid} has no roi_features (extract with --tubes)")
        attrs = {k: g.attrs[k] for k in ("fps", "num_frames", "width", "height")}
        return self.predictor.prepare_from_arrays(vid, g["features"][()], g["clip_frames"][()], g["frame_indices"][()],
                                                  float(attrs["fps"]), int(attrs["num_frames"]), int(attrs["width"]),
                                                  int(attrs["height"]), tubes, roi)

    def close(self) -> None:
        self.f.close()
