"""Load pickles from the internet without running their code: ``safe_load(path)``.

A pickle names the functions that rebuild its objects ("globals") and the unpickler calls them, so an
ordinary ``pickle.load`` runs whatever a file names. Here only these are accepted:

* plain containers, numbers, strings, bytes, ``None``/booleans (no global needed), ``set``,
  ``frozenset``, ``complex``, ``collections.OrderedDict``, and the ``bytes`` rebuild of protocol 2
  (``_codecs.encode(str, "latin1")``);
* numpy arrays, dtypes and scalars (``_reconstruct``, ``_frombuffer``, ``scalar``, ``dtype``, under
  numpy 1's ``numpy.core`` and numpy 2's ``numpy._core`` names); ``ndarray`` is accepted only as
  the class argument of ``_reconstruct``, never called;
* torch tensors: ``torch._utils._rebuild_tensor(_v2)`` (with no backward hooks), their storages
  (``torch.storage._load_from_bytes``, whose bytes are read by ``torch.load(weights_only=True)``:
  torch's own version of it would read them with ``weights_only=False``), ``torch.Size`` and dtypes.

Anything else raises :class:`UnsafePickleError` naming the file and the refused ``module.name``,
before that global is ever called. Files written by ``torch.save`` (zip, or the legacy format that
starts with torch's magic number) are read by ``torch.load(weights_only=True)``, torch's own
restricted loader, on the CPU.
"""
from __future__ import annotations

import _codecs
import collections
import io
import os
import pickle
from typing import Any, Dict, Tuple

import numpy as np

__all__ = ["safe_load", "safe_loads", "UnsafePickleError"]

_TORCH_LEGACY_MAGIC = 0x1950a86a20f9469cfc6c  # first object of a legacy torch.save file


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside the accepted set, or is not a readable pickle."""


class _NdarrayClass:
    """Stands for ``numpy.ndarray`` in a pickle: accepted by ``_reconstruct``, not callable."""


def _np_attr(name: str, *modules: str) -> Any:
    for mod in modules:
        try:
            obj = __import__(mod, fromlist=[name])
            return getattr(obj, name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no {name} in {modules}")


_reconstruct = _np_attr("_reconstruct", "numpy._core.multiarray", "numpy.core.multiarray")
_scalar = _np_attr("scalar", "numpy._core.multiarray", "numpy.core.multiarray")
_frombuffer = _np_attr("_frombuffer", "numpy._core.numeric", "numpy.core.numeric")


def _safe_reconstruct(cls, shape, dtype):
    if cls is not _NdarrayClass:
        raise UnsafePickleError(f"numpy _reconstruct of {cls!r}: only numpy.ndarray is accepted")
    return _reconstruct(np.ndarray, shape, dtype)


def _safe_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"numpy scalar with dtype {dtype!r}")
    return _scalar(dtype, *args)


def _safe_frombuffer(buf, dtype, shape, order):
    if not isinstance(dtype, np.dtype):
        raise UnsafePickleError(f"numpy _frombuffer with dtype {dtype!r}")
    return _frombuffer(buf, dtype, shape, order)


def _safe_codecs_encode(obj, encoding="utf-8", *rest):
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"_codecs.encode({type(obj).__name__}, {encoding!r}): only str, latin1")
    return _codecs.encode(obj, encoding)


def _safe_bytes(*args):
    if args and not isinstance(args[0], (bytes, bytearray, str)):
        raise UnsafePickleError(f"bytes({type(args[0]).__name__}): only bytes from bytes or str")
    return bytes(*args)


def _torch_globals() -> Dict[Tuple[str, str], Any]:
    import torch
    from torch import _utils

    def check_storage(storage):
        if not isinstance(storage, (torch.storage.TypedStorage, torch.UntypedStorage)):
            raise UnsafePickleError(f"tensor rebuilt from a {type(storage).__name__}, not a torch storage")

    def rebuild_v2(storage, offset, size, stride, requires_grad, backward_hooks, metadata=None):
        check_storage(storage)
        if backward_hooks:
            raise UnsafePickleError("tensor with backward hooks")
        if metadata is not None and not isinstance(metadata, dict):
            raise UnsafePickleError(f"tensor metadata of type {type(metadata).__name__}")
        return _utils._rebuild_tensor_v2(storage, offset, size, stride, bool(requires_grad),
                                         collections.OrderedDict(), metadata)

    def rebuild(storage, offset, size, stride):
        check_storage(storage)
        return _utils._rebuild_tensor(storage, offset, size, stride)

    def load_from_bytes(b):
        if not isinstance(b, (bytes, bytearray)):
            raise UnsafePickleError(f"torch storage from a {type(b).__name__}, not bytes")
        try:
            return torch.load(io.BytesIO(b), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            raise UnsafePickleError(f"tensor storage refused by torch.load(weights_only=True): {e}") from None

    out: Dict[Tuple[str, str], Any] = {
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_v2,
        ("torch._utils", "_rebuild_tensor"): rebuild,
        ("torch.storage", "_load_from_bytes"): load_from_bytes,
        ("torch", "Size"): torch.Size,
    }
    for name, value in vars(torch).items():
        if isinstance(value, torch.dtype):
            out[("torch", name)] = value
    return out


def _base_globals() -> Dict[Tuple[str, str], Any]:
    out: Dict[Tuple[str, str], Any] = {("collections", "OrderedDict"): collections.OrderedDict,
                                       ("_codecs", "encode"): _safe_codecs_encode}
    for mod in ("builtins", "__builtin__"):
        out.update({(mod, "set"): set, (mod, "frozenset"): frozenset, (mod, "complex"): complex,
                    (mod, "bytes"): _safe_bytes})
    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        out.update({(mod, "_reconstruct"): _safe_reconstruct, (mod, "scalar"): _safe_scalar})
    for mod in ("numpy._core.numeric", "numpy.core.numeric"):
        out[(mod, "_frombuffer")] = _safe_frombuffer
    out[("numpy", "ndarray")] = _NdarrayClass
    out[("numpy", "dtype")] = np.dtype
    return out


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, name: str, allowed: Dict[Tuple[str, str], Any]) -> None:
        super().__init__(file)
        self._name, self._allowed = name, allowed

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._name}: refused global {module}.{name} (only plain containers, numbers, strings, "
                f"bytes, numpy arrays and torch tensors are accepted)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self._name}: refused persistent id {pid!r} (not a plain pickle)")


_ALLOWED: Dict[Tuple[str, str], Any] = {}


def _allowed() -> Dict[Tuple[str, str], Any]:
    if not _ALLOWED:
        _ALLOWED.update(_base_globals())
        try:
            _ALLOWED.update(_torch_globals())
        except ImportError:  # torch absent: tensors are refused like any other global
            pass
    return _ALLOWED


def _torch_load(source: Any, name: str) -> Any:
    import torch
    try:
        return torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafePickleError(f"{name}: refused by torch.load(weights_only=True): {e}") from None


def safe_loads(data: bytes, name: str = "<bytes>") -> Any:
    """:func:`safe_load` of bytes already read; ``name`` is used in the errors."""
    if data[:4] == b"PK\x03\x04":
        return _torch_load(io.BytesIO(data), name)
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), name, _allowed()).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(str(e) if str(e).startswith(name) else f"{name}: {e}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, RuntimeError) as e:
        raise UnsafePickleError(f"{name}: not a readable pickle ({type(e).__name__}: {e})") from None
    if isinstance(obj, int) and not isinstance(obj, bool) and obj == _TORCH_LEGACY_MAGIC:
        return _torch_load(io.BytesIO(data), name)
    return obj


def safe_load(path: str) -> Any:
    """Unpickle ``path`` accepting only the globals listed in the module docstring.

    Raises :class:`UnsafePickleError` (naming the file and the refused ``module.name``) for anything
    else, and ``FileNotFoundError`` naming a missing file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pickle file not found: {path}")
    with open(path, "rb") as f:
        return safe_loads(f.read(), path)
