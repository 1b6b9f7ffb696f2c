"""The exzarr exception tree.

Every error exzarr raises on purpose derives from :class:`ExzarrError` *and* from
the builtin exception a Python user would already catch, so ``except
FileNotFoundError`` keeps working::

    ExzarrError
    ├── NodeNotFoundError      (FileNotFoundError)   no array/group at a path
    ├── NodeExistsError        (FileExistsError)     create in mode "w-" over a node
    ├── ReadOnlyError          (PermissionError)     write to a read-only array/store
    ├── StoreError             (OSError)             a store could not do a request
    ├── MetadataError          (ValueError)          malformed / invalid metadata
    │   ├── UnknownCodecError                        codec name or id not known
    │   └── UnsupportedDtypeError                    dtype not supported
    ├── ChunkDecodeError       (ValueError)          a stored chunk failed to decode
    │   └── ChecksumError                            ...because its checksum differs
    ├── PathError              (ValueError)          a node path or name that is not allowed
    ├── BoundsError            (IndexError)          selection outside the array
    ├── SelectionError         (IndexError)          malformed selection
    ├── ShapeMismatchError     (ValueError)          data does not broadcast
    ├── CastError              (ValueError)          value cannot be cast to dtype
    ├── ResultTooLargeError    (MemoryError)         a read's result cannot be allocated
    └── CallbackError          (RuntimeError)        a user callback (filter, progress...) raised

Each message names the array path, chunk key or JSON field at fault. A missing
*chunk* is never an error (it reads as the fill value); a missing *node* is.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BoundsError",
    "CallbackError",
    "CastError",
    "ChecksumError",
    "ChunkDecodeError",
    "ConsolidatedMetadataWarning",
    "ExzarrError",
    "MetadataError",
    "NodeExistsError",
    "NodeNotFoundError",
    "PathError",
    "ReadOnlyError",
    "ResultTooLargeError",
    "SelectionError",
    "ShapeMismatchError",
    "StoreError",
    "UnknownCodecError",
    "UnsupportedDtypeError",
]


class ExzarrError(Exception):
    """Root of every exception exzarr raises deliberately."""


class NodeNotFoundError(ExzarrError, FileNotFoundError):
    """No array or group exists at the requested path."""


class NodeExistsError(ExzarrError, FileExistsError):
    """A node already exists where one was to be created."""


class ReadOnlyError(ExzarrError, PermissionError):
    """A write was attempted on a read-only array, group or store."""


class StoreError(ExzarrError, OSError):
    """A storage backend failed to carry out a request."""


class MetadataError(ExzarrError, ValueError):
    """Metadata JSON is malformed, truncated or violates the Zarr spec."""


class UnknownCodecError(MetadataError):
    """A codec named in metadata (or passed by the user) is not known."""


class UnsupportedDtypeError(MetadataError):
    """A data type cannot be represented in the requested Zarr format."""


class ChunkDecodeError(ExzarrError, ValueError):
    """A stored chunk could not be decoded; the message names its key.

    ``array``, ``key`` and ``inner`` (an inner chunk index inside shard ``key``) tell which
    stored object failed when the error comes from an array read."""

    def __init__(self, message: str, *, array: str | None = None, key: str | None = None, inner: Any = None) -> None:
        super().__init__(message)
        self.array, self.key, self.inner = array, key, inner


class ChecksumError(ChunkDecodeError):
    """A stored chunk failed its checksum (e.g. crc32c)."""


class PathError(ExzarrError, ValueError):
    """A node path or name is not allowed (``..`` segments, reserved names...)."""


class BoundsError(ExzarrError, IndexError):
    """An index or slice lies outside the array bounds."""


class SelectionError(ExzarrError, IndexError):
    """A selection is malformed (wrong type, wrong number of dimensions...)."""


class ShapeMismatchError(ExzarrError, ValueError):
    """Data to write does not broadcast to the selection's shape."""


class CastError(ExzarrError, ValueError):
    """A value cannot be cast to the array's dtype."""


class ResultTooLargeError(ExzarrError, MemoryError):
    """A read's result is larger than NumPy can allocate (or memory holds)."""


class CallbackError(ExzarrError, RuntimeError):
    """A callback the user passed (``filter``, ``progress_callback``, ``checkpoint``...) raised."""


class ConsolidatedMetadataWarning(UserWarning):
    """Consolidated metadata disagrees with a node's own metadata (it is stale)."""


# ----------------------------------------------------------------------------- decode boundary


def decode_error(exc: BaseException, array: str, key: str, *, inner: Any = None, part: str = "chunk") -> ChunkDecodeError:
    """The one translation of a failure while decoding stored bytes into an exzarr error.

    A :class:`ChecksumError` stays a :class:`ChecksumError`; anything else a codec raises
    (numcodecs, zstandard, NumPy, a length check) becomes :class:`ChunkDecodeError`. The message
    names the array and the stored object (``part`` is ``"chunk"``, ``"inner"`` or ``"index"``);
    an error already located by an inner boundary is returned as it is.
    """
    if isinstance(exc, ChunkDecodeError) and exc.key is not None:
        return exc
    if part == "index":
        where = f"the index of shard {key!r}"
    elif inner is not None:
        where = f"inner chunk {tuple(inner)} of shard {key!r}"
    else:
        where = f"chunk {key!r}"
    if isinstance(exc, ChecksumError):
        return ChecksumError(f"array {array!r}: {where} failed its checksum ({exc})", array=array, key=key, inner=inner)
    return ChunkDecodeError(f"array {array!r}: {where} could not be decoded: {exc}", array=array, key=key, inner=inner)


class decoding:
    """``with decoding(array, key): ...``: the error boundary around decoding one stored object.

    Exceptions raised inside become :func:`decode_error` results, chained to the original
    (``raise ... from exc``); nothing is caught that is not an :class:`Exception`.

    >>> with decoding("/a", "c/0"):  # doctest: +IGNORE_EXCEPTION_DETAIL
    ...     raise ValueError("bad frame")
    Traceback (most recent call last):
    exzarr.errors.ChunkDecodeError: array '/a': chunk 'c/0' could not be decoded: bad frame
    """

    __slots__ = ("array", "inner", "key", "part")

    def __init__(self, array: str, key: str, *, inner: Any = None, part: str = "chunk") -> None:
        self.array, self.key, self.inner, self.part = array, key, inner, part

    def __enter__(self) -> decoding:
        return self

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        err = decode_error(exc, self.array, self.key, inner=self.inner, part=self.part)
        if err is exc:
            return False
        raise err from exc
