"""Zarr v3: ``zarr.json`` for arrays and groups, to and from the internal model."""

from __future__ import annotations

from typing import Any

from ..chunk_grid import ChunkKeyEncoding, normalize_chunks, normalize_shape
from ..codecs import codec_from_json
from ..dtypes import fill_value_from_json, fill_value_to_json, parse_v3_dtype, v3_dtype_json
from ..errors import MetadataError
from .model import ArrayMetadata, GroupMetadata

_ARRAY_KEYS = {
    "zarr_format",
    "node_type",
    "shape",
    "data_type",
    "chunk_grid",
    "chunk_key_encoding",
    "fill_value",
    "codecs",
    "attributes",
    "dimension_names",
    "storage_transformers",
}
_GROUP_KEYS = {"zarr_format", "node_type", "attributes"}


def _extras(doc: dict[str, Any], known: set[str], where: str) -> dict[str, Any]:
    extra = {}
    for k, v in doc.items():
        if k in known:
            continue
        if isinstance(v, dict) and v.get("must_understand") is False:
            extra[k] = v
            continue
        raise MetadataError(f"{where}: unknown field {k!r} (an extension the reader must understand)")
    return extra


def parse_zarr_json(doc: Any, *, path: str = "") -> ArrayMetadata | GroupMetadata:
    where = f"/{path + '/' if path else ''}zarr.json"
    if not isinstance(doc, dict):
        raise MetadataError(f"{where}: expected a JSON object")
    if doc.get("zarr_format") != 3:
        raise MetadataError(f"{where}: zarr_format must be 3, got {doc.get('zarr_format')!r}")
    node_type = doc.get("node_type")
    attrs = doc.get("attributes", {})
    if not isinstance(attrs, dict):
        raise MetadataError(f"{where}: attributes must be an object")
    if node_type == "group":
        return GroupMetadata(3, dict(attrs), _extras(doc, _GROUP_KEYS, where))
    if node_type != "array":
        raise MetadataError(f"{where}: node_type must be 'array' or 'group', got {node_type!r}")
    missing = [k for k in ("shape", "data_type", "chunk_grid", "chunk_key_encoding", "fill_value", "codecs") if k not in doc]
    if missing:
        raise MetadataError(f"{where}: missing required field(s) {missing}")
    extra = _extras(doc, _ARRAY_KEYS, where)
    shape = normalize_shape(doc["shape"], name=f"{where}: shape")
    grid = doc["chunk_grid"]
    if not isinstance(grid, dict) or grid.get("name") != "regular":
        raise MetadataError(f"{where}: chunk_grid: only the 'regular' grid is supported, got {grid!r}")
    cfg = grid.get("configuration")
    if not isinstance(cfg, dict) or "chunk_shape" not in cfg:
        raise MetadataError(f"{where}: chunk_grid: missing configuration.chunk_shape")
    chunks = normalize_chunks(cfg["chunk_shape"], shape, name=f"{where}: chunk_grid.chunk_shape", reading=True)
    dtype = parse_v3_dtype(doc["data_type"], field=f"{where}: data_type")
    key_enc = ChunkKeyEncoding.from_json(doc["chunk_key_encoding"])
    fill = fill_value_from_json(doc["fill_value"], dtype, zarr_format=3, field=f"{where}: fill_value")
    codecs_json = doc["codecs"]
    if not isinstance(codecs_json, list) or not codecs_json:
        raise MetadataError(f"{where}: codecs must be a non-empty list")
    codecs = tuple(c for c in (codec_from_json(c, field=f"{where}: codecs") for c in codecs_json) if c is not None)
    st = doc.get("storage_transformers", [])
    if st not in ([], None):
        raise MetadataError(f"{where}: storage_transformers {st!r} are not supported")
    dims = doc.get("dimension_names")
    if dims is not None:
        if not isinstance(dims, list) or len(dims) != len(shape) or not all(d is None or isinstance(d, str) for d in dims):
            raise MetadataError(f"{where}: dimension_names must list one string or null per dimension, got {dims!r}")
        dims = tuple(dims)
    meta = ArrayMetadata(
        zarr_format=3,
        shape=shape,
        chunks=chunks,
        dtype=dtype,
        fill_value=fill,
        codecs=codecs,
        key_encoding=key_enc,
        attributes=dict(attrs),
        dimension_names=dims,
        extra=extra,
    )
    try:
        meta.pipeline  # noqa: B018 - validates the codec chain against the data type now
    except MetadataError as exc:
        raise MetadataError(f"{where}: {exc}") from None
    return meta


def zarr_json(meta: ArrayMetadata | GroupMetadata) -> dict[str, Any]:
    if isinstance(meta, GroupMetadata):
        return {"zarr_format": 3, "node_type": "group", "attributes": meta.attributes, **meta.extra}
    doc: dict[str, Any] = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": list(meta.shape),
        "data_type": v3_dtype_json(meta.dtype),
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(meta.chunks)}},
        "chunk_key_encoding": meta.key_encoding.to_json(),
        "fill_value": fill_value_to_json(meta.fill_value, meta.dtype, zarr_format=3),
        "codecs": [c.to_json() for c in meta.pipeline.codecs],
        "attributes": meta.attributes,
    }
    if meta.dimension_names is not None:
        doc["dimension_names"] = list(meta.dimension_names)
    doc.update(meta.extra)
    return doc


def documents(meta: ArrayMetadata | GroupMetadata) -> dict[str, Any]:
    return {"zarr.json": zarr_json(meta)}
