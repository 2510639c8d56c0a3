"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A crash at any moment leaves either the old file or the new one, never a half-written file.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from typing import Any, Iterator, Optional

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json", "atomic_torch_save", "read_json",
           "temporary_target"]


# the temporary of atomic_write for ``<target>``: ``.<target>.<8 random characters of mkstemp>.tmp``
_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[A-Za-z0-9_]{8}\.tmp$")


def temporary_target(name: str) -> Optional[str]:
    """The file name that ``name`` is an :func:`atomic_write` temporary of (``.last.pth.k3j_x9a2.tmp``
    -> ``last.pth``), or None: how a clean-up recognises what a killed writer left."""
    m = _TEMPORARY.match(name)
    return m.group("target") if m else None


@contextlib.contextmanager
def atomic_write(path: str, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Context manager yielding a file object; on success the file replaces ``path`` atomically."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str, obj: Any, indent: int | None = None) -> None:
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=indent)


def atomic_torch_save(obj: Any, path: str) -> None:
    import torch
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def read_json(path: str, what: str = "JSON file") -> Any:
    """Load JSON, raising ``FileNotFoundError`` / ``IsADirectoryError`` / ``ValueError`` that name
    the file (``what`` says which file it is)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{what} is a directory, not a file: {path}")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} not found: {path}")
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}: invalid JSON (not UTF-8 text: {e})") from None
        except RecursionError:
            raise ValueError(f"{path}: invalid JSON (values nested too deeply to read)") from None
        except ValueError as e:  # JSONDecodeError, and an integer with more digits than Python converts
            raise ValueError(f"{path}: invalid JSON ({e})") from None
