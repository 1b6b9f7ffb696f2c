"""The node factory: one place that decides, for a mode and what is stored, whether a node is
opened, created, overwritten or refused.

Every entry point goes through :func:`resolve` (``create``, ``open``, ``open_array``,
``open_group``, ``create_group``, ``Group.create_array``/``require_array``/``create_group``
and ``copy``), so modes and options behave the same everywhere:

======  =====================================================================================
mode    meaning
======  =====================================================================================
``r``   open an existing node read-only; a missing node raises ``NodeNotFoundError``
``r+``  open an existing node for writing; a missing node raises ``NodeNotFoundError``
``a``   open the node if it exists, else create it
``w``   create the node, replacing whatever was at the path
``w-``  create the node; raise ``NodeExistsError`` if anything is at the path (``x`` too)
======  =====================================================================================

Options are typed records: :class:`ArraySpec` holds what is written into an array's metadata
(shape, chunks, dtype, codecs...) and :class:`ArrayOptions` how an opened array behaves
(``write_empty_chunks``, ``process_locks``, ``cache_bytes``). :func:`split_kwargs` turns
keyword arguments into both and names any keyword that is neither.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Any

from . import metadata as md
from .errors import NodeExistsError, NodeNotFoundError, PathError, StoreError
from .metadata.model import ArrayMetadata, GroupMetadata
from .storage.base import Store

__all__ = [
    "MODES",
    "remove_array",
    "ArrayOptions",
    "ArraySpec",
    "check_mode",
    "normalize_path",
    "resolve",
    "resolve_array",
    "resolve_group",
    "split_kwargs",
]

MODES = ("r", "r+", "a", "w", "w-", "x")


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return "w-" if mode == "x" else mode


def normalize_path(path: Any) -> str:
    """Strip slashes, collapse ``//`` and refuse ``.``/``..`` segments."""
    parts = [p for p in str(path).split("/") if p]
    for p in parts:
        if p in (".", ".."):
            raise PathError(f"invalid node path {path!r}: '.' and '..' segments are not allowed")
    return "/".join(parts)


@dataclass(frozen=True)
class ArrayOptions:
    """How an opened array behaves (nothing here is stored in its metadata).

    ``write_empty_chunks``: store chunks equal to the fill value (``None``: follow
    ``exzarr.config``); ``process_locks``: lock chunks across processes too (local stores);
    ``cache_bytes``: keep up to this many bytes of decoded chunks in an LRU cache.
    """

    write_empty_chunks: bool | None = None
    process_locks: bool = False
    cache_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.write_empty_chunks is not None and not isinstance(self.write_empty_chunks, bool):
            raise TypeError(f"write_empty_chunks must be True, False or None, got {self.write_empty_chunks!r}")
        if not isinstance(self.process_locks, bool):
            raise TypeError(f"process_locks must be True or False, got {self.process_locks!r}")
        cb = self.cache_bytes
        if cb is not None and (isinstance(cb, bool) or not isinstance(cb, int) or cb < 0):
            raise ValueError(f"cache_bytes must be a non-negative integer or None, got {cb!r}")

    def check_store(self, store: Store) -> None:
        """Refuse options the store cannot honour, before anything is written to it."""
        if self.process_locks and store.lock_root is None:
            raise StoreError(
                f"process_locks=True needs a store with a local directory for lock files (a LocalStore); {store!r} has none"
            )


@dataclass(frozen=True)
class ArraySpec:
    """The creation parameters of an array: what :func:`exzarr.create` writes into its metadata."""

    shape: Any
    chunks: Any = None
    dtype: Any = "float64"
    compressor: Any = "zstd"
    filters: Any = None
    fill_value: Any = 0
    zarr_format: int = 3
    order: str = "C"
    dimension_separator: str | None = None
    attributes: dict[str, Any] | None = None
    dimension_names: Any = None
    codecs: Any = None
    chunk_key_encoding: Any = None
    shards: Any = None

    def build(self) -> ArrayMetadata:
        return md.build_array_metadata(**{f.name: getattr(self, f.name) for f in fields(self)})

    def validate(self) -> None:
        """Build the metadata only to check the request (a misspelled codec option is an error
        even when mode ``"a"`` finds the array and creates nothing). Shape and dtype are not
        compared with what exists, as in zarr-python: "create or reopen" scripts run again after
        the array has grown."""
        self.build()


SPEC_FIELDS = tuple(f.name for f in fields(ArraySpec))
OPTION_FIELDS = tuple(f.name for f in fields(ArrayOptions))


_HINTS = {"store": "pass the store (or a path or URL) as the first argument"}


def unexpected(caller: str, name: str, known: tuple[str, ...] | list[str]) -> TypeError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; {_HINTS[name]}" if name in _HINTS else (f"; did you mean {close[0]!r}?" if close else "")
    return TypeError(f"{caller}() got an unexpected keyword argument {name!r}{hint}")


def split_kwargs(kwargs: dict[str, Any], caller: str, *, allow_spec: bool = True) -> tuple[dict[str, Any], ArrayOptions]:
    """Keyword arguments as ``(ArraySpec fields, ArrayOptions)``; any other keyword is a
    ``TypeError`` naming it (with a close match when there is one)."""
    known = (*SPEC_FIELDS, *OPTION_FIELDS) if allow_spec else OPTION_FIELDS
    for name in kwargs:
        if name not in known:
            raise unexpected(caller, name, known)
    spec = {k: v for k, v in kwargs.items() if k in SPEC_FIELDS}
    return spec, ArrayOptions(**{k: v for k, v in kwargs.items() if k in OPTION_FIELDS})


def _where(store: Store, path: str) -> str:
    return f"{'/' + path!r} in {store!r}"


def _a(kind: str | None) -> str:
    return {"array": "an array", "group": "a group"}.get(kind or "", "an array or group")


def resolve(
    store: Store,
    path: str,
    mode: str,
    *,
    kind: str | None,
    zarr_format: int | None = None,
    array: ArraySpec | ArrayMetadata | None = None,
    attributes: dict[str, Any] | None = None,
) -> tuple[ArrayMetadata | GroupMetadata, bool]:
    """Open, create or refuse the node at ``path`` for ``mode``; returns ``(metadata, read_only)``.

    ``kind`` is ``"array"``, ``"group"`` or ``None`` (either; a node created then is an array when
    ``array`` is given, else a group). ``array`` is what a new array is built from; ``attributes``
    and ``zarr_format`` describe a new group. New metadata is built before anything stored is
    touched, so invalid arguments never destroy data.
    """
    mode = check_mode(mode)
    where = _where(store, path)
    existing = md.read_metadata(store, path, zarr_format=zarr_format)
    found_kind = None if existing is None else ("array" if isinstance(existing, ArrayMetadata) else "group")
    if mode in ("r", "r+"):
        if existing is None:
            raise NodeNotFoundError(f"no {kind or 'array or group'} at {where}")
        if kind is not None and found_kind != kind:
            raise NodeNotFoundError(f"{where} is {_a(found_kind)}, not {_a(kind)}")
        return existing, mode == "r"
    if kind is None and array is not None:
        kind = "array"  # creation arguments were given: the node wanted is an array
    if mode == "a" and existing is not None:
        if kind is not None and found_kind != kind:
            raise NodeExistsError(f"{_a(found_kind)} exists at {where}, not {_a(kind)}")
        if isinstance(array, ArraySpec):
            array.validate()
        return existing, False
    anything = existing if existing is not None or zarr_format is None else md.read_metadata(store, path)
    if kind == "group" or (kind is None and array is None):
        new: ArrayMetadata | GroupMetadata = md.build_group_metadata(zarr_format or 3, attributes)
    elif array is None:
        hint = "mode='w' creates a new array: pass shape=" if mode == "w" else "pass shape= to create one"
        raise NodeNotFoundError(f"no array at {where} ({hint})")
    else:
        new = array if isinstance(array, ArrayMetadata) else array.build()
    encoded = md.encode_metadata(path, new)  # fails now (e.g. attributes JSON cannot hold), before any delete
    if anything is not None:
        if mode in ("w-", "a"):
            what = _a("array" if isinstance(anything, ArrayMetadata) else "group")
            hint = " (use mode='w' to overwrite)" if mode == "w-" else f" (zarr_format={zarr_format} was asked for)"
            raise NodeExistsError(f"{what} (v{anything.zarr_format}) already exists at {where}{hint}")
        store.delete_prefix(path)  # mode "w"; at the root: every key
    if not md.write_metadata(store, path, new, encoded=encoded, exclusive=mode != "w"):
        # a conditional put lost a race: another creator made a node here first
        raise NodeExistsError(f"a node appeared at {where} while it was being created (mode={mode!r})")
    return new, False


def resolve_array(
    store: Store, path: str, mode: str, *, zarr_format: int | None = None, array: ArraySpec | ArrayMetadata | None = None
) -> tuple[ArrayMetadata, bool]:
    """:func:`resolve` for a node that must be an array."""
    meta, read_only = resolve(store, path, mode, kind="array", zarr_format=zarr_format, array=array)
    assert isinstance(meta, ArrayMetadata)
    return meta, read_only


def resolve_group(
    store: Store, path: str, mode: str, *, zarr_format: int | None = None, attributes: dict[str, Any] | None = None
) -> tuple[GroupMetadata, bool]:
    """:func:`resolve` for a node that must be a group."""
    meta, read_only = resolve(store, path, mode, kind="group", zarr_format=zarr_format, attributes=attributes)
    assert isinstance(meta, GroupMetadata)
    return meta, read_only


def remove_array(store: Store, path: str, meta: ArrayMetadata) -> None:
    """Delete an array this process just created (its metadata and the chunks written), after a
    failure part way: below a path, its whole prefix; at a store's root, only keys that are its
    own chunk keys and lie under no other node (a v2 key ``3/0`` may be another node's chunk)."""
    if path:
        store.delete_prefix(path)
        return
    keys = list(store.list())
    names = set(md.METADATA_KEYS)
    nodes = {k.rsplit("/", 1)[0] for k in keys if "/" in k and k.rsplit("/", 1)[1] in names}
    enc, ndim = meta.key_encoding, len(meta.shape)
    for key in keys:
        parts = key.split("/")
        if any("/".join(parts[:i]) in nodes for i in range(1, len(parts))):
            continue  # under another node's metadata
        idx = enc.decode(key) if parts[-1] not in names else None
        if idx is not None and len(idx) == ndim:
            store.delete(key)
    for key in md.documents(meta):
        store.delete(key)
