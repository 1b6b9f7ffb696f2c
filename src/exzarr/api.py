"""Module-level functions: create, open, open_array, open_group, create_group, save, load."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metadata as md
from .array import Array
from .casting import cast_value
from .creation import build_spec, cast_data, create_with_data, infer_data, source_encoding
from .dtypes import as_data_type
from .errors import MetadataError, NodeNotFoundError
from .group import Group
from .metadata import consolidated as consolidated_md
from .metadata.model import ArrayMetadata, GroupMetadata
from .nodes import (
    ArrayOptions,
    ArraySpec,
    check_mode,
    normalize_path,
    resolve,
    resolve_array,
    resolve_group,
    split_kwargs,
    unexpected,
)
from .storage.base import Store
from .storage.url import make_store

__all__ = [
    "array",
    "consolidate_metadata",
    "create",
    "create_array",
    "create_group",
    "empty",
    "empty_like",
    "from_array",
    "full",
    "full_like",
    "load",
    "ones",
    "ones_like",
    "open",
    "open_array",
    "open_consolidated",
    "open_group",
    "save",
    "save_group",
    "zeros",
    "zeros_like",
]


def _location(store: Any, path: Any, node: str | None, caller: str) -> tuple[Any, str | None]:
    """``(where the store is, node path in it)`` for the two ways of calling an entry point:
    ``f(store_or_url, path="a/b")`` (zarr-python's: ``path`` is the node inside the store) and
    ``f(path="dir.zarr", node="a/b")`` (``path`` alone is where the store is, as before)."""
    if store is None:
        return path, node
    if path is not None and node is not None:
        raise TypeError(f"{caller}(): path= and node= both name the node inside the store; give one")
    return store, node if path is None else str(path)


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
    store: Any = None,
    *,
    shape: Any = None,
    path: Any = None,
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
    store:
        A local directory, ``file://``/``memory://``/``zip://``/``s3://``/... URL, a ``.zip`` path,
        or a :class:`~exzarr.storage.Store`. ``None`` makes an anonymous in-memory array.
    path:
        With ``store``: the array's path inside the store (as in zarr-python). Without it:
        where the store is (the older form, same as ``store``).
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
    if shape is None:
        if isinstance(store, tuple | list | int) and not isinstance(store, bool):  # create((100, 100)): a shape first
            store, shape = None, store
        else:
            raise TypeError("create() missing required keyword argument 'shape'")
    path, node = _location(store, path, node, "create")
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
    store: Any = None,
    *,
    path: Any = None,
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
    path, node = _location(store, path, node, "open")
    spec = _creation_spec(create_kwargs, mode, zarr_format, "open")
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    options.check_store(store)
    meta, read_only = resolve(store, npath, mode, kind=None, zarr_format=zarr_format, array=spec)
    return _node(store, npath, meta, read_only, options, use_consolidated)


def open_array(
    store: Any = None,
    *,
    path: Any = None,
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
    """Like :func:`open`, but the node must be an array.

    >>> import exzarr
    >>> a = exzarr.open_array("memory://doc-open-array", mode="w", shape=(3,), dtype="i4")
    >>> a[:] = 5
    >>> exzarr.open_array("memory://doc-open-array", mode="r")[...]
    array([5, 5, 5], dtype=int32)
    """
    mode = check_mode(mode)
    path, node = _location(store, path, node, "open_array")
    spec = _creation_spec(create_kwargs, mode, zarr_format, "open_array")
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    options.check_store(store)
    meta, read_only = resolve_array(store, npath, mode, zarr_format=zarr_format, array=spec)
    return Array(store, npath, meta, read_only=read_only, options=options)


def open_group(
    store: Any = None,
    *,
    path: Any = None,
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
    for ``use_consolidated`` and the array options, which apply to the arrays the group opens.

    >>> import exzarr
    >>> g = exzarr.open_group("memory://doc-open-group", mode="w")
    >>> _ = g.create_group("sub")
    >>> again = exzarr.open_group("memory://doc-open-group", mode="r")
    >>> again.group_keys(), again.read_only
    (['sub'], True)
    """
    mode = check_mode(mode)
    path, node = _location(store, path, node, "open_group")
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    store, npath = _resolve(path, storage, storage_options, mode, node)
    meta, read_only = resolve_group(store, npath, mode, zarr_format=zarr_format, attributes=attributes)
    return _group(store, npath, meta, read_only, options, use_consolidated)


def create_group(
    store: Any = None,
    attributes: dict[str, Any] | None = None,
    zarr_format: int = 3,
    *,
    path: Any = None,
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
    path, node = _location(store, path, node, "create_group")
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
    """Read a whole array into NumPy (or, for a group, a dict of its arrays by path).

    >>> import exzarr, numpy as np
    >>> _ = exzarr.save("memory://doc-load", np.arange(3))
    >>> exzarr.load("memory://doc-load")
    array([0, 1, 2])
    >>> g = exzarr.open_group("memory://doc-load-group", mode="w")
    >>> _ = g.create_array("x", data=np.arange(2))
    >>> exzarr.load("memory://doc-load-group")
    {'x': array([0, 1])}
    """
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


# ---------------------------------------------------------------------- zarr-python 3 style creation
_KEEP = "keep"


def create_array(
    store: Any = None,
    *,
    name: str | None = None,
    shape: Any = None,
    dtype: Any = None,
    data: Any = None,
    chunks: Any = "auto",
    shards: Any = None,
    filters: Any = "auto",
    compressors: Any = "auto",
    compressor: Any = "auto",
    serializer: Any = "auto",
    fill_value: Any = None,
    order: str | None = None,
    zarr_format: int = 3,
    attributes: dict[str, Any] | None = None,
    chunk_key_encoding: Any = None,
    dimension_names: Any = None,
    storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    write_data: bool = True,
    storage: str | None = None,
    write_empty_chunks: bool | None = None,
    process_locks: bool = False,
    cache_bytes: int | None = None,
    config: dict[str, Any] | None = None,
) -> Array:
    """Create an array as zarr-python 3's ``zarr.create_array`` does (and write ``data``, if given).

    Parameters
    ----------
    store:
        A path, URL (``s3://...`` with ``storage_options=``), store object or ``None`` (memory).
    name:
        The array's path inside the store (default: the root).
    shape, dtype, data:
        ``shape`` and ``dtype``, or ``data`` (NumPy data, or an exzarr / zarr-python / dask array,
        read in steps) from which both are taken and which is written unless ``write_data=False``.
    chunks, shards:
        ``chunks="auto"`` picks a chunk shape of about 1 MiB (inside the shard with ``shards=``);
        ``shards=`` groups chunks into one stored object per shard (v3).
    filters, serializer, compressors:
        Lists of codecs (one codec alone is fine): names (``"zstd"``), numcodecs objects or JSON
        (``{"id": "zstd", "level": 3}``), v3 JSON (``{"name": "zstd", "configuration": {...}}``)
        or zarr-python codec objects (``zarr.codecs.ZstdCodec(level=3)``). ``"auto"``: zstd
        level 0 and the ``bytes`` (or ``vlen-utf8``) serializer, as zarr-python 3 writes;
        ``compressors=None`` stores raw chunks. v2 arrays take at most one compressor and
        numcodecs filters; ``compressor=`` is the older one-codec spelling.
    fill_value:
        ``None``: the data type's zero (``0``, ``0.0``, ``False``, ``""``).
    overwrite:
        Replace whatever is at the path (else a node there is an error).

    The array options ``write_empty_chunks``, ``process_locks`` and ``cache_bytes`` are those of
    :func:`exzarr.create`; zarr-python's ``config={"write_empty_chunks": ..., "order": ...}`` works too.

    >>> import exzarr, numpy as np
    >>> a = exzarr.create_array("memory://doc-ca", name="t/x", shape=(1000, 1000), dtype="float32")
    >>> a.chunks, a.name, a.fill_value
    ((500, 500), '/t/x', np.float32(0.0))
    >>> b = exzarr.create_array("memory://doc-ca", name="d", data=np.arange(6).reshape(2, 3),
    ...                         compressors=[{"name": "zstd", "configuration": {"level": 3}}])
    >>> b[...].tolist(), b.compressors
    ([[0, 1, 2], [3, 4, 5]], (ZstdCodec({'level': 3, 'checksum': False}),))
    """
    return _create_array(**locals())


def _create_array(
    store: Any,
    *,
    name: str | None,
    shape: Any,
    dtype: Any,
    data: Any,
    chunks: Any,
    shards: Any,
    filters: Any,
    compressors: Any,
    compressor: Any,
    serializer: Any,
    fill_value: Any,
    order: str | None,
    zarr_format: int,
    attributes: dict[str, Any] | None,
    chunk_key_encoding: Any,
    dimension_names: Any,
    storage_options: dict[str, Any] | None,
    overwrite: bool,
    write_data: bool,
    storage: str | None,
    write_empty_chunks: bool | None,
    process_locks: bool,
    cache_bytes: int | None,
    config: dict[str, Any] | None,
    source_dtype: Any = None,
) -> Array:
    """:func:`create_array`; ``source_dtype`` is the data type of a ``from_array`` source (exzarr's
    own, so variable-length strings stay strings), taken with ``data=``."""
    if config is not None:
        if not isinstance(config, dict) or set(config) - {"write_empty_chunks", "order"}:
            raise TypeError(f"create_array(): config= takes 'write_empty_chunks' and 'order', got {config!r}")
        write_empty_chunks = config.get("write_empty_chunks", write_empty_chunks)
        if "order" in config and order is not None and config["order"] != order:
            raise ValueError(f"create_array(): order={order!r} and config={{'order': {config['order']!r}}} disagree; give one")
        order = config.get("order", order)
    if not (compressor == "auto" or compressors == "auto"):
        raise TypeError("create_array(): give compressors= (or the older compressor=), not both")
    if compressor != "auto":
        compressors = compressor
    if data is not None:
        data, shape, dtype = infer_data(data, shape, dtype, "create_array")
        if source_dtype is not None:
            dtype = source_dtype
    if shape is None:
        raise TypeError("create_array() needs shape= and dtype=, or data=")
    if dtype is None:
        raise TypeError("create_array() needs dtype= (or data=)")
    spec = build_spec(
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        shards=shards,
        filters=filters,
        compressors=compressors,
        serializer=serializer,
        fill_value=fill_value,
        order=order,
        attributes=attributes,
        chunk_key_encoding=chunk_key_encoding,
        dimension_names=dimension_names,
        zarr_format=zarr_format,
    )
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    mode = "w" if overwrite else "w-"
    data = cast_data(data, spec, "/" + (name or "")) if write_data else None
    options = ArrayOptions(write_empty_chunks=write_empty_chunks, process_locks=process_locks, cache_bytes=cache_bytes)
    st, npath = _resolve(store, storage, storage_options, mode, name)
    options.check_store(st)
    return create_with_data(st, npath, mode, spec, data, options, "create_array")


def _like_zarr(kwargs: dict[str, Any], caller: str) -> tuple[Any, dict[str, Any]]:
    """zarr-python's ``store=``/``path=`` keywords of ``zeros``/``full``/... as ``(store, kwargs)``
    for :func:`create_array` (``path`` is the node's path, i.e. ``name``)."""
    store = kwargs.pop("store", None)
    if "path" in kwargs:
        if "name" in kwargs:
            raise TypeError(f"{caller}(): path= and name= both name the array's path; give one")
        kwargs["name"] = kwargs.pop("path")
    if "mode" in kwargs:
        mode = check_mode(kwargs.pop("mode"))
        if mode in ("r", "r+", "a"):
            raise ValueError(f"{caller}() creates an array: mode must be 'w' or 'w-', got {mode!r}")
        kwargs.setdefault("overwrite", mode == "w")
    return store, kwargs


def zeros(shape: Any, **kwargs: Any) -> Array:
    """A new array of zeros (nothing is stored until written: zero is the fill value).
    Keywords are those of :func:`create_array`, plus zarr-python's ``store=`` and ``path=``;
    ``dtype`` defaults to ``float64``.

    >>> import exzarr
    >>> exzarr.zeros((2, 3), dtype="int8")[...].tolist()
    [[0, 0, 0], [0, 0, 0]]
    """
    store, kwargs = _like_zarr(kwargs, "zeros")
    return create_array(store, shape=shape, **{"dtype": "float64", **kwargs, "fill_value": 0})


def ones(shape: Any, **kwargs: Any) -> Array:
    """A new array of ones (the fill value; see :func:`zeros`).

    >>> import exzarr
    >>> float(exzarr.ones((4,))[...].sum())
    4.0
    """
    store, kwargs = _like_zarr(kwargs, "ones")
    return create_array(store, shape=shape, **{"dtype": "float64", **kwargs, "fill_value": 1})


def full(shape: Any, fill_value: Any, **kwargs: Any) -> Array:
    """A new array holding ``fill_value`` everywhere (see :func:`zeros`).

    >>> import exzarr
    >>> exzarr.full((2,), 7, dtype="int16")[...].tolist()
    [7, 7]
    """
    store, kwargs = _like_zarr(kwargs, "full")
    return create_array(store, shape=shape, **{"dtype": "float64", **kwargs, "fill_value": fill_value})


def empty(shape: Any, **kwargs: Any) -> Array:
    """A new array with nothing written (reads give the fill value, ``fill_value=`` or the type's
    zero; see :func:`zeros`).

    >>> import exzarr
    >>> exzarr.empty((3,), dtype="uint8", fill_value=9)[...].tolist()
    [9, 9, 9]
    """
    store, kwargs = _like_zarr(kwargs, "empty")
    return create_array(store, shape=shape, **{"dtype": "float64", **kwargs})


def array(data: Any, **kwargs: Any) -> Array:
    """A new array holding ``data`` (shape and dtype from the data; see :func:`create_array`).

    >>> import exzarr, numpy as np
    >>> a = exzarr.array(np.eye(3), chunks=(2, 2))
    >>> a.chunks, float(a[...].trace())
    ((2, 2), 3.0)
    """
    store, kwargs = _like_zarr(kwargs, "array")
    return create_array(store, data=data, **kwargs)


def _like(a: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Shape, dtype and (for chunked arrays) chunks and shards of ``a``, under ``kwargs``."""
    like: dict[str, Any] = {"dtype": getattr(a, "dtype", None)}
    shape = getattr(a, "shape", None)
    if shape is None:
        a = np.asarray(a)
        shape, like["dtype"] = a.shape, a.dtype
    like["shape"] = tuple(shape)
    if isinstance(getattr(a, "chunks", None), tuple) and all(isinstance(c, int) for c in a.chunks):
        like["chunks"] = a.chunks
        if getattr(a, "shards", None) is not None:
            like["shards"] = a.shards
    meta = getattr(a, "metadata", None)
    if meta is not None and hasattr(meta, "pipeline") and like["dtype"] is not None and like["dtype"].kind == "O":
        like["dtype"] = meta.dtype  # exzarr's data type: variable-length strings stay strings
    return {**like, **kwargs}


def zeros_like(a: Any, **kwargs: Any) -> Array:
    """:func:`zeros` with the shape, dtype, chunks and shards of ``a`` (an array or array-like).

    >>> import exzarr, numpy as np
    >>> z = exzarr.zeros_like(np.ones((2, 3), dtype="i2"))
    >>> z.shape, z.dtype, int(z[...].sum())
    ((2, 3), dtype('int16'), 0)
    """
    kw = _like(a, kwargs)
    return zeros(kw.pop("shape"), **kw)


def ones_like(a: Any, **kwargs: Any) -> Array:
    """:func:`ones` shaped like ``a`` (see :func:`zeros_like`).

    >>> import exzarr
    >>> src = exzarr.zeros((4, 4), chunks=(2, 2), dtype="u1")
    >>> o = exzarr.ones_like(src)
    >>> o.chunks, int(o[...].sum())
    ((2, 2), 16)
    """
    kw = _like(a, kwargs)
    return ones(kw.pop("shape"), **kw)


def full_like(a: Any, fill_value: Any, **kwargs: Any) -> Array:
    """:func:`full` shaped like ``a`` (see :func:`zeros_like`).

    >>> import exzarr, numpy as np
    >>> exzarr.full_like(np.zeros(3), 2.5)[...].tolist()
    [2.5, 2.5, 2.5]
    """
    kw = _like(a, kwargs)
    return full(kw.pop("shape"), fill_value, **kw)


def empty_like(a: Any, **kwargs: Any) -> Array:
    """:func:`empty` shaped like ``a`` (see :func:`zeros_like`).

    >>> import exzarr, numpy as np
    >>> exzarr.empty_like(np.zeros((2, 2), dtype="f4")).shape
    (2, 2)
    """
    kw = _like(a, kwargs)
    return empty(kw.pop("shape"), **kw)


def from_array(
    store: Any = None,
    *,
    data: Any,
    write_data: bool = True,
    name: str | None = None,
    chunks: Any = _KEEP,
    shards: Any = _KEEP,
    filters: Any = _KEEP,
    compressors: Any = _KEEP,
    serializer: Any = _KEEP,
    fill_value: Any = None,
    order: str | None = None,
    zarr_format: int | None = None,
    attributes: dict[str, Any] | None = None,
    chunk_key_encoding: Any = None,
    dimension_names: Any = None,
    storage_options: dict[str, Any] | None = None,
    overwrite: bool = False,
    **options: Any,
) -> Array:
    """A new array like ``data`` (an exzarr or zarr-python array, or NumPy data), with its values.

    ``"keep"`` (the default for ``chunks``, ``shards``, ``filters``, ``compressors`` and
    ``serializer``) takes the source array's setting, as do ``None`` for ``fill_value``,
    ``zarr_format``, ``attributes`` and ``dimension_names``; for NumPy data ``"keep"`` means
    ``"auto"``. The values are read and written in bounded steps, in parallel.

    >>> import exzarr, numpy as np
    >>> src = exzarr.create_array(data=np.arange(100.0), chunks=(10,), attributes={"u": "m"})
    >>> b = exzarr.from_array("memory://doc-fa", data=src, zarr_format=2)
    >>> b.chunks, b.zarr_format, dict(b.attrs), float(b[...].sum())
    ((10,), 2, {'u': 'm'}, 4950.0)
    """
    keep = source_encoding(data)
    fmt = zarr_format if zarr_format is not None else keep.get("zarr_format", 3)
    same_format = fmt == keep.get("zarr_format", fmt)

    def pick(given: Any, key: str, default: Any = "auto") -> Any:
        if not (isinstance(given, str) and given == _KEEP):
            return given
        if key == "serializer" and not same_format:
            return "auto"  # v2 has no serializer; filters and compressors convert where they can
        return keep.get(key, default)

    keep_shards = isinstance(shards, str) and shards == _KEEP
    shards_v = None if fmt == 2 and keep_shards else pick(shards, "shards", None)
    allowed = {"storage": None, "write_empty_chunks": None, "process_locks": False, "cache_bytes": None, "config": None}
    for k in options:
        if k not in allowed:
            raise unexpected("from_array", k, [*allowed, "chunks", "shards", "filters", "compressors", "serializer"])
    return _create_array(
        store,
        **{**allowed, **options},
        source_dtype=keep.get("dtype"),
        shape=None,
        dtype=None,
        compressor="auto",
        name=name,
        data=data,
        write_data=write_data,
        chunks=pick(chunks, "chunks"),
        shards=shards_v,
        filters=pick(filters, "filters"),
        compressors=pick(compressors, "compressors"),
        serializer=pick(serializer, "serializer"),
        fill_value=fill_value if fill_value is not None else keep.get("fill_value"),
        order=order or keep.get("order"),
        zarr_format=fmt,
        attributes=attributes if attributes is not None else keep.get("attributes"),
        chunk_key_encoding=chunk_key_encoding,
        dimension_names=dimension_names if dimension_names is not None else keep.get("dimension_names"),
        storage_options=storage_options,
        overwrite=overwrite,
    )


def open_consolidated(store: Any = None, *, path: Any = None, mode: str = "r", **kwargs: Any) -> Group:
    """Open a group on its consolidated metadata, which must exist (``use_consolidated=True``);
    keywords are those of :func:`open_group`.

    >>> import exzarr
    >>> g = exzarr.create_group("memory://doc-oc", mode="w")
    >>> _ = g.create_array("x", shape=(2,), chunks=(2,))
    >>> _ = exzarr.consolidate_metadata("memory://doc-oc")
    >>> exzarr.open_consolidated("memory://doc-oc").consolidated
    True
    """
    if "use_consolidated" in kwargs and kwargs.pop("use_consolidated") is not True:
        raise ValueError("open_consolidated() always uses consolidated metadata; use open_group(use_consolidated=...)")
    return open_group(store, path=path, mode=mode, use_consolidated=True, **kwargs)


def save_group(
    store: Any,
    *args: Any,
    path: str | None = None,
    zarr_format: int | None = None,
    storage_options: dict[str, Any] | None = None,
    **arrays: Any,
) -> Group:
    """Save several NumPy arrays into a new group (replacing what is there): positional ones as
    ``arr_0``, ``arr_1``..., keyword ones by name (as zarr-python's ``save_group``).

    >>> import exzarr, numpy as np
    >>> g = exzarr.save_group("memory://doc-sg", np.arange(3), labels=np.array([1, 0, 1]))
    >>> sorted(g.keys()), exzarr.load("memory://doc-sg")["labels"].tolist()
    (['arr_0', 'labels'], [1, 0, 1])
    """
    named = {f"arr_{i}": a for i, a in enumerate(args)}
    clash = set(named) & set(arrays)
    if clash:
        raise ValueError(f"save_group(): {sorted(clash)} given both by position and by name")
    named.update(arrays)
    if not named:
        raise ValueError("save_group() needs at least one array to save")
    values = {k: np.asarray(v) for k, v in named.items()}
    g = create_group(store, zarr_format=zarr_format or 3, path=path, mode="w", storage_options=storage_options)
    for key, value in values.items():
        g.create_array(key, data=value)
    return g
