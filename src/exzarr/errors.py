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
    ├── BoundsError            (IndexError)          selection outside the array
    ├── SelectionError         (IndexError)          malformed selection
    ├── ShapeMismatchError     (ValueError)          data does not broadcast
    ├── CastError              (ValueError)          value cannot be cast to dtype
    └── CallbackError          (RuntimeError)        a user callback (filter, progress...) raised

Each message names the array path, chunk key or JSON field at fault. A missing
*chunk* is never an error (it reads as the fill value); a missing *node* is.
"""

from __future__ import annotations

__all__ = [
    "BoundsError",
    "CallbackError",
    "ConsolidatedMetadataWarning",
    "CastError",
    "ChecksumError",
    "ChunkDecodeError",
    "ExzarrError",
    "MetadataError",
    "NodeExistsError",
    "NodeNotFoundError",
    "ReadOnlyError",
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
    """A stored chunk could not be decoded; the message names its key."""


class ChecksumError(ChunkDecodeError):
    """A stored chunk failed its checksum (e.g. crc32c)."""


class BoundsError(ExzarrError, IndexError):
    """An index or slice lies outside the array bounds."""


class SelectionError(ExzarrError, IndexError):
    """A selection is malformed (wrong type, wrong number of dimensions...)."""


class ShapeMismatchError(ExzarrError, ValueError):
    """Data to write does not broadcast to the selection's shape."""


class CastError(ExzarrError, ValueError):
    """A value cannot be cast to the array's dtype."""


class CallbackError(ExzarrError, RuntimeError):
    """A callback the user passed (``filter``, ``progress_callback``, ``checkpoint``...) raised."""


class ConsolidatedMetadataWarning(UserWarning):
    """Consolidated metadata disagrees with a node's own metadata (it is stale)."""
