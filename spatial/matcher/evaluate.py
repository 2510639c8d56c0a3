"""Ranking metrics of the matcher, and the evaluation loop over loaded videos.

    ev = MatcherEvaluator(ks=(1, 3, 5)); ev.process(video, scores); metrics = ev.evaluate()

Per video, with ``v[i]`` = vIoU of tube i with the ground truth restricted to the ground-truth span
(:func:`spatial.matcher.data.span_viou`) and the ranking by decreasing score:
``top1_acc`` = share of videos whose first tube has ``v > THRESHOLD`` (0.5); ``mean_viou`` = mean of
the first tube's ``v``; ``recall@k`` = share with a tube of ``v > 0.5`` among the first k;
``oracle_acc`` / ``oracle_mean_viou``: the same for the best available tube (the ceiling of any
ranking of these tubes); ``random_*``: expected values of a uniformly random tube (exact means, not a
draw); ``largest_*``: the tube of largest mean box area over the segments scored. A video with no
tube counts as 0 in every metric and is listed with its reason (``no_tubes``).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from .data import MatcherVideo, window_viou
from stvg.tube_geometry import GEOMETRY_NAMES, window_mask

__all__ = ["MatcherEvaluator", "evaluate_videos", "encode_video_sentences", "evaluate_spans"]

_W, _H = GEOMETRY_NAMES.index("w"), GEOMETRY_NAMES.index("h")


class MatcherEvaluator:
    """reset / process / evaluate over videos (see the module docstring)."""

    def __init__(self, ks: Sequence[int] = (1, 3, 5), threshold: float = 0.5):
        self.ks, self.threshold = tuple(int(k) for k in ks), float(threshold)
        self.reset()

    def reset(self) -> None:
        self.rows: List[Dict[str, float]] = []
        self.predictions: List[Dict[str, object]] = []

    def process(self, video: MatcherVideo, scores: Optional[torch.Tensor], mask: Optional[torch.Tensor] = None) -> None:
        """``scores Tensor[N]`` of the video's tubes (None or empty when it has none); ``mask`` Bool[N, S]
        the segments scored (for the largest-tube baseline; None: all)."""
        v = video.viou.astype(np.float64)
        t = self.threshold
        if video.num_tubes == 0 or scores is None or scores.numel() == 0:
            row = {"top1": 0.0, "viou": 0.0, "oracle": 0.0, "oracle_viou": 0.0, "random": 0.0, "random_viou": 0.0,
                   "largest": 0.0, "largest_viou": 0.0, **{f"r{k}": 0.0 for k in self.ks}}
            self.rows.append(row)
            self.predictions.append({"video_id": video.video_id, "sentence": video.sentence, "ranking": [], "scores": [], "viou": 0.0,
                                     "reason": video.reason or "no tubes"})
            return
        s = scores.detach().double().cpu()
        order = torch.argsort(-s, stable=True).numpy()
        geo = video.layout.geometry
        area = (geo[..., _W] * geo[..., _H]).double()
        m = torch.ones_like(area, dtype=torch.bool) if mask is None else mask.cpu()
        mean_area = (area * m).sum(1) / m.sum(1).clamp(min=1)
        largest = int(torch.argmax(mean_area))
        row = {"top1": float(v[order[0]] > t), "viou": float(v[order[0]]),
               "oracle": float(v.max() > t), "oracle_viou": float(v.max()),
               "random": float((v > t).mean()), "random_viou": float(v.mean()),
               "largest": float(v[largest] > t), "largest_viou": float(v[largest]),
               **{f"r{k}": float((v[order[:k]] > t).any()) for k in self.ks}}
        self.rows.append(row)
        self.predictions.append({"video_id": video.video_id, "sentence": video.sentence, "ranking": order.tolist(),
                                 "scores": [round(float(s[i]), 6) for i in order], "viou": float(v[order[0]]),
                                 "reason": ""})

    def evaluate(self) -> Dict[str, float]:
        n = len(self.rows)
        mean = (lambda key: float(np.mean([r[key] for r in self.rows])) if n else 0.0)
        out = {"top1_acc": mean("top1"), "mean_viou": mean("viou"),
               **{f"recall@{k}": mean(f"r{k}") for k in self.ks},
               "oracle_acc": mean("oracle"), "oracle_mean_viou": mean("oracle_viou"),
               "random_acc": mean("random"), "random_mean_viou": mean("random_viou"),
               "largest_acc": mean("largest"), "largest_mean_viou": mean("largest_viou"),
               "num_videos": n, "no_tubes": sum(1 for p in self.predictions if p["reason"])}
        return out


@torch.no_grad()
def encode_video_sentences(model, videos: Sequence[MatcherVideo], batch_size: int = 64,
                           pooled_cache: Optional[Dict[str, torch.Tensor]] = None) -> torch.Tensor:
    """``Tensor[V, J]`` sentence embeddings of the videos, in chunks; ``pooled_cache`` {sentence: pooled
    encoder mean} skips the (frozen) encoder for the sentences it holds."""
    with model.eval_mode():
        out = []
        for lo in range(0, len(videos), batch_size):
            chunk = [v.sentence for v in videos[lo:lo + batch_size]]
            if pooled_cache is not None and all(s in pooled_cache for s in chunk):
                pooled = torch.stack([pooled_cache[s] for s in chunk]).to(model.device)
                out.append(model.embed_pooled_text(pooled))
            else:
                out.append(model.encode_sentences(chunk, source=videos[lo].video_id))
        return torch.cat(out) if out else torch.zeros(0, model.encoded_dim)


@torch.no_grad()
def evaluate_videos(model, videos: Sequence[MatcherVideo], window: str = "gt", ks: Sequence[int] = (1, 3, 5),
                    batch_size: int = 64, pooled_cache: Optional[Dict[str, torch.Tensor]] = None,
                    progress=None) -> MatcherEvaluator:
    """Score every video's tubes against its sentence (``window`` "gt": within the ground-truth span;
    "none": whole tubes) and return the filled :class:`MatcherEvaluator`. The tubes of up to
    ``batch_size`` videos are encoded in one pass (each tube is encoded independently of the others)."""
    ev = MatcherEvaluator(ks)
    sent = encode_video_sentences(model, videos, batch_size, pooled_cache)
    dev = model.device
    with model.eval_mode():
        for lo in range(0, len(videos), batch_size):
            chunk = list(videos[lo:lo + batch_size])
            masks, insides = [], []
            for v in chunk:
                m, inside = window_mask(v.layout, v.gt_window if window == "gt" else None)
                masks.append(m)
                insides.append(inside)
            with_tubes = [i for i, v in enumerate(chunk) if v.num_tubes]
            emb = None
            if with_tubes:
                roi = torch.cat([torch.from_numpy(chunk[i].roi) for i in with_tubes]).to(dev)
                geo = torch.cat([chunk[i].layout.geometry for i in with_tubes]).to(dev)
                mask = torch.cat([masks[i] for i in with_tubes]).to(dev)
                emb = model.embed_tubes(roi, geo, mask)
            start = 0
            for i, v in enumerate(chunk):
                if not v.num_tubes:
                    ev.process(v, None)
                    continue
                e = emb[start:start + v.num_tubes]
                start += v.num_tubes
                cos_con, iou = model.similarities(sent[lo + i:lo + i + 1].to(dev), e)
                inside = insides[i].to(dev) if window == "gt" and v.gt_window is not None else None
                ev.process(v, model.fuse(cos_con, iou, inside)[0], masks[i])
            if progress is not None:
                progress.update(len(chunk))
    return ev


@torch.no_grad()
def evaluate_spans(model, videos: Sequence[MatcherVideo],
                   token_cache: Optional[Dict[str, torch.Tensor]] = None) -> Dict[str, float]:
    """The span head's own answers (``MODEL.SPAN_HEAD``): per video, the (tube, run) of highest expected
    vIoU (:meth:`TubeMatcher.span_answers`), scored against the ground truth. Returns ``span_m_viou``
    (official vIoU of that tube cut to its run, :func:`spatial.matcher.data.window_viou`),
    ``span_m_tiou`` (temporal IoU of the run's frames with the ground-truth span) and
    ``span_best_tube_viou`` (the run of the tube with the highest span-restricted vIoU, scored the same
    way: the head's temporal answer given the right person). Videos without tubes or ground truth
    count 0. ``token_cache``: ``{sentence: Tensor[L, hidden]}`` token states of a frozen encoder
    (:func:`spatial.matcher.train.token_text_cache`); sentences not in it are encoded."""
    from .span import pad_tokens
    rows = []
    for v in videos:
        if not v.num_tubes or v.gt is None or len(v.gt) == 0:
            rows.append((0.0, 0.0, 0.0))
            continue
        tokens = pad_tokens([token_cache[v.sentence]]) if token_cache is not None and v.sentence in token_cache \
            else model.encode_tokens([v.sentence], source=v.video_id)
        frames, value = model.span_answers(tokens, torch.from_numpy(v.roi), v.layout)
        k = int(torch.argmax(value[0]))
        a, b = (int(x) for x in frames[0, k])
        g0, g1 = v.gt.start_frame, v.gt.end_frame
        tiou = max(0, min(b, g1) - max(a, g0) + 1) / (max(b, g1) - min(a, g0) + 1)
        best = int(np.argmax(v.viou))
        rows.append((window_viou(v.tubes[k], v.gt, a, b), tiou,
                     window_viou(v.tubes[best], v.gt, *(int(x) for x in frames[0, best]))))
    r = np.asarray(rows, np.float64).reshape(-1, 3)
    mean = r.mean(0) if len(r) else np.zeros(3)
    return {"span_m_viou": float(mean[0]), "span_m_tiou": float(mean[1]), "span_best_tube_viou": float(mean[2])}
