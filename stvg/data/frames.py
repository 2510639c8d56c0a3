"""The one place where HC-STVG's 1-based frame numbers meet the library's 0-based indices."""

__all__ = ["file_to_index", "index_to_file"]


def file_to_index(frame_number: int) -> int:
    """1-based frame number in an annotation or submission file -> 0-based decoded-frame index."""
    return int(frame_number) - 1


def index_to_file(index: int) -> int:
    """0-based decoded-frame index -> 1-based frame number for annotation and submission files."""
    return int(index) + 1
