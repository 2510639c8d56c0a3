"""Read the candidate tubes of one video from its tube file (the format ``spatial.tubes`` writes).

``temporal`` never imports ``spatial``, so this is a small reader of the same JSON format:
``video_id`` (the file name with extension, :mod:`stvg.data.ids`) and ``tubes``, a list, best first,
of ``{"start_frame", "end_frame", "boxes": [[x1, y1, x2, y2], ...], "score"}`` with one box per
0-based decoded frame from ``start_frame`` to ``end_frame`` (inclusive). Written by
``tools/build_tubes.py`` and ``tools/import_mmn_stvg.py`` as ``<folder>/<video id>.json``.
Only the tubes are read (each entry by :func:`stvg.tube_json.tube_from_json`, the same checks as
``spatial.tubes``); the detector and linking records are ignored.
"""
from __future__ import annotations

import os
from typing import List

from stvg.io import read_json
from stvg.structures import Tube
from stvg.tube_json import tube_from_json

__all__ = ["tube_file_path", "read_video_tubes"]


def tube_file_path(folder: str, video_id: str) -> str:
    """``<folder>/<video id>.json``."""
    return os.path.join(folder, f"{video_id}.json")


def read_video_tubes(path: str, video_id: str) -> List[Tube]:
    """The tubes of ``video_id`` in file order (row ``k`` of the video's RoI features is tube ``k``).

    Raises ``ValueError`` naming the file, the video and the field when the file holds another
    video or a malformed tube (boxes that do not match ``start_frame..end_frame``, bad values)."""
    obj = read_json(path, "tube file")
    if not isinstance(obj, dict) or not isinstance(obj.get("tubes"), list):
        raise ValueError(f"{path}: video {video_id}: not a tube file (expected an object with a 'tubes' list)")
    if obj.get("video_id") != video_id:
        raise ValueError(f"{path}: video_id is {obj.get('video_id')!r}, expected {video_id!r} (tube files are "
                         f"named <video id>.json and hold that id)")
    return [tube_from_json(t, f"{path}: video {video_id}: tube {k}") for k, t in enumerate(obj["tubes"])]
