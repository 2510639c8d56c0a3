"""Annotation loaders. Dataset quirks live here and only here."""
from .frames import file_to_index, index_to_file
from .hcstvg import (HCSTVG_CLIP_SECONDS, AnnotationError, HCSTVGReport, Problem, VideoAnnotation,
                     group_by_video, load_hcstvg, load_hcstvg_queries)
from .ids import (VIDEO_EXTENSIONS, check_video_id, select_videos, submission_id, video_id_of,
                  videos_from_annotation, videos_in_folder)

__all__ = ["load_hcstvg", "load_hcstvg_queries", "group_by_video", "VideoAnnotation", "HCSTVGReport", "Problem", "AnnotationError",
           "HCSTVG_CLIP_SECONDS", "file_to_index", "index_to_file",
           "VIDEO_EXTENSIONS", "video_id_of", "submission_id", "check_video_id", "videos_in_folder",
           "videos_from_annotation", "select_videos"]
