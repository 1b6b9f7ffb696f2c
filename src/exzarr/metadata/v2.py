"""Zarr v2: ``.zarray``, ``.zgroup`` and ``.zattrs`` to and from the internal model."""

from __future__ import annotations

from typing import Any

from ..chunk_grid import ChunkKeyEncoding, normalize_chunks, normalize_shape
from ..codecs.bytes import V2ArrayBytesCodec
from ..codecs.numcodecs_compat import NumcodecsBytesBytesCodec, numcodec_from_config
from ..codecs.transpose import TransposeCodec
from ..dtypes import DataType, fill_value_from_json, fill_value_to_json, parse_v2_dtype, v2_dtype_json
from ..errors import MetadataError
from .model import ArrayMetadata, GroupMetadata

_REQUIRED = ("zarr_format", "shape", "chunks", "dtype", "compressor", "fill_value", "order", "filters")
DIMS_ATTR = "_ARRAY_DIMENSIONS"


def v2_codecs(ndim: int, order: str, filters: tuple[Any, ...] | None, compressor: Any) -> tuple:
    codecs: list[Any] = []
    if order == "F" and ndim > 1:
        codecs.append(TransposeCodec(tuple(range(ndim - 1, -1, -1))))
    codecs.append(V2ArrayBytesCodec(list(filters or ())))
    if compressor is not None:
        codecs.append(NumcodecsBytesBytesCodec(compressor))
    return tuple(codecs)


def _attrs(attrs: Any, path: str) -> dict[str, Any]:
    if attrs is None:
        return {}
    if not isinstance(attrs, dict):
        raise MetadataError(f"/{path + '/' if path else ''}.zattrs: attributes must be a JSON object, got {type(attrs).__name__}")
    return dict(attrs)


def parse_zarray(doc: Any, attrs: dict[str, Any] | None, *, path: str = "") -> ArrayMetadata:
    where = f"/{path + '/' if path else ''}.zarray"
    attrs = _attrs(attrs, path)
    if not isinstance(doc, dict):
        raise MetadataError(f"{where}: expected a JSON object")
    missing = [k for k in _REQUIRED if k not in doc]
    if missing:
        raise MetadataError(f"{where}: missing required field(s) {missing}")
    if doc["zarr_format"] != 2:
        raise MetadataError(f"{where}: zarr_format must be 2, got {doc['zarr_format']!r}")
    shape = normalize_shape(doc["shape"], name=f"{where}: shape")
    chunks = normalize_chunks(doc["chunks"], shape, name=f"{where}: chunks", reading=True)
    dtype = parse_v2_dtype(doc["dtype"], field=f"{where}: dtype")
    order = doc["order"]
    if order not in ("C", "F"):
        raise MetadataError(f"{where}: order must be 'C' or 'F', got {order!r}")
    sep = doc.get("dimension_separator", ".")
    if sep not in (".", "/"):
        raise MetadataError(f"{where}: dimension_separator must be '.' or '/', got {sep!r}")
    filt_json = doc["filters"]
    if filt_json is not None and not isinstance(filt_json, list):
        raise MetadataError(f"{where}: filters must be a list or null")
    filters = tuple(numcodec_from_config(f, field=f"{where}: filters") for f in filt_json) if filt_json else None
    if dtype.is_object and filters:
        ids = [f.codec_id for f in filters]
        if "vlen-bytes" in ids:
            dtype = DataType(dtype.numpy, "bytes")
    comp = doc["compressor"]
    compressor = numcodec_from_config(comp, field=f"{where}: compressor") if comp is not None else None
    fill = fill_value_from_json(doc["fill_value"], dtype, zarr_format=2, field=f"{where}: fill_value")
    attrs = dict(attrs or {})
    dims = attrs.get(DIMS_ATTR)
    dim_names = tuple(dims) if isinstance(dims, list) and len(dims) == len(shape) else None
    return ArrayMetadata(
        zarr_format=2,
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        fill_value=fill,
        codecs=v2_codecs(len(shape), order, filters, compressor),
        key_encoding=ChunkKeyEncoding("v2", sep),
        attributes=attrs,
        dimension_names=dim_names,
        order=order,
        filters=filters,
        compressor=compressor,
        v2_codec_json=(filt_json, comp),
    )


def codec_config(codec: Any) -> dict[str, Any]:
    """numcodecs config as the v2 wire format; default-off flags are omitted as zarr-python does
    (tensorstore refuses ``"checksum": false`` in a zstd config)."""
    cfg = dict(codec.get_config())
    if cfg.get("id") == "zstd" and cfg.get("checksum") is False:
        del cfg["checksum"]
    return cfg


def zarray_json(meta: ArrayMetadata) -> dict[str, Any]:
    if meta.v2_codec_json is not None:
        filters_json, compressor_json = meta.v2_codec_json
    else:
        compressor_json = codec_config(meta.compressor) if meta.compressor is not None else None
        filters_json = [codec_config(f) for f in meta.filters] if meta.filters else None
    return {
        "zarr_format": 2,
        "shape": list(meta.shape),
        "chunks": list(meta.chunks),
        "dtype": v2_dtype_json(meta.dtype),
        "compressor": compressor_json,
        "fill_value": fill_value_to_json(meta.fill_value, meta.dtype, zarr_format=2),
        "order": meta.order,
        "filters": filters_json,
        "dimension_separator": meta.key_encoding.separator,
    }


def parse_zgroup(doc: Any, attrs: dict[str, Any] | None, *, path: str = "") -> GroupMetadata:
    where = f"/{path + '/' if path else ''}.zgroup"
    if not isinstance(doc, dict) or doc.get("zarr_format") != 2:
        raise MetadataError(f'{where}: expected {{"zarr_format": 2}}, got {doc!r}')
    return GroupMetadata(2, _attrs(attrs, path))


def documents(meta: ArrayMetadata | GroupMetadata) -> dict[str, Any]:
    """The v2 documents for a node, by file name."""
    if isinstance(meta, ArrayMetadata):
        return {".zarray": zarray_json(meta), ".zattrs": meta.attributes}
    return {".zgroup": {"zarr_format": 2}, ".zattrs": meta.attributes}
