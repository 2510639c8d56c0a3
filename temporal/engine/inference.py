"""Run a model over a loader: final test scores per sentence, the metrics, optional score dump.

Moment mode: R@n,IoU@m. Tube mode (:class:`TubeMMN`): each sentence's answer is its best
(tube, cell) by the fused test score (:meth:`TubeMMN.predict`), turned into the sub-tube
:func:`temporal.st_iou.cell_sub_tube` of that tube (first frame ``frames[round(i / N * T)]``, last
frame ``frames[round((j + 1) / N * T) - 1]``), and scored with :class:`TubeEvaluator`.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from tqdm import tqdm

from ..evaluation import MomentEvaluator, TubeEvaluator
from ..model import MMN
from ..st_iou import cell_sub_tube
from ..tube_mmn import TubeMMN

__all__ = ["run_inference"]


@torch.no_grad()
def run_inference(model, loader, cfg, device: torch.device, keep_scores: bool = False,
                  progress: bool = True, amp: bool = False
                  ) -> Tuple[Dict[str, float], Optional[Dict[str, torch.Tensor]]]:
    """Evaluate ``model`` (an unwrapped :class:`MMN` or :class:`TubeMMN`) on every sentence of ``loader``.

    Returns ``(metrics, scores)``. Metrics: ``{"R@n,IoU@m": fraction}`` for MMN; for TubeMMN
    ``{"m_vIoU", "m_tIoU", "vIoU@R", "oracle_m_vIoU", "oracle_vIoU@R"}`` (:class:`TubeEvaluator`; the
    dataset's videos without any candidate tube count with vIoU 0). ``scores`` (when
    ``keep_scores``) maps ``"<video_id>/<k>"`` (k = index of the sentence in its video's annotation
    list) to the final test scores on CPU: ``FloatTensor[N, N]`` (MMN; zero outside the valid mask)
    or ``FloatTensor[K, N, N]`` over the video's K tubes in tube-file order (TubeMMN; zero outside
    the valid mask and where the cell's sub-tube is empty).
    """
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, TubeMMN):
            return _run_tubes(model, loader, cfg, device, keep_scores, progress, amp)
        return _run_moments(model, loader, cfg, device, keep_scores, progress, amp)
    finally:
        model.train(was_training)


def _run_moments(model: MMN, loader, cfg, device, keep_scores, progress, amp):
    evaluator = MomentEvaluator(model.mask, cfg.TEST.IOU_THRESHOLDS, cfg.TEST.RECALL_AT, cfg.TEST.NMS_THRESH)
    scores_out: Optional[Dict[str, torch.Tensor]] = {} if keep_scores else None
    for batch in tqdm(loader, desc="eval", disable=not progress, leave=False, dynamic_ncols=True):
        batch = batch.to(device)
        with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
            out = model(batch.feats, batch.input_ids, batch.attention_mask, batch.sent_video)
        cpu = model.test_scores(out).float().cpu()  # greedy NMS is a sequential loop: run it on CPU
        durations = batch.durations[batch.sent_video].cpu()
        evaluator.process(cpu, durations, batch.gt_segments.cpu())
        if scores_out is not None:
            for s in range(cpu.shape[0]):
                vid = batch.video_ids[int(batch.sent_video[s])]
                scores_out[f"{vid}/{int(batch.sentence_index[s])}"] = cpu[s].clone()
    return evaluator.evaluate(), scores_out


def _run_tubes(model: TubeMMN, loader, cfg, device, keep_scores, progress, amp):
    evaluator = TubeEvaluator(cfg.TEST.IOU_THRESHOLDS)
    n = model.num_clips
    mask = model.mmn.mask.cpu()
    scores_out: Optional[Dict[str, torch.Tensor]] = {} if keep_scores else None
    for batch in tqdm(loader, desc="eval", disable=not progress, leave=False, dynamic_ncols=True):
        lengths = batch.tube_lengths.tolist()
        dev = batch.to(device)
        with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
            out = model(dev.tube_feats, dev.tube_video, dev.input_ids, dev.attention_mask, dev.sent_video)
        pred = model.predict(out, lengths)
        tube, cell = pred.tube.cpu(), pred.cell.cpu()
        answers = [cell_sub_tube(batch.tubes[int(tube[s])], int(cell[s, 0]), int(cell[s, 1]), n)
                   for s in range(tube.shape[0])]
        # oracle: the best official st-IoU over the predictable cells of every tube of the video
        per_pair = (batch.iou_targets * mask).flatten(1).amax(dim=1)
        oracle = torch.zeros(len(batch.gt_tubes)).scatter_reduce(0, batch.pair_sent, per_pair, "amax")
        evaluator.process(answers, batch.gt_tubes, oracle.tolist())
        if scores_out is not None:
            cpu = model.test_scores(out, lengths).float().cpu()
            cpu = torch.where(torch.isfinite(cpu), cpu, torch.zeros_like(cpu))
            pair_sent = batch.pair_sent
            for s in range(len(batch.gt_tubes)):
                vid = batch.video_ids[int(batch.sent_video[s])]
                scores_out[f"{vid}/{int(batch.sentence_index[s])}"] = cpu[pair_sent == s].clone()
    dataset = getattr(loader, "dataset", None)
    for v in getattr(dataset, "empty", ()):  # no candidate tube: no answer, vIoU 0
        evaluator.process(None, [q.gt for q in v.queries])
    return evaluator.evaluate(), scores_out
