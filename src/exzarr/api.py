"""Module-level functions: create, open, open_array, open_group, create_group, save, load."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metadata as md
from .array import Array
from .casting import cast_value
from .dtypes import as_data_type
from .errors import MetadataError, NodeNotFoundError
from .group import Group
from .metadata import consolidated as consolidated_md
from .metadata.model import ArrayMetadata, GroupMetadata
from .nodes import ArrayOptions, ArraySpec, check_mode, normalize_path, resolve, resolve_array, resolve_group, split_kwargs
from .storage.base import Store
from .storage.url import make_store

__all__ = ["consolidate_metadata", "create", "create_group", "load", "open", "open_array", "open_group", "save"]


def _resolve(
    path: Any, storage: str | None, storage_options: dict[str, Any] | None, mode: str, node: str | None
) -> tuple[Store, str]:
    store, base = make_store(path, storage=storage, storage_options=storage_options, mode=mode)
    sub = normalize_path(node or "")
    return store, "/".join(p for p in (base, sub) if p)


def _group(
    store: Store, path: str, meta: GroupMetadata, read_only: bool, options: ArrayOptions, use_consolidated: bool | None
) -> Group:
    """A group opened on its consolidated metadata (``use_consolidated`` ``None``/``True``), or on each
    node's own metadata, checked against the consolidated entries (``False``)."""
    nodes = consolidated_md.read(store, path, meta)
    if use_consolidated and nodes is None:
        raise MetadataError(f"use_consolidated=True, but the group at {'/' + path!r} in {store!r} has no consolidated metadata")
    if use_consolidated is False:
        return Group(store, path, meta, read_only=read_only, options=options, check_against=nodes)
    return Group(store, path, meta, read_only=read_only, options=options, consolidated=nodes)


def _node(
    store: Store, path: str, meta: Any, read_only: bool, options: ArrayOptions, use_consolidated: bool | None
) -> Array | Group:
    if isinstance(meta, ArrayMetadata):
        return Array(store, path, meta, read_only=read_only, options=options)
    return _group(store, path, meta, read_only, options, use_consolidated)


def _creation_spec(kwargs: dict[str, Any], mode: str, zarr_format: int | None, caller: str) -> ArraySpec | None:
    """The :class:`ArraySpec` that ``open``'s extra keywords describe (``None`` without any)."""
    spec_kw, _ = split_kwargs(kwargs, caller)
    if not spec_kw:
        return None
    if mode in ("r", "r+"):
        names = ", ".join(f"{k}=" for k in spec_kw)
        raise ValueError(f"{caller}(mode={mode!r}) opens an existing node and creates nothing: {names} would be ignored")
    if "shape" not in spec_kw:
        raise TypeError(f"{caller}() needs shape= to create an array (got {', '.join(f'{k}=' for k in spec_kw)})")
    return ArraySpec(**spec_kw, zarr_format=zarr_format or 3)


def create(
    path: Any = None,
    *,
    shape: Any,
    chunks: Any = None,
    dtype: Any = "float64",
    compressor: Any = "zstd",
    filters: Any = None,
    fill_value: Any = 0,
    zarr_format: int = 3,
    order: str = "C",
    dimension_separator: str | None = None,
    attributes: dict[str, Any] | None = None,
    dimension_names: Any = None,
    codecs: Any = None,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    mode: str = "w-",
    write_empty_chunks: bool | None = None,
    chunk_key_encoding: Any = None,
    node: str | None = None,
    process_locks: bool = False,
    shards: Any = None,
    cache_bytes: int | None = None,
) -> Array:
    """Create an array and write its metadata.

    Parameters
    ----------
    path:
        A local directory, ``file://``/``memory://``/``zip://`` URL, a ``.zip`` path, or a
        :class:`~exzarr.storage.Store`. ``None`` makes an anonymous in-memory array.
    shape, chunks:
        Array and chunk shapes (``chunks=None`` is one chunk; ``-1`` spans a dimension).
    dtype:
        Any NumPy dtype, or ``str``/``"string"`` and ``bytes`` for variable-length data.
    compressor:
        ``"zstd"``, ``"gzip"``, ``"zlib"``, ``"blosc"``, ``"lz4"``, ``"bz2"``, ``"lzma"``, ``None``,
        a numcodecs dict ``{"id": "zstd", "level": 1}``, a ``("zstd", {"level": 3})`` tuple or a
        codec object.
    filters:
        numcodecs filters (dicts or objects), applied before the compressor.
    codecs:
        A full v3 codec list (JSON form or codec objects) instead of ``compressor``/``filters``.
    storage:
        ``"filesystem"``, ``"memory"`` or ``"zip"`` as in the seed.
    mode:
        ``"w-"`` (fail if a node exists), ``"w"`` (overwrite) or ``"a"`` (open if it exists).
    node:
        Path of the array inside the store (default: the root).
    shards:
        v3 only: store ``chunks`` (inner chunks) grouped into shards of this shape, one object
        per shard (``sharding_indexed``). Reads fetch only the inner chunks they need.
    cache_bytes:
        Keep up to this many bytes of decoded chunks in an LRU cache, so overlapping reads
        skip fetching and decoding (writes through this array keep it correct).
    process_locks:
        Also lock each chunk across processes (a file lock per chunk, LocalStore only) so
        writers in several processes can update the same chunks safely.

    Examples
    --------
    >>> import exzarr, tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> a = exzarr.create(shape=(1000, 1000), chunks=(100, 100), dtype="float64",
    ...                   compressor="zstd", storage="filesystem", path=os.path.join(d, "a.zarr"))
    >>> a.shape, a.chunks, a.zarr_format
    ((1000, 1000), (100, 100), 3)
    """
    mode = check_mode(mode)
    if mode in ("r", "r+"):
        raise ValueError(f"create needs a writable mode ('w-', 'w' or 'a'), got {mode!r}")
    spec = ArraySpec(
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        compressor=compressor,
        filters=filters,
        fill_value=fill_value,
        zarr_format=zarr_format,
        order=order,
        dimension_separator=dimension_separator,
        attributes=attributes,
        dimension_names=dimension_names,
        codecs=codecs,
        chunk_key_encoding=chunk_key_encoding,
        shards=shards,
    )
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    options.check_store(store)
    meta, read_only = resolve_array(store, npath, mode, array=spec)
    return Array(store, npath, meta, read_only=read_only, options=options)


def open(
    path: Any,
    *,
    mode: str = "r",
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
    node: str | None = None,
    use_consolidated: bool | None = None,
    write_empty_chunks: bool | None = None,
    process_locks: bool = False,
    cache_bytes: int | None = None,
    **create_kwargs: Any,
) -> Array | Group:
    """Open the array or group at ``path`` (v2 or v3 detected from the metadata).

    ``mode="r"``/``"r+"`` raise :class:`~exzarr.errors.NodeNotFoundError` for a missing
    node and never create anything; ``"a"`` and ``"w"`` create an array (when
    ``shape=`` and the other keyword arguments of :func:`create` are given) or a group.
    ``write_empty_chunks``, ``process_locks`` and ``cache_bytes`` apply to the array opened
    (or to the arrays a group opens). A keyword that is none of these is a ``TypeError``.
    A group with consolidated metadata serves its whole hierarchy from it
    (``use_consolidated=None``, the default); ``True`` requires it and ``False`` ignores it,
    reading each node's own metadata and warning
    (:class:`~exzarr.errors.ConsolidatedMetadataWarning`) where the two disagree.

    >>> import exzarr
    >>> _ = exzarr.create("memory://doc-open", shape=(3,), chunks=(3,), mode="w")
    >>> exzarr.open("memory://doc-open").shape
    (3,)
    """
    mode = check_mode(mode)
    spec = _creation_spec(create_kwargs, mode, zarr_format, "open")
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    options.check_store(store)
    meta, read_only = resolve(store, npath, mode, kind=None, zarr_format=zarr_format, array=spec)
    return _node(store, npath, meta, read_only, options, use_consolidated)


def open_array(
    path: Any,
    *,
    mode: str = "r",
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
    node: str | None = None,
    write_empty_chunks: bool | None = None,
    process_locks: bool = False,
    cache_bytes: int | None = None,
    **create_kwargs: Any,
) -> Array:
    """Like :func:`open`, but the node must be an array."""
    mode = check_mode(mode)
    spec = _creation_spec(create_kwargs, mode, zarr_format, "open_array")
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    options.check_store(store)
    meta, read_only = resolve_array(store, npath, mode, zarr_format=zarr_format, array=spec)
    return Array(store, npath, meta, read_only=read_only, options=options)


def open_group(
    path: Any = None,
    *,
    mode: str = "a",
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    zarr_format: int | None = None,
    node: str | None = None,
    attributes: dict[str, Any] | None = None,
    use_consolidated: bool | None = None,
    write_empty_chunks: bool | None = None,
    process_locks: bool = False,
    cache_bytes: int | None = None,
) -> Group:
    """Open a group (created when missing unless ``mode`` is ``"r"``/``"r+"``); see :func:`open`
    for ``use_consolidated`` and the array options, which apply to the arrays the group opens."""
    mode = check_mode(mode)
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    meta, read_only = resolve_group(store, npath, mode, zarr_format=zarr_format, attributes=attributes)
    return _group(store, npath, meta, read_only, options, use_consolidated)


def create_group(
    path: Any = None,
    attributes: dict[str, Any] | None = None,
    zarr_format: int = 3,
    *,
    storage: str | None = None,
    storage_options: dict[str, Any] | None = None,
    mode: str = "w-",
    node: str | None = None,
    write_empty_chunks: bool | None = None,
    process_locks: bool = False,
    cache_bytes: int | None = None,
) -> Group:
    """Create a group and write its metadata (``zarr.json`` or ``.zgroup`` + ``.zattrs``); the array
    options apply to the arrays it creates and opens.

    >>> import exzarr
    >>> g = exzarr.create_group("memory://doc-cg", attributes={"title": "demo"}, mode="w")
    >>> g.attrs["title"]
    'demo'
    """
    mode = check_mode(mode)
    if mode in ("r", "r+"):
        raise ValueError(f"create_group needs a writable mode, got {mode!r}")
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    meta, _ = resolve_group(store, npath, mode, zarr_format=zarr_format, attributes=attributes)
    return Group(store, npath, meta, options=options)


def consolidate_metadata(
    path: Any, *, storage: str | None = None, storage_options: dict[str, Any] | None = None, node: str | None = None
) -> Group:
    """Gather the metadata of every node below a group into one document, as zarr-python does:
    ``.zmetadata`` (v2) or ``consolidated_metadata`` in the group's ``zarr.json`` (v3).
    Returns the group, opened on the consolidated metadata.

    >>> import exzarr
    >>> g = exzarr.create_group("memory://doc-cm", mode="w")
    >>> _ = g.create_array("a/b", shape=(2,), chunks=(2,))
    >>> exzarr.consolidate_metadata("memory://doc-cm").consolidated
    True
    """
    if isinstance(path, Group):
        store, npath = path.store, path.path
    else:
        store, npath = _resolve(path, storage, storage_options, "a", node)
    meta = md.read_metadata(store, npath)
    if not isinstance(meta, GroupMetadata):
        raise NodeNotFoundError(f"no group at {'/' + npath!r} in {store!r} to consolidate")
    nodes = consolidated_md.collect(store, npath, meta.zarr_format)
    new = consolidated_md.write(store, npath, meta, nodes)
    return Group(store, npath, new, consolidated=nodes)


def save(path: Any, data: Any, *, chunks: Any = None, mode: str = "w", **create_kwargs: Any) -> Array:
    """Write a NumPy array to a new Zarr array at ``path`` (overwriting by default).

    >>> import exzarr, numpy as np
    >>> a = exzarr.save("memory://doc-save", np.arange(6).reshape(2, 3))
    >>> exzarr.load("memory://doc-save")
    array([[0, 1, 2],
           [3, 4, 5]])
    """
    arr = np.asarray(data)
    dtype = create_kwargs.pop("dtype", arr.dtype)
    if dtype is not None and np.dtype(dtype).kind in "UT" and np.dtype(dtype).kind == "T":
        dtype = str
    dt = as_data_type(dtype)
    # the data is cast (and refused) before anything at the path is replaced
    value = cast_value(arr, dt.numpy, arr.shape, name="/" + str(create_kwargs.get("node") or ""), vlen=dt.vlen)
    a = create(path, shape=arr.shape, chunks=chunks, dtype=dtype, mode=mode, **create_kwargs)
    a[...] = value
    return a


def load(path: Any, *, storage: str | None = None, storage_options: dict[str, Any] | None = None) -> Any:
    """Read a whole array into NumPy (or, for a group, a dict of its arrays by path)."""
    node = open(path, mode="r", storage=storage, storage_options=storage_options)
    if isinstance(node, Array):
        return node[...]
    out: dict[str, np.ndarray] = {}

    def walk(g: Group, prefix: str) -> None:
        for name, child in g.members():
            if isinstance(child, Array):
                out[prefix + name] = child[...]
            else:
                walk(child, prefix + name + "/")

    walk(node, "")
    return out
