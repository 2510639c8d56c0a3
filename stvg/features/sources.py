"""Which videos to extract: every video file of a folder, or the video ids of an annotation file."""
from __future__ import annotations

import os
from typing import List, Sequence, Tuple

__all__ = ["videos_in_folder", "videos_from_annotation"]


def videos_in_folder(folder: str, extensions: Sequence[str]) -> List[Tuple[str, str]]:
    """``[(file name, path)]`` of the files in ``folder`` with one of ``extensions``, sorted.

    The id is the file name with its extension, as HC-STVG's annotation keys are.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"video folder not found: {folder}")
    exts = tuple(e.lower() for e in extensions)
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(exts) and os.path.isfile(os.path.join(folder, n)))
    if not names:
        raise ValueError(f"no video file ({', '.join(exts)}) in {folder}")
    return [(n, os.path.join(folder, n)) for n in names]


def videos_from_annotation(ann: str, video_dir: str, extensions: Sequence[str]) -> List[Tuple[str, str]]:
    """``[(video id, path)]`` for every video of an HC-STVG annotation file (entries whose
    annotation is invalid included: their features are still wanted). The path is
    ``video_dir/<id>``, else ``video_dir/<id><ext>`` for the first extension that exists; a missing
    file is kept (it is reported as a failure, with the path, when extraction reaches it)."""
    from ..data import load_hcstvg

    videos, report = load_hcstvg(ann)
    ids = list(dict.fromkeys(list(videos) + report.skipped))
    if not os.path.isdir(video_dir):
        raise FileNotFoundError(f"video folder not found: {video_dir}")
    out = []
    for vid in ids:
        path = os.path.join(video_dir, vid)
        if not os.path.isfile(path):
            for ext in extensions:
                if os.path.isfile(path + ext):
                    path += ext
                    break
        out.append((vid, path))
    return out
