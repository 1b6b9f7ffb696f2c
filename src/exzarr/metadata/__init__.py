"""Metadata: the internal model, the v2/v3 translators, and reading/writing documents.

>>> from exzarr.metadata import build_array_metadata, num_chunks
>>> meta = build_array_metadata(shape=(1000, 1000), chunks=(100, 100))
>>> num_chunks(meta)
(10, 10)
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from ..chunk_grid import ChunkKeyEncoding, normalize_chunks, normalize_shape
from ..codecs import BytesCodec, VlenBytesCodec, VlenUtf8Codec, codec_from_json, compressor_v2, compressor_v3, filter_v2
from ..codecs.transpose import TransposeCodec
from ..dtypes import as_data_type, default_fill_value, normalize_fill_value, v3_native
from ..errors import MetadataError
from . import v2, v3
from .model import ArrayMetadata, GroupMetadata

if TYPE_CHECKING:
    from ..storage.base import Store

__all__ = [
    "ArrayMetadata",
    "GroupMetadata",
    "build_array_metadata",
    "dumps",
    "num_chunks",
    "read_metadata",
    "write_metadata",
]

METADATA_KEYS = ("zarr.json", ".zarray", ".zgroup", ".zattrs")


def num_chunks(meta: ArrayMetadata) -> tuple[int, ...]:
    """Number of chunks along each dimension (the seed's ``Metadata.num_chunks``)."""
    return meta.grid_shape


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def dumps(doc: Any, *, where: str = "metadata") -> bytes:
    """Serialise a metadata document as JSON. Fill values are encoded by the format's rules
    (``"NaN"``, ``"Infinity"`` strings) before they get here; a non-finite float can only come
    from user attributes, which are written as bare ``NaN``/``Infinity`` tokens exactly as
    zarr-python writes (and reads) them, so a hierarchy holding such attributes stays writable."""
    try:
        return json.dumps(doc, indent=2, allow_nan=True, default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        raise MetadataError(f"{where}: cannot serialise to JSON ({exc})") from None
    except RecursionError:
        raise MetadataError(f"{where}: nested too deeply to serialise to JSON") from None


def join(path: str, key: str) -> str:
    return f"{path}/{key}" if path else key


def parse_json(raw: Any, where: str) -> Any:
    """A metadata document's JSON, with every way it can be bad reported as :class:`MetadataError`."""
    try:
        return json.loads(bytes(raw).decode("utf-8"))
    except ValueError as exc:  # bad UTF-8, bad JSON, integer literals over Python's digit limit
        raise MetadataError(f"{where}: malformed or truncated JSON ({exc})") from None
    except RecursionError:
        raise MetadataError(f"{where}: JSON nested too deeply") from None


def _load(store: Store, key: str) -> Any:
    raw = store.get(key)
    if raw is None:
        return None
    return parse_json(raw, key)


def read_metadata(store: Store, path: str, *, zarr_format: int | None = None) -> ArrayMetadata | GroupMetadata | None:
    """Read the node at ``path`` (v3 ``zarr.json`` first, then v2), or ``None`` if absent."""
    if zarr_format in (None, 3):
        doc = _load(store, join(path, "zarr.json"))
        if doc is not None:
            return v3.parse_zarr_json(doc, path=path)
    if zarr_format in (None, 2):
        # the array document and its attributes in one round trip (concurrent on object stores)
        keys = [join(path, ".zarray"), join(path, ".zattrs")]
        raw_zarray, raw_attrs = store.get_many(keys)
        zarray = None if raw_zarray is None else parse_json(raw_zarray, keys[0])
        zgroup = _load(store, join(path, ".zgroup")) if zarray is None else None
        if zarray is None and zgroup is None:
            return None
        attrs = None if raw_attrs is None else parse_json(raw_attrs, keys[1])
        if attrs is not None and not isinstance(attrs, dict):
            raise MetadataError(f"{keys[1]}: attributes must be a JSON object")
        if zarray is not None:
            return v2.parse_zarray(zarray, attrs, path=path)
        return v2.parse_zgroup(zgroup, attrs, path=path)
    return None


def documents(meta: ArrayMetadata | GroupMetadata) -> dict[str, Any]:
    return v3.documents(meta) if meta.zarr_format == 3 else v2.documents(meta)


def attribute_documents(meta: ArrayMetadata | GroupMetadata) -> dict[str, Any]:
    """The documents to rewrite when only the attributes changed."""
    return v3.documents(meta) if meta.zarr_format == 3 else {".zattrs": meta.attributes}


def encode_metadata(path: str, meta: ArrayMetadata | GroupMetadata, *, attrs_only: bool = False) -> dict[str, bytes]:
    """The documents of a node as ``{key: JSON bytes}``: everything that can fail (attributes that
    are not JSON, values JSON cannot hold) fails here, before anything is written or deleted."""
    docs = attribute_documents(meta) if attrs_only else documents(meta)
    return {join(path, k): dumps(d, where=join(path, k)) for k, d in docs.items()}


def write_metadata(
    store: Store,
    path: str,
    meta: ArrayMetadata | GroupMetadata,
    *,
    attrs_only: bool = False,
    encoded: dict[str, bytes] | None = None,
    exclusive: bool = False,
) -> bool:
    """Write a node's documents. With ``exclusive``, the defining document (``zarr.json``,
    ``.zarray`` or ``.zgroup``) is put only if nothing is there (a conditional put where the store
    has one): ``False`` and nothing written if a node appeared meanwhile."""
    docs = encoded if encoded is not None else encode_metadata(path, meta, attrs_only=attrs_only)
    if exclusive:
        first = next(k for k in docs if k.rsplit("/", 1)[-1] in ("zarr.json", ".zarray", ".zgroup"))
        if not store.set_if_not_exists(first, docs[first]):
            return False
        docs = {k: v for k, v in docs.items() if k != first}
    for key, raw in docs.items():
        store.set(key, raw)
    return True


def _dimension_names(names: Any, ndim: int) -> tuple[str | None, ...] | None:
    if names is None:
        return None
    names = tuple(names)
    if len(names) != ndim or not all(n is None or isinstance(n, str) for n in names):
        raise MetadataError(f"dimension_names: expected {ndim} strings or None, got {names!r}")
    return names


def _check_object_size(shape: tuple[int, ...], dt: Any, field: str) -> None:
    """Refuse, at creation, a chunk (or shard) whose decoded size exceeds ``config.max_chunk_bytes``:
    every write would need that much memory (and every read of a fixed-size type too)."""
    from ..config import config

    item = 16 if dt.is_object else max(1, dt.numpy.itemsize)
    n = item
    for s in shape:
        n *= s
    if n > config.max_chunk_bytes:
        raise MetadataError(
            f"{field}: one {'shard' if field == 'shards' else 'chunk'} of {shape} holds {n:,} bytes, over "
            f"exzarr.config.max_chunk_bytes ({config.max_chunk_bytes:,}); choose a smaller {field} shape or raise the setting"
        )


def build_array_metadata(
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
    chunk_key_encoding: Any = None,
    shards: Any = None,
) -> ArrayMetadata:
    """Build metadata from the keyword arguments of :func:`exzarr.create`.

    With ``shards=``, ``chunks`` is the inner chunk shape and the stored grid is the shard
    shape: the codecs (or compressor/filters) become the ``sharding_indexed`` inner codecs.
    """
    shape_t = normalize_shape(shape)
    chunks_t = normalize_chunks(chunks, shape_t)
    shards_t = None
    if shards is not None:
        if zarr_format != 3:
            raise MetadataError("shards: sharding needs zarr_format=3")
        shards_t = normalize_chunks(shards, shape_t, name="shards")
        if any(s % c for s, c in zip(shards_t, chunks_t, strict=True)):
            raise MetadataError(f"shards: shard shape {shards_t} must be a multiple of the chunk shape {chunks_t}")
    dt = as_data_type(dtype)
    _check_object_size(chunks_t if shards_t is None else shards_t, dt, "shards" if shards_t is not None else "chunks")
    if order not in ("C", "F"):
        raise MetadataError(f"order: must be 'C' or 'F', got {order!r}")
    attrs = dict(attributes or {})
    dims = _dimension_names(dimension_names, len(shape_t))
    if fill_value is None and zarr_format == 3:
        fill_value = default_fill_value(dt)
    if dt.is_object and fill_value == 0:
        fill_value = default_fill_value(dt)
    fill = normalize_fill_value(fill_value, dt)
    if zarr_format == 2:
        if codecs is not None:
            raise MetadataError("codecs: v2 arrays take compressor= and filters=, not codecs=")
        sep = dimension_separator or "."
        comp = compressor_v2(compressor)
        filts = [filter_v2(f) for f in (filters or [])]
        if dt.is_object and not any(f.codec_id.startswith("vlen-") for f in filts):
            filts.insert(0, filter_v2("vlen-bytes" if dt.vlen == "bytes" else "vlen-utf8"))
        if dims is not None:
            attrs.setdefault(v2.DIMS_ATTR, list(dims))
        meta = ArrayMetadata(
            zarr_format=2,
            shape=shape_t,
            chunks=chunks_t,
            dtype=dt,
            fill_value=fill,
            codecs=v2.v2_codecs(len(shape_t), order, tuple(filts) or None, comp),
            key_encoding=ChunkKeyEncoding("v2", sep),
            attributes=attrs,
            dimension_names=dims,
            order=order,
            filters=tuple(filts) or None,
            compressor=comp,
        )
    elif zarr_format == 3:
        dt = v3_native(dt)
        fill = normalize_fill_value(fill_value, dt)
        if chunk_key_encoding is not None:
            key_enc = (
                chunk_key_encoding
                if isinstance(chunk_key_encoding, ChunkKeyEncoding)
                else ChunkKeyEncoding.from_json(chunk_key_encoding)
            )
        else:
            key_enc = ChunkKeyEncoding("default", dimension_separator or "/")
        if codecs is not None:
            if compressor not in (None, "zstd") or filters:
                raise MetadataError("codecs: give either codecs= or compressor=/filters=, not both")
            built = [codec_from_json(c, field="codecs") for c in codecs]
            codec_list = [c for c in built if c is not None]
        else:
            converted = [c for c in (compressor_v3(f, what="filters") for f in (filters or [])) if c is not None]
            # filters that act on arrays go before the serializer; byte filters (e.g. shuffle) after it
            codec_list = [c for c in converted if c.kind == "array_array"]
            if order == "F" and len(shape_t) > 1:
                codec_list.insert(0, TransposeCodec(tuple(range(len(shape_t) - 1, -1, -1))))
            if dt.is_object:
                codec_list.append(VlenBytesCodec() if dt.vlen == "bytes" else VlenUtf8Codec())
            else:
                codec_list.append(BytesCodec(None))  # resolved to "little" for multi-byte types
            codec_list += [c for c in converted if c.kind == "bytes_bytes"]
            comp = compressor_v3(compressor)
            if comp is not None:
                codec_list.append(comp)
        if shards_t is not None:
            from ..codecs.sharding import ShardingCodec

            codec_list = [ShardingCodec(chunks_t, codec_list)]
            chunks_t = shards_t
        meta = ArrayMetadata(
            zarr_format=3,
            shape=shape_t,
            chunks=chunks_t,
            dtype=dt,
            fill_value=fill,
            codecs=tuple(codec_list),
            key_encoding=key_enc,
            attributes=attrs,
            dimension_names=dims,
        )
        meta = meta.with_(codecs=meta.pipeline.codecs)  # resolved (e.g. blosc typesize)
    else:
        raise MetadataError(f"zarr_format: must be 2 or 3, got {zarr_format!r}")
    meta.pipeline  # noqa: B018 - validate the chain now, not at the first write
    return meta


def build_group_metadata(zarr_format: int = 3, attributes: dict[str, Any] | None = None) -> GroupMetadata:
    if zarr_format not in (2, 3):
        raise MetadataError(f"zarr_format: must be 2 or 3, got {zarr_format!r}")
    return GroupMetadata(zarr_format, dict(attributes or {}))
