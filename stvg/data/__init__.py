"""Annotation loaders. Dataset quirks live here and only here."""
from .frames import file_to_index, index_to_file
from .hcstvg import (HCSTVG_CLIP_SECONDS, AnnotationError, LoadReport, Problem, VideoAnnotation,
                     load_hcstvg)

__all__ = ["load_hcstvg", "VideoAnnotation", "LoadReport", "Problem", "AnnotationError",
           "HCSTVG_CLIP_SECONDS", "file_to_index", "index_to_file"]
