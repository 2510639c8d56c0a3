#!/usr/bin/env python
"""Convert the released files of MMN's HC-STVG entry (atao99/MMN-STVG) into this project's files.

    python tools/import_mmn_stvg.py --tubes-dir HC-STVG-Files/val_tubes --ann val_v2.json \
        --out-tubes tubes/val --feat-root HC-STVG-Files/csn_val_feats \
        --feat-root HC-STVG-Files/flow_val_feats --out-features features/val_mmn_stvg.h5

Inputs (all read with :func:`stvg.safe_pickle.safe_load`: a pickle that names anything but plain
containers, numbers, strings, numpy arrays or torch tensors is refused, nothing in it runs):

* ``<stem>_tubes.pkl`` per video (stem = the video id without ``.mp4``):
  ``{0: [(array[n, 6], tube score), ...]}``, each row ``frame, x1, y1, x2, y2, detector score``.
* ``--feat-root DIR`` (optional, repeatable): ``DIR/<stem>.pkl`` = ``Tensor[num_tubes, S, D]``, the
  released per-tube features (rows L2-normalised per box, then averaged into S = 32 segments by
  the released code), tube i being tube i of the tube file. Several roots are concatenated on the
  feature axis in the order given, as the released loader does (``torch.cat(feats, dim=2)``).

Conventions of the released files, checked in its code and converted here only:

* Frames are the annotation's **1-based** numbers: the released loader compares them directly with
  the ground truth's ``st_frame..ed_frame`` and writes them unchanged as the submission's frame
  keys. They become 0-based indices (``stvg.data.file_to_index``).
* Boxes are x1, y1, x2, y2 in pixels of the frame (written unchanged into the submission's
  x1, y1, x2, y2 boxes): kept as they are. The released IoU adds 1 to widths and heights; that is an
  IoU convention (``temporal.st_iou_map(..., plus_one=True)``), not a box conversion.
* Tubes are dense (a box on every frame of their span): the released ``iou3dt`` needs it. A tube with
  gaps is an error here.

Outputs: ``--out-tubes DIR/<video id>.json`` (``spatial.tubes.write_tubes_json``, tubes best first by
the released tube score; ``report.released_order`` gives each tube's index in the released list) and
``--out-features F.h5`` with ``f[video id]["roi_features"] float32[N, S, C]`` in the same tube order and
``fps, num_frames, width, height`` attributes (the RoI-feature layout of docs/features.md; no clip
features). The video id is the annotation key (``--ann``) or the file name found in ``--video-dir``;
fps, frame count and size come from the annotation (``img_num / 20 s``, ``img_size``) or, when it has
none (query-only test files), from the video file. Every file is written atomically.

A bad video (malformed or refused file) is reported with the file, the video id and the field; the
others are still converted. Exit status: 0 all converted, 1 some videos failed, 2 usage error.
"""
from __future__ import annotations

import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

from spatial.tubes import VideoTubes, write_tubes_json
from stvg.cli import tool_main, tool_parser
from stvg.data import VIDEO_EXTENSIONS, file_to_index, load_hcstvg, submission_id
from stvg.data.ids import check_video_id
from stvg.io import atomic_write
from stvg.safe_pickle import UnsafePickleError, safe_load
from stvg.structures import Tube

TUBES_SUFFIX = "_tubes.pkl"
SOURCE = "atao99/MMN-STVG released files"


class ReleasedFileError(ValueError):
    """A released file does not have the documented layout: names the file, the video and the field."""

    def __init__(self, path: str, video: str, field: str, message: str) -> None:
        super().__init__(f"{path}: video {video}: {field}: {message}")


def _numpy(obj, dtype) -> np.ndarray:
    """A tensor or an array-like -> ndarray of ``dtype`` (TypeError / ValueError if not numeric)."""
    import torch
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().cpu().numpy()
    return np.asarray(obj, dtype=dtype)


# ------------------------------------------------------------------------------------------------
def read_released_tubes(path: str, video: str) -> List[Tube]:
    """``<stem>_tubes.pkl`` -> tubes in the released order (0-based frames, per-box and tube scores)."""
    obj = safe_load(path)
    if not isinstance(obj, dict) or 0 not in obj:
        keys = f" with keys {list(obj)[:5]}" if isinstance(obj, dict) else ""
        raise ReleasedFileError(path, video, "top level", f"expected a dict with key 0, got "
                                f"{type(obj).__name__}{keys}")
    items = obj[0]
    if not isinstance(items, (list, tuple)):
        raise ReleasedFileError(path, video, "[0]", f"expected a list of (array, score), got {type(items).__name__}")
    tubes = []
    for k, item in enumerate(items):
        field = f"[0][{k}]"
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ReleasedFileError(path, video, field, f"expected (array[n, 6], tube score), got {item!r:.80}")
        rows, score = item
        try:
            rows, score = _numpy(rows, np.float64), float(score)
        except (TypeError, ValueError) as e:
            raise ReleasedFileError(path, video, field, f"not numbers ({e})") from None
        if rows.ndim != 2 or rows.shape[1] != 6 or rows.shape[0] == 0:
            raise ReleasedFileError(path, video, field + " array", f"expected shape [n >= 1, 6] (frame, x1, y1, "
                                    f"x2, y2, detector score), got {list(rows.shape)}")
        if not np.isfinite(rows).all() or not np.isfinite(score):
            raise ReleasedFileError(path, video, field, "non-finite value")
        frames = rows[:, 0]
        if (frames != np.round(frames)).any() or frames.min() < 1:
            raise ReleasedFileError(path, video, field + " frame", f"expected 1-based frame numbers, got "
                                    f"{frames[:5].tolist()}...")
        gaps = np.nonzero(np.diff(frames) != 1)[0]
        if gaps.size:
            g = int(gaps[0])
            raise ReleasedFileError(path, video, field + " frame", f"not one box per consecutive frame: "
                                    f"frame {int(frames[g])} then {int(frames[g + 1])}")
        first = file_to_index(int(frames[0]))
        try:
            tubes.append(Tube(np.arange(first, first + len(frames)), rows[:, 1:5].astype(np.float32),
                              rows[:, 5].astype(np.float32), score))
        except ValueError as e:
            raise ReleasedFileError(path, video, field + " boxes", str(e)) from None
    return tubes


def read_released_features(roots: List[str], stem: str, video: str, num_tubes: int) -> np.ndarray:
    """``ROOT/<stem>.pkl`` of every root -> ``float32[num_tubes, S, sum of D]``."""
    parts = []
    for root in roots:
        path = os.path.join(root, stem + ".pkl")
        if not os.path.isfile(path):
            raise ReleasedFileError(path, video, "file", "missing feature file")
        obj = safe_load(path)
        try:
            arr = _numpy(obj, np.float32)
        except (TypeError, ValueError) as e:
            raise ReleasedFileError(path, video, "features", f"expected Tensor[num_tubes, S, D] ({e})") from None
        if arr.ndim != 3 or arr.shape[0] != num_tubes:
            raise ReleasedFileError(path, video, "features", f"expected [num_tubes = {num_tubes}, S, D], "
                                    f"got {list(arr.shape)}")
        if parts and arr.shape[1] != parts[0].shape[1]:
            raise ReleasedFileError(path, video, "features", f"{arr.shape[1]} segments, but "
                                    f"{os.path.join(roots[0], stem + '.pkl')} has {parts[0].shape[1]}")
        if not np.isfinite(arr).all():
            raise ReleasedFileError(path, video, "features", "non-finite value")
        parts.append(arr)
    return np.concatenate(parts, axis=2)


# ------------------------------------------------------------------------------------------------
def _video_id(stem: str, ann_ids: Dict[str, str], video_dir: Optional[str]) -> Tuple[str, Optional[str]]:
    """``(video id, video path or None)`` of a released stem."""
    if stem in ann_ids:
        vid = ann_ids[stem]
        path = os.path.join(video_dir, vid) if video_dir else None
        return vid, path if path and os.path.isfile(path) else None
    if video_dir:
        for ext in VIDEO_EXTENSIONS:
            if os.path.isfile(os.path.join(video_dir, stem + ext)):
                return stem + ext, os.path.join(video_dir, stem + ext)
    where = "the annotation file" if ann_ids else "--video-dir"
    raise LookupError(f"video {stem}: not in {where}")


def _meta(vid: str, record, video_path: Optional[str]) -> Tuple[float, int, int, int]:
    if record is not None and record.fps is not None:
        return float(record.fps), int(record.num_frames), int(record.width), int(record.height)
    if video_path is None:
        raise LookupError(f"video {vid}: no fps/frame count/size in the annotation and no video file "
                          "(give --video-dir)")
    from stvg.video import VideoReader
    r = VideoReader(video_path)
    return float(r.fps), int(r.num_frames), int(r.width), int(r.height)


def import_video(tubes_path: str, vid: str, meta: Tuple[float, int, int, int],
                 feat_roots: List[str]) -> Tuple[VideoTubes, Optional[np.ndarray]]:
    """One video's released files -> (its tubes, best first; its RoI features in that order or None)."""
    released = read_released_tubes(tubes_path, vid)
    order = sorted(range(len(released)), key=lambda k: -released[k].score)  # stable: ties keep their order
    stem = os.path.basename(tubes_path)[:-len(TUBES_SUFFIX)]
    feats = read_released_features(feat_roots, stem, vid, len(released))[order] if feat_roots else None
    fps, num_frames, width, height = meta
    result = VideoTubes(vid, fps, num_frames, width, height, 1, [released[k] for k in order],
                        detector={"name": "released", "source": SOURCE},
                        report={"imported_from": os.path.abspath(tubes_path), "released_order": order,
                                "frames": "1-based in the released file, 0-based here"})
    return result, feats


def write_roi_h5(path: str, roi: Dict[str, np.ndarray], meta: Dict[str, Tuple[float, int, int, int]],
                 feat_roots: List[str]) -> None:
    """The RoI-feature HDF5 layout (docs/features.md), written atomically."""
    import h5py
    import yaml
    dims = {a.shape[2] for a in roi.values()}
    settings = {"source": SOURCE, "feature_roots": [os.path.abspath(r) for r in feat_roots],
                "num_segments": sorted({a.shape[1] for a in roi.values()})}
    with atomic_write(path, "wb") as fobj:
        with h5py.File(fobj, "w") as f:
            f.attrs["backbone"] = "released:MMN-STVG"
            f.attrs["weights"] = ",".join(os.path.basename(os.path.normpath(r)) for r in feat_roots)
            f.attrs["feature_dim"] = int(dims.pop()) if len(dims) == 1 else -1
            f.attrs["settings"] = yaml.safe_dump(settings, sort_keys=True)
            for vid in sorted(roi):
                g = f.create_group(check_video_id(vid))
                g.create_dataset("roi_features", data=roi[vid])
                for k, v in zip(("fps", "num_frames", "width", "height"), meta[vid]):
                    g.attrs[k] = v


@tool_main
def main(argv=None) -> int:
    p = tool_parser(__doc__, config=False, overrides=False, device=False)
    p.add_argument("--tubes-dir", required=True, help="folder of the released <stem>_tubes.pkl files")
    p.add_argument("--ann", help="HC-STVG annotation file (video ids, fps, frame count, size)")
    p.add_argument("--video-dir", help="folder of the videos (ids and sizes when --ann has none)")
    p.add_argument("--out-tubes", required=True, help="folder for the tube JSON files (<video id>.json)")
    p.add_argument("--feat-root", action="append", default=[], help="released per-video feature folder "
                   "(<stem>.pkl = Tensor[num_tubes, S, D]); repeat to concatenate, e.g. csn then flow")
    p.add_argument("--out-features", help="HDF5 file for the RoI features (needs --feat-root)")
    a = p.parse_args(argv)
    if bool(a.feat_root) != bool(a.out_features):
        p.error("--feat-root and --out-features go together")
    if not (a.ann or a.video_dir):
        p.error("give --ann or --video-dir (video ids, fps and sizes)")
    if not os.path.isdir(a.tubes_dir):
        p.error(f"--tubes-dir: folder not found: {a.tubes_dir}")
    for root in a.feat_root:
        if not os.path.isdir(root):
            p.error(f"--feat-root: folder not found: {root}")
    records = {}
    if a.ann:
        try:
            records, _ = load_hcstvg(a.ann)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    ann_ids = {submission_id(vid): vid for vid in records}
    names = sorted(n for n in os.listdir(a.tubes_dir) if n.endswith(TUBES_SUFFIX))
    if not names:
        print(f"error: no *{TUBES_SUFFIX} file in {a.tubes_dir}", file=sys.stderr)
        return 2
    failures: Dict[str, str] = {}
    roi: Dict[str, np.ndarray] = {}
    metas: Dict[str, Tuple[float, int, int, int]] = {}
    for name in names:
        path = os.path.join(a.tubes_dir, name)
        try:
            vid, video_path = _video_id(name[:-len(TUBES_SUFFIX)], ann_ids, a.video_dir)
            meta = _meta(vid, records.get(vid), video_path)
            result, feats = import_video(path, vid, meta, a.feat_root)
        except (UnsafePickleError, LookupError, ValueError, OSError, RuntimeError) as e:
            failures[path] = str(e)
            print(f"failed: {e}", file=sys.stderr)
            continue
        write_tubes_json(os.path.join(a.out_tubes, vid + ".json"), result)
        if feats is not None:
            roi[vid], metas[vid] = feats, meta
        print(f"{vid}: {len(result.tubes)} tubes" + ("" if feats is None else f", features {list(feats.shape)}"))
    if a.out_features and roi:
        write_roi_h5(a.out_features, roi, metas, a.feat_root)
        print(f"wrote {a.out_features} ({len(roi)} videos)")
    print(f"converted {len(names) - len(failures)} of {len(names)} videos into {a.out_tubes}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
