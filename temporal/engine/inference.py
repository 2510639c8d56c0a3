"""Run a model over a loader: final test scores per sentence, R@n,IoU@m, optional score dump."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from tqdm import tqdm

from ..evaluation import MomentEvaluator
from ..model import MMN

__all__ = ["run_inference"]


@torch.no_grad()
def run_inference(model: MMN, loader, cfg, device: torch.device, keep_scores: bool = False,
                  progress: bool = True, amp: bool = False
                  ) -> Tuple[Dict[str, float], Optional[Dict[str, torch.Tensor]]]:
    """Evaluate ``model`` (an unwrapped :class:`MMN`) on every sentence of ``loader``.

    Returns ``(metrics {"R@n,IoU@m": fraction}, scores)``; ``scores`` (when ``keep_scores``) maps
    ``"<video_id>/<k>"`` (k = index of the sentence in its video's annotation list) to the
    ``FloatTensor[N, N]`` final test scores on CPU, zero outside the valid mask.
    """
    was_training = model.training
    model.eval()
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
    model.train(was_training)
    return evaluator.evaluate(), scores_out
