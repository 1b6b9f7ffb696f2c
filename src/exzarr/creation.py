"""zarr-python 3's way of describing a new array, translated to exzarr's :class:`ArraySpec`.

``exzarr.create_array``, ``zeros``/``ones``/``full``/``empty``/``array``/``from_array`` and
``Group.create_array`` take ``filters=``/``serializer=``/``compressors=`` lists (names,
numcodecs objects or JSON, v3 codec JSON, exzarr or zarr-python codec objects), ``chunks="auto"``,
``shards=`` and ``data=``; this module turns them into the one creation record every entry point
uses (so modes, validation and defaults stay in :mod:`exzarr.nodes`) and writes ``data`` in
bounded steps. It knows nothing of :class:`~exzarr.Array` beyond its public attributes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .array import Array
from .casting import cast_value
from .chunk_grid import normalize_chunks, normalize_shape
from .codecs.base import Codec
from .codecs.registry import codec_from_json, compressor_v2, compressor_v3, filter_v2
from .dtypes import as_data_type, null_fill_value
from .errors import MetadataError, UnknownCodecError
from .nodes import ArrayOptions, ArraySpec, remove_array, resolve_array, unexpected

__all__ = [
    "AUTO_CHUNK_BYTES",
    "auto_chunks",
    "build_spec",
    "cast_data",
    "create_with_data",
    "infer_data",
    "is_v3_style",
    "source_encoding",
    "spec_from_kwargs",
    "write_data",
]

#: ``chunks="auto"`` aims at chunks of about this many bytes (uncompressed).
AUTO_CHUNK_BYTES = 1 << 20
#: ``data=`` is written in steps holding at most about this many bytes.
WRITE_STEP_BYTES = 256 << 20
_VLEN_ITEMSIZE = 16  # what a variable-length item is assumed to take when sizing chunks


def _is_auto(v: Any) -> bool:
    return isinstance(v, str) and v == "auto"


def auto_chunks(shape: tuple[int, ...], itemsize: int, *, within: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """A chunk shape of about :data:`AUTO_CHUNK_BYTES`: the largest dimension is halved until
    the chunk fits. With ``within`` (a shard shape) the chunk divides it exactly.

    >>> auto_chunks((1000, 1000), 8)
    (250, 500)
    >>> auto_chunks((4096, 4096), 8, within=(1024, 1024))
    (256, 512)
    >>> auto_chunks((10,), 8), auto_chunks((0, 5), 4), auto_chunks((), 8)
    ((10,), (1, 5), ())
    """
    cur = [max(1, s) for s in (within or shape)]
    frozen: set[int] = set()  # dimensions that cannot be split sensibly (a prime shard extent)
    while cur and math.prod(cur) * itemsize > AUTO_CHUNK_BYTES:
        free = [d for d in range(len(cur)) if d not in frozen and cur[d] > 1]
        if not free:
            break
        i = max(free, key=lambda d: cur[d])
        half = -(-cur[i] // 2)
        if within is not None:  # the largest divisor of the shard's extent not above half
            div = next(d for d in _divisors_down(within[i], half))
            if div * 8 < half:  # only tiny divisors (e.g. a prime extent): keep this dimension whole
                frozen.add(i)
                continue
            half = div
        cur[i] = half
    return tuple(cur)


def _divisors_down(n: int, start: int) -> Iterable[int]:
    """Divisors of ``n`` from ``start`` down to 1 (found from the pairs below sqrt(n), so a large
    prime extent costs sqrt(n) steps, not n)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    every = sorted({*small, *(n // d for d in small)}, reverse=True)
    return (d for d in every if d <= start)


def _as_list(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, str | dict | Codec) or not isinstance(v, Iterable):
        return [v]
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) and isinstance(v[1], dict):
        return [v]  # a ("zstd", {"level": 3}) pair
    return list(v)


def _v3_codec(spec: Any, what: str) -> Codec:
    try:
        codec = compressor_v3(spec, what=what) if not isinstance(spec, Codec) else spec
    except UnknownCodecError:
        if not isinstance(spec, str):
            raise
        codec = codec_from_json({"name": spec}, field=what)  # a v3 name with no numcodecs twin ("bytes", "crc32c")
    if codec is None:
        raise MetadataError(f"{what}: {spec!r} is not a codec exzarr can write")
    return codec


def build_spec(
    *,
    shape: Any,
    dtype: Any,
    chunks: Any = "auto",
    shards: Any = None,
    filters: Any = "auto",
    compressors: Any = "auto",
    serializer: Any = "auto",
    fill_value: Any = None,
    order: str | None = None,
    attributes: dict[str, Any] | None = None,
    chunk_key_encoding: Any = None,
    dimension_names: Any = None,
    zarr_format: int = 3,
) -> ArraySpec:
    """The :class:`ArraySpec` for zarr-python 3 style arguments.

    Defaults follow zarr-python 3: ``compressors="auto"`` is zstd at level 0 (no checksum),
    ``filters="auto"`` none (a variable-length filter for v2 strings), ``serializer="auto"``
    ``bytes`` (``vlen-utf8``/``vlen-bytes`` for variable-length types) and ``fill_value=None``
    the data type's zero. v3 filters must act on arrays (``transpose``, ``delta``...), and v2
    arrays take at most one compressor.

    >>> s = build_spec(shape=(100,), dtype="int16", compressors=[{"name": "zstd", "configuration": {"level": 3}}])
    >>> [c.name for c in s.build().codecs]
    ['bytes', 'zstd']
    """
    if zarr_format not in (2, 3):
        raise MetadataError(f"zarr_format: must be 2 or 3, got {zarr_format!r}")
    shape_t = normalize_shape(shape)
    dt = as_data_type(dtype)
    order = order or "C"
    if order not in ("C", "F"):
        raise MetadataError(f"order: must be 'C' or 'F', got {order!r}")
    if fill_value is None:  # unspecified: the type's zero (NaT for times), in v2 too, as zarr-python 3 writes it
        fill_value = null_fill_value(dt)
    itemsize = _VLEN_ITEMSIZE if dt.is_object else max(1, dt.numpy.itemsize)
    if isinstance(shards, dict):  # zarr-python's {"shape": (...), "index_location": ...} form
        unknown = set(shards) - {"shape", "index_location"}
        if unknown or "shape" not in shards or shards.get("index_location", "end") != "end":
            raise MetadataError(f"shards: expected {{'shape': (...)}} (index at the end), got {shards!r}")
        shards = shards["shape"]
    if isinstance(shards, str):
        raise MetadataError(f"shards: give the shard shape as a tuple of ints (shards={shards!r} is not supported)")
    shards_t = None if shards is None else normalize_chunks(shards, shape_t, name="shards")
    if _is_auto(chunks):
        chunks_t = auto_chunks(shape_t, itemsize, within=shards_t)
    else:
        chunks_t = normalize_chunks(chunks, shape_t)
    common: dict[str, Any] = {
        "shape": shape_t,
        "chunks": chunks_t,
        "dtype": dtype,
        "fill_value": fill_value,
        "zarr_format": zarr_format,
        "order": order,
        "attributes": attributes,
        "dimension_names": dimension_names,
        "shards": shards_t,
    }
    filter_list = [] if _is_auto(filters) else _as_list(filters)
    comp_list = (
        [{"name": "zstd", "configuration": {"level": 0, "checksum": False}}] if _is_auto(compressors) else _as_list(compressors)
    )
    if zarr_format == 2:
        if not (_is_auto(serializer) or serializer is None):
            raise MetadataError(f"serializer: v2 arrays have no serializer (got {serializer!r}); use filters= and compressors=")
        if chunk_key_encoding is not None:
            raise MetadataError("chunk_key_encoding: v2 arrays take dimension_separator '.' or '/', not a chunk key encoding")
        if len(comp_list) > 1:
            raise MetadataError(f"compressors: a v2 array takes at most one compressor, got {len(comp_list)}: {comp_list!r}")
        comp = compressor_v2(comp_list[0], what="compressors") if comp_list else None
        return ArraySpec(**common, compressor=comp, filters=[filter_v2(f) for f in filter_list] or None)
    codecs: list[Codec] = []
    if order == "F" and len(shape_t) > 1:
        codecs.append(_v3_codec({"name": "transpose", "configuration": {"order": list(range(len(shape_t)))[::-1]}}, "order"))
    for f in filter_list:
        c = _v3_codec(f, "filters")
        if c.kind != "array_array":
            hint = " (give byte codecs such as compressors in compressors=)" if c.kind == "bytes_bytes" else ""
            raise MetadataError(f"filters: a v3 filter must act on arrays, and {c.name!r} is {c.kind.replace('_', '->')}{hint}")
        codecs.append(c)
    if _is_auto(serializer) or serializer is None:
        name = {"string": "vlen-utf8", "bytes": "vlen-bytes"}.get(dt.vlen or "", "bytes")
        codecs.append(_v3_codec({"name": name}, "serializer"))
    else:
        c = codec_from_json(serializer, field="serializer")
        if c is None or c.kind != "array_bytes":
            kind = "unknown" if c is None else c.kind.replace("_", "->")
            raise MetadataError(f"serializer: must be an array->bytes codec such as 'bytes', got {serializer!r} ({kind})")
        codecs.append(c)
    for spec in comp_list:
        c = _v3_codec(spec, "compressors")
        if c.kind != "bytes_bytes":
            raise MetadataError(f"compressors: must be bytes->bytes codecs, and {c.name!r} is {c.kind.replace('_', '->')}")
        codecs.append(c)
    common["order"] = "C"  # the transpose codec above stands for order="F"
    if isinstance(chunk_key_encoding, dict) and "configuration" not in chunk_key_encoding and len(chunk_key_encoding) > 1:
        # zarr-python's flat spelling {"name": "v2", "separator": "."}
        flat = dict(chunk_key_encoding)
        chunk_key_encoding = {"name": flat.pop("name", None), "configuration": flat}
    return ArraySpec(**common, compressor=None, codecs=codecs, chunk_key_encoding=chunk_key_encoding)


#: what :func:`spec_from_kwargs` takes besides ``shape``/``dtype``
SPEC_KEYWORDS = (
    "chunks",
    "shards",
    "filters",
    "compressors",
    "compressor",
    "serializer",
    "fill_value",
    "order",
    "attributes",
    "chunk_key_encoding",
    "dimension_names",
    "zarr_format",
)
#: keywords that only the zarr-python 3 style takes (``Group.create_array`` switches on them)
V3_STYLE_KEYWORDS = ("compressors", "serializer", "data", "write_data")


def is_v3_style(kwargs: dict[str, Any]) -> bool:
    """Whether creation keywords are zarr-python 3's (``compressors=``, ``data=``, ``chunks="auto"``...)."""
    return any(k in kwargs for k in V3_STYLE_KEYWORDS) or _is_auto(kwargs.get("chunks"))


def spec_from_kwargs(kwargs: dict[str, Any], caller: str, name: str = "") -> tuple[ArraySpec, Any]:
    """``(spec, data or None)`` from zarr-python 3 style keywords (``shape``/``dtype`` or ``data``
    plus :data:`SPEC_KEYWORDS`); any other keyword is a ``TypeError`` naming it."""
    kw = dict(kwargs)
    data, write = kw.pop("data", None), kw.pop("write_data", True)
    known = ("shape", "dtype", *SPEC_KEYWORDS)
    for k in kw:
        if k not in known:
            raise unexpected(caller, k, [*known, "data", "write_data"])
    if "compressor" in kw:
        if "compressors" in kw:
            raise TypeError(f"{caller}(): give compressors= (or the older compressor=), not both")
        kw["compressors"] = kw.pop("compressor")
    shape, dtype = kw.pop("shape", None), kw.pop("dtype", None)
    if data is not None:
        data, shape, dtype = infer_data(data, shape, dtype, caller)
    if shape is None:
        raise TypeError(f"{caller}() needs shape= (or data=)")
    spec = build_spec(shape=shape, dtype="float64" if dtype is None else dtype, **kw)
    return spec, cast_data(data, spec, name or caller) if write else None


def source_encoding(src: Any) -> dict[str, Any]:
    """What ``"keep"`` means in :func:`exzarr.from_array` for a source array: its chunks, shards,
    filters, serializer, compressors, fill value, order, format, attributes and dimension names,
    read the same way from an exzarr or a zarr-python array (both have these attributes);
    ``{}`` for other data."""
    if not all(hasattr(src, k) for k in ("chunks", "filters", "compressors", "metadata", "attrs")):
        return {}
    meta = src.metadata
    fmt = getattr(src, "zarr_format", None) or getattr(meta, "zarr_format", 3)
    attrs = dict(src.attrs)
    dims = getattr(src, "dimension_names", None) or getattr(meta, "dimension_names", None)
    out: dict[str, Any] = {
        "chunks": src.chunks,
        "shards": getattr(src, "shards", None),
        "fill_value": src.fill_value,
        "zarr_format": fmt,
        "order": getattr(src, "order", None) or "C",
        "filters": list(src.filters or ()),
        "compressors": list(src.compressors or ()),
        "serializer": getattr(src, "serializer", None) or "auto",
        "attributes": attrs,
    }
    if hasattr(meta, "pipeline"):
        out["dtype"] = meta.dtype  # exzarr's own data type: variable-length strings stay strings
    if fmt == 2:  # the vlen filter and the dimension attribute are how v2 stores dtype and names
        vlen = ("vlen-utf8", "vlen-bytes", "vlen-array")
        out["filters"] = [f for f in out["filters"] if getattr(f, "codec_id", "") not in vlen]
        dims = dims or attrs.get("_ARRAY_DIMENSIONS")
        attrs.pop("_ARRAY_DIMENSIONS", None)
    out["dimension_names"] = dims
    return out


def infer_data(data: Any, shape: Any, dtype: Any, caller: str) -> tuple[Any, tuple[int, ...], Any]:
    """``(data, shape, dtype)`` for a ``data=`` argument: shape and dtype come from the data, and
    giving them as well is an error (as in zarr-python). Plain sequences become NumPy arrays;
    array objects (exzarr, zarr-python, dask) are kept and read in steps."""
    if shape is not None:
        raise ValueError(f"{caller}(): give data= or shape=, not both (the shape comes from the data)")
    if dtype is not None:
        raise ValueError(f"{caller}(): give data= or dtype=, not both (the dtype comes from the data; cast it first)")
    if not (hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "__getitem__")):
        if isinstance(data, Iterator | set | dict):
            raise TypeError(f"{caller}(): data= must be an array or a (nested) sequence, not a {type(data).__name__}")
        data = np.asarray(data)
    if dtype is None:
        dtype = data.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "OT":
            dtype = str if dtype.kind == "T" else dtype
    return data, tuple(int(s) for s in data.shape), dtype


def write_data(target: Any, data: Any) -> None:
    """Write ``data`` into the new array ``target``: NumPy data at once (the engine splits it
    by chunk), array objects in steps of whole write units along the first axis, so a large
    source is never held in memory at once."""
    if isinstance(data, np.ndarray) or not target.shape or target.size == 0:
        target[...] = np.asarray(data[...] if not isinstance(data, np.ndarray) else data)
        return
    unit = (target.shards or target.chunks)[0]
    row_bytes = max(1, math.prod(target.shape[1:]) * max(1, target.dtype.itemsize))
    step = max(unit, (WRITE_STEP_BYTES // row_bytes) // unit * unit)
    for r0 in range(0, target.shape[0], step):
        r1 = min(target.shape[0], r0 + step)
        target[r0:r1] = np.asarray(data[r0:r1])


def _locations(obj: Any, depth: int = 0) -> Iterable[str]:
    """Store locations an array object reads from: an exzarr array, a zarr-python array on a
    store exzarr understands, or a dask array whose graph holds such arrays."""
    if depth > 4 or obj is None or isinstance(obj, np.ndarray | str | bytes | int | float):
        return
    store, path = getattr(obj, "store", None), getattr(obj, "path", None)
    if store is not None and isinstance(path, str):
        loc = getattr(store, "location", None)
        if callable(loc):
            try:
                yield loc(path)
            except TypeError:  # pragma: no cover - another library's location()
                pass
            return
        try:  # a zarr-python array: its store as exzarr sees it
            from .storage.url import foreign_store

            yield foreign_store(store).location(path)
        except Exception:
            pass
        return
    graph = getattr(obj, "__dask_graph__", None)
    if callable(graph) and depth == 0:
        for v in dict(graph()).values():
            yield from _locations(v, depth + 1)
        return
    for inner in (getattr(obj, "value", None), *(getattr(obj, "args", None) or ())):  # dask Task / DataNode
        if inner is not None and inner is not obj:
            yield from _locations(inner, depth + 1)
    if isinstance(obj, tuple | list):
        for inner in obj[:8]:
            yield from _locations(inner, depth + 1)


def refuse_reading_destination(data: Any, store: Any, path: str, caller: str) -> None:
    """Replacing a node with ``data`` that reads from that node would read what the replacement
    already deleted (fill values, silently): refuse it, as :func:`exzarr.copy` refuses overlaps."""
    if data is None or isinstance(data, np.ndarray):
        return
    dst = store.location(path)
    for loc in _locations(data):
        if loc == dst or dst.startswith(loc.rstrip("/") + "/") or loc.startswith(dst.rstrip("/") + "/"):
            raise ValueError(
                f"{caller}(): data= reads from {loc!r}, which replacing {dst!r} would delete first; "
                "load it into memory (numpy.asarray) or write to another location"
            )


def cast_data(data: Any, spec: ArraySpec, name: str) -> Any:
    """NumPy ``data`` cast to the new array's type, a lossy cast refused, before anything stored is
    replaced; other array objects are read (and cast) chunk by chunk as they are written."""
    if not isinstance(data, np.ndarray):
        return data
    dt = spec.build().dtype
    return cast_value(data, dt.numpy, tuple(data.shape), name=name, vlen=dt.vlen)


def create_with_data(
    store: Any,
    path: str,
    mode: str,
    spec: ArraySpec,
    data: Any,
    options: ArrayOptions,
    caller: str,
    cache: Any = None,
    write: Callable[[Array, Any], Any] | None = None,
) -> Array:
    """Create (or, with mode ``"w"``, replace) the array at ``path`` and write ``data`` into it
    (with :func:`write_data`, or ``write(array, data)``): data that reads from the node being
    replaced is refused first, and an array whose data could not all be written is removed (it
    would otherwise read as fill values)."""
    if mode == "w":
        refuse_reading_destination(data, store, path, caller)
    meta, read_only = resolve_array(store, path, mode, array=spec)
    arr = Array(store, path, meta, read_only=read_only, options=options, cache=cache)
    if data is not None:
        try:
            (write or write_data)(arr, data)
        except BaseException as exc:
            remove_array(store, path, meta)
            exc.add_note(f"{caller}(): the array at {store.location(path)!r} was removed: writing its data failed")
            raise
    return arr
