"""``Array.info`` and ``Group.info``: what a node is and what it costs in storage, as a table.

Both are plain records: ``str()``/``repr()`` give the table (as zarr-python prints it),
``to_dict()`` a JSON-ready mapping (``exzarr info --json`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArrayInfo", "GroupInfo", "array_info", "codec_text", "group_info", "human_bytes"]


def human_bytes(n: int) -> str:
    """``1536`` -> ``'1.5K'`` (powers of 1024, as ``ls -h``).

    >>> human_bytes(100), human_bytes(1536), human_bytes(3 * 2**30)
    ('100', '1.5K', '3.0G')
    """
    value = float(n)
    for unit in ("", "K", "M", "G", "T", "P"):
        if abs(value) < 1024 or unit == "P":
            return f"{int(value)}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def codec_text(js: dict[str, Any]) -> str:
    """One codec as ``name(key=value, ...)`` from its v3 JSON or numcodecs config.

    >>> codec_text({"name": "zstd", "configuration": {"level": 3, "checksum": False}})
    'zstd(level=3, checksum=False)'
    >>> codec_text({"id": "delta", "dtype": "<f8"})
    'delta(dtype=<f8)'
    """
    if "id" in js:  # numcodecs
        cfg = {k: v for k, v in js.items() if k != "id"}
        name = str(js["id"])
    else:
        cfg = dict(js.get("configuration") or {})
        name = str(js["name"])
    if name == "sharding_indexed":
        inner = ", ".join(codec_text(c) for c in cfg.get("codecs", []))
        index = ", ".join(codec_text(c) for c in cfg.get("index_codecs", []))
        shape = tuple(cfg.get("chunk_shape", ()))
        where = cfg.get("index_location", "end")
        return f"sharding_indexed(chunk_shape={shape}, codecs=[{inner}], index=[{index}] at {where})"
    return f"{name}({', '.join(f'{k}={v}' for k, v in cfg.items())})"


def _codec_json(codec: Any) -> dict[str, Any]:
    return codec.get_config() if hasattr(codec, "get_config") else codec.to_json()


@dataclass(frozen=True)
class ArrayInfo:
    """What :attr:`Array.info <exzarr.Array.info>` reports.

    >>> import exzarr, numpy as np
    >>> a = exzarr.create(shape=(100, 100), chunks=(10, 10), dtype="int32", compressor=None)
    >>> a[:20] = 1
    >>> info = a.info
    >>> info.chunks_initialized, info.nchunks, info.nbytes_stored > 20 * 10 * 10 * 4
    (20, 100, True)
    >>> print(info)  # doctest: +ELLIPSIS
    Name               : /
    Type               : Array
    Zarr format        : 3
    Data type          : int32
    Shape              : (100, 100)
    Chunk shape        : (10, 10)
    ...
    """

    name: str
    zarr_format: int
    dtype: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    shards: tuple[int, ...] | None
    order: str
    fill_value: Any
    dimension_names: tuple[str | None, ...] | None
    read_only: bool
    store: str
    filters: tuple[str, ...]
    serializer: str | None
    compressors: tuple[str, ...]
    attributes: int
    nbytes: int
    nbytes_stored: int
    nchunks: int
    chunks_initialized: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def storage_ratio(self) -> float | None:
        """``nbytes / nbytes_stored`` (``None`` when nothing is stored).

        >>> import exzarr
        >>> a = exzarr.create_array(shape=(1000,), chunks=(1000,), dtype="u1")
        >>> a[:] = 7
        >>> a.info.storage_ratio > 1  # 1000 equal bytes compress well
        True
        """
        return self.nbytes / self.nbytes_stored if self.nbytes_stored else None

    def rows(self) -> list[tuple[str, str]]:
        """``(label, text)`` pairs: the lines ``str(info)`` prints.

        >>> import exzarr
        >>> exzarr.create_array(shape=(4,), chunks=(2,), dtype="u1").info.rows()[3:6]
        [('Data type', 'uint8'), ('Shape', '(4,)'), ('Chunk shape', '(2,)')]
        """
        rows = [
            ("Name", self.name),
            ("Type", "Array"),
            ("Zarr format", str(self.zarr_format)),
            ("Data type", self.dtype),
            ("Shape", str(self.shape)),
            ("Chunk shape", str(self.chunks)),
        ]
        if self.shards is not None:
            rows.append(("Shard shape", str(self.shards)))
        rows += [
            ("Order", self.order),
            ("Fill value", repr(self.fill_value.item() if hasattr(self.fill_value, "item") else self.fill_value)),
        ]
        if self.dimension_names is not None:
            rows.append(("Dimension names", str(self.dimension_names)))
        rows += [
            ("Read-only", str(self.read_only)),
            ("Store", self.store),
            ("Filters", ", ".join(self.filters) or "()"),
            ("Serializer", self.serializer or "-"),
            ("Compressors", ", ".join(self.compressors) or "()"),
            ("Attributes", str(self.attributes)),
            ("No. bytes", f"{self.nbytes} ({human_bytes(self.nbytes)})"),
            ("No. bytes stored", f"{self.nbytes_stored} ({human_bytes(self.nbytes_stored)})"),
            ("Storage ratio", "-" if self.storage_ratio is None else f"{self.storage_ratio:.1f}"),
            ("Chunks initialized", f"{self.chunks_initialized}/{self.nchunks}"),
        ]
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{k:<18} : {v}" for k, v in self.rows())

    __repr__ = __str__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (fill values that JSON cannot hold become strings).

        >>> import exzarr, json
        >>> d = exzarr.create_array(shape=(4,), chunks=(2,), dtype="f8", fill_value=float("nan")).info.to_dict()
        >>> d["shape"], d["fill_value"], json.loads(json.dumps(d))["chunks"]
        ([4], 'nan', [2])
        """
        return {
            "name": self.name,
            "type": "array",
            "zarr_format": self.zarr_format,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "chunks": list(self.chunks),
            "shards": None if self.shards is None else list(self.shards),
            "order": self.order,
            "fill_value": _jsonable(self.fill_value),
            "dimension_names": None if self.dimension_names is None else list(self.dimension_names),
            "read_only": self.read_only,
            "store": self.store,
            "filters": list(self.filters),
            "serializer": self.serializer,
            "compressors": list(self.compressors),
            "attributes": self.attributes,
            "nbytes": self.nbytes,
            "nbytes_stored": self.nbytes_stored,
            "storage_ratio": self.storage_ratio,
            "nchunks": self.nchunks,
            "chunks_initialized": self.chunks_initialized,
        }


@dataclass(frozen=True)
class GroupInfo:
    """What :attr:`Group.info <exzarr.Group.info>` reports.

    >>> import exzarr
    >>> g = exzarr.create_group()
    >>> _ = g.create_array("x", shape=(4,), chunks=(2,))
    >>> _ = g.create_group("sub")
    >>> print(g.info)  # doctest: +ELLIPSIS
    Name               : /
    Type               : Group
    Zarr format        : 3
    Read-only          : False
    Store              : ...
    Consolidated       : False
    No. members        : 2
    No. arrays         : 1
    No. groups         : 1
    Attributes         : 0
    """

    name: str
    zarr_format: int
    read_only: bool
    store: str
    consolidated: bool
    arrays: tuple[str, ...]
    groups: tuple[str, ...]
    attributes: int

    def rows(self) -> list[tuple[str, str]]:
        """``(label, text)`` pairs: the lines ``str(info)`` prints.

        >>> import exzarr
        >>> exzarr.create_group().info.rows()[:3]
        [('Name', '/'), ('Type', 'Group'), ('Zarr format', '3')]
        """
        return [
            ("Name", self.name),
            ("Type", "Group"),
            ("Zarr format", str(self.zarr_format)),
            ("Read-only", str(self.read_only)),
            ("Store", self.store),
            ("Consolidated", str(self.consolidated)),
            ("No. members", str(len(self.arrays) + len(self.groups))),
            ("No. arrays", str(len(self.arrays))),
            ("No. groups", str(len(self.groups))),
            ("Attributes", str(self.attributes)),
        ]

    def __str__(self) -> str:
        return "\n".join(f"{k:<18} : {v}" for k, v in self.rows())

    __repr__ = __str__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping.

        >>> import exzarr
        >>> g = exzarr.create_group()
        >>> _ = g.create_array("x", shape=(2,))
        >>> d = g.info.to_dict()
        >>> d["type"], d["arrays"], d["groups"]
        ('group', ['x'], [])
        """
        return {
            "name": self.name,
            "type": "group",
            "zarr_format": self.zarr_format,
            "read_only": self.read_only,
            "store": self.store,
            "consolidated": self.consolidated,
            "arrays": list(self.arrays),
            "groups": list(self.groups),
            "attributes": self.attributes,
        }


def _jsonable(v: Any) -> Any:
    import math

    import numpy as np

    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, bool | int | float | str) or v is None:
        return v
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _codecs(a: Any) -> tuple[tuple[str, ...], str | None, tuple[str, ...]]:
    """(filters, serializer, compressors) as texts; v2 arrays report their numcodecs filters and
    compressor, v3 arrays their array->array, array->bytes and bytes->bytes codecs."""
    meta = a.metadata
    if meta.zarr_format == 2:
        filters = tuple(codec_text(_codec_json(f)) for f in meta.filters or ())
        compressors = () if meta.compressor is None else (codec_text(_codec_json(meta.compressor)),)
        return filters, None, compressors
    kinds: dict[str, list[str]] = {"array_array": [], "array_bytes": [], "bytes_bytes": []}
    for c in meta.codecs:
        kinds.setdefault(c.kind, []).append(codec_text(c.to_json()))
    serializer = kinds["array_bytes"][0] if kinds["array_bytes"] else None
    return tuple(kinds["array_array"]), serializer, tuple(kinds["bytes_bytes"])


def array_info(a: Any) -> ArrayInfo:  # an exzarr.Array (not imported: info sits below array)
    """Build :class:`ArrayInfo` for ``a`` (lists the array's keys once: stored bytes and chunks)."""
    filters, serializer, compressors = _codecs(a)
    meta = a.metadata
    return ArrayInfo(
        name=a.name,
        zarr_format=a.zarr_format,
        dtype=str(meta.dtype),
        shape=a.shape,
        chunks=a.chunks,
        shards=a.shards,
        order=a.order,
        fill_value=a.fill_value,
        dimension_names=a.dimension_names,
        read_only=a.read_only,
        store=repr(a.store),
        filters=filters,
        serializer=serializer,
        compressors=compressors,
        attributes=len(meta.attributes),
        nbytes=a.nbytes,
        nbytes_stored=a.nbytes_stored(),
        nchunks=a.nchunks,
        chunks_initialized=a.nchunks_initialized,
    )


def group_info(g: Any) -> GroupInfo:
    """Build :class:`GroupInfo` for ``g`` (its direct members)."""
    return GroupInfo(
        name=g.name,
        zarr_format=g.zarr_format,
        read_only=g.read_only,
        store=repr(g.store),
        consolidated=g.consolidated,
        arrays=tuple(n for n, _ in g.arrays()),
        groups=tuple(n for n, _ in g.groups()),
        attributes=len(g.metadata.attributes),
    )
