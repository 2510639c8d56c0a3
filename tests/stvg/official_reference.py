"""A plain-Python transcription of the official HC-STVG definition (owned by the tests).

Deliberately naive: one loop over videos, one over frames, no numpy, no torch.
"""


def box_iou_ref(a, b):
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    if ix2 <= ix1 or iy2 <= iy1:
        return 0.0
    inter = (ix2 - ix1) * (iy2 - iy1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def video_scores_ref(pred, gt):
    """(vIoU, tIoU) of one video; pred None means missing. Frames match by their keys, as strings,
    iterating over the ground-truth frames."""
    if pred is None:
        return 0.0, 0.0
    union = max(pred["ed_frame"], gt["ed_frame"]) - min(pred["st_frame"], gt["st_frame"]) + 1
    total, inter_frames = 0.0, 0
    for frame in gt["bbox"]:  # S_i: frames with a box in both
        if frame in pred["bbox"]:
            inter_frames += 1
            total += box_iou_ref(pred["bbox"][frame], gt["bbox"][frame])
    return total / union, inter_frames / union


def evaluate_ref(predictions, ground_truth, thresholds=(0.3, 0.5)):
    vious, tious = [], []
    for vid, gt in ground_truth.items():
        v, t = video_scores_ref(predictions.get(vid), gt)
        vious.append(v)
        tious.append(t)
    n = len(vious)
    out = {"m_tIoU": sum(tious) / n, "m_vIoU": sum(vious) / n, "num_videos": n}
    for r in thresholds:
        out[f"vIoU@{r:g}"] = sum(1 for v in vious if v > r) / n
    return out
