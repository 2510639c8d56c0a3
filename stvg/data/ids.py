"""The one video-id rule, and which videos a job covers.

A video's id is its HC-STVG annotation key: the file name with its extension
(``"55_vfjywN5CN0Y.mp4"``). Every stage keys its outputs by it: the detection cache
(``<id>.npz``), tube files (``<id>.json`` holding ``"video_id": <id>``), the feature HDF5 groups
(``f[<id>]``) and every :class:`stvg.store.VideoStore`, so features, tubes and annotations join
by plain equality. The one conversion is :func:`submission_id` (the stem), at the submission
boundary only: :func:`stvg.submission.write_submission` writes stems, and
:func:`stvg.submission.validate` and :mod:`stvg.evaluation` match a submission to its ground truth
by the submission id of both sides (:func:`stvg.submission.match_key`), so a submission keyed by
stems or by file names scores the same, against an annotation file (file names) or a
challenge-format ground truth (stems); two ids with one stem (``"a.mp4"`` and ``"a"``) are an
error naming both. Code that looks a submission's entry up by annotation key goes through
``match_key`` too.

    video_id_of("videos/55_vfjywN5CN0Y.mp4")   # '55_vfjywN5CN0Y.mp4'
    submission_id("55_vfjywN5CN0Y.mp4")        # '55_vfjywN5CN0Y'
"""
from __future__ import annotations

import os
from typing import List, Optional, Sequence, Tuple

__all__ = ["VIDEO_EXTENSIONS", "video_id_of", "submission_id", "check_video_id", "videos_in_folder",
           "videos_from_annotation", "select_videos", "load_usable_annotations"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi", ".webm", ".mov")
_MAX_ID_BYTES = 200  # a file name holds the id plus a suffix such as ".npz.partial" (255 bytes in all)


def video_id_of(path: str) -> str:
    """The id of a video file: its file name with the extension."""
    return os.path.basename(os.fspath(path))


def submission_id(video_id: str) -> str:
    """The id a challenge submission uses: the id without its video extension (the stem)."""
    stem, ext = os.path.splitext(video_id)
    return stem if ext.lower() in VIDEO_EXTENSIONS else video_id


def check_video_id(video_id: object, source: str = "") -> str:
    """Return ``video_id`` if it can name a file and an HDF5 group, else raise ``ValueError``
    naming the id (and ``source``, e.g. the annotation file, when given)."""
    where = f"{source}: " if source else ""
    if not isinstance(video_id, str):
        raise ValueError(f"{where}video id {video_id!r} is a {type(video_id).__name__}, not a string")
    if video_id in ("", ".", "..") or "/" in video_id or "\0" in video_id:
        raise ValueError(f"{where}video id {video_id!r} cannot name a file or an HDF5 group "
                         "(empty, '.', '..', or contains '/' or NUL)")
    if len(video_id.encode("utf-8")) > _MAX_ID_BYTES:
        raise ValueError(f"{where}video id {video_id[:40]!r}... is longer than {_MAX_ID_BYTES} bytes")
    return video_id


def videos_in_folder(folder: str, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[Tuple[str, str]]:
    """``[(video id, path)]`` of the files in ``folder`` with one of ``extensions``, sorted by id."""
    _check_folder(folder)
    exts = tuple(e.lower() for e in extensions)
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(exts) and os.path.isfile(os.path.join(folder, n)))
    if not names:
        raise ValueError(f"no video file ({', '.join(exts)}) in {folder}")
    return [(video_id_of(n), os.path.join(folder, n)) for n in names]


def _check_folder(folder: str) -> None:
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise NotADirectoryError(f"video folder {folder} is a file, not a folder")
        raise FileNotFoundError(f"video folder not found: {folder}")


def load_usable_annotations(ann: str):
    """:func:`stvg.data.load_hcstvg` of ``ann`` -> ``(videos, report)``, refusing (``ValueError``
    naming the file and the loader's summary: what was skipped and why) a file with no usable
    entry, e.g. a file of another schema (``{"a": {"foo": 1}}``) or an empty one: no job starts,
    no output is made for it."""
    from .hcstvg import load_hcstvg

    videos, report = load_hcstvg(ann)
    if not videos:
        if not report.num_entries:
            raise ValueError(f"{ann}: no usable annotation entry: the file holds no entry")
        summary = report.summary()
        if summary.startswith(f"{report.source}: "):
            summary = summary[len(f"{report.source}: "):]
        raise ValueError(f"{ann}: no usable annotation entry ({summary}); is it an HC-STVG annotation file?")
    return videos, report


def videos_from_annotation(ann: str, video_dir: str,
                           extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[Tuple[str, str]]:
    """``[(video id, path)]`` for every video of an HC-STVG annotation file, in file order (entries
    whose annotation is invalid included: their detections and features are still wanted; a file
    with no usable entry at all is refused, :func:`load_usable_annotations`).

    The id is the annotation key; the path is ``video_dir/<id>``, else ``video_dir/<id><ext>`` for
    the first extension that exists (keys written without extension). A missing file is kept: the
    job reports it as that video's failure, with the path."""
    videos, report = load_usable_annotations(ann)
    ids = list(dict.fromkeys(list(videos) + report.skipped))
    for vid in ids:
        check_video_id(vid, ann)
    _check_folder(video_dir)
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


def select_videos(folder: Optional[str] = None, ann: Optional[str] = None, video_dir: Optional[str] = None,
                  extensions: Sequence[str] = VIDEO_EXTENSIONS) -> List[Tuple[str, str]]:
    """A job's videos as the tools take them: every video of ``folder`` (``--videos DIR``), or the
    one video file ``folder`` names (``--videos FILE``, id its file name, whatever its extension:
    the decoder judges it), or the videos of the annotation file ``ann`` found in ``video_dir``
    (``--ann FILE --video-dir DIR``)."""
    if (folder is None) == (ann is None):
        raise ValueError("give either a video folder (--videos) or an annotation file (--ann)")
    if ann is not None:
        if video_dir is None:
            raise ValueError("--ann needs --video-dir (the folder of its videos)")
        return videos_from_annotation(ann, video_dir, extensions)
    if os.path.isfile(folder):
        return [(check_video_id(video_id_of(folder)), folder)]
    return videos_in_folder(folder, extensions)
