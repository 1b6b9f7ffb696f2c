"""Array->bytes serialisers: ``bytes`` (v3), the v2 raw layout with filters, and vlen codecs."""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from numcodecs import VLenBytes, VLenUTF8
from numcodecs.compat import ensure_contiguous_ndarray

from ..errors import MetadataError
from .base import ArrayBytesCodec, Buffer, ChunkSpec, check_options

_SYS = "little" if sys.byteorder == "little" else "big"


def _needs_endian(dtype: np.dtype) -> bool:
    if dtype.fields is not None:
        return any(_needs_endian(dtype.fields[n][0]) for n in dtype.names)
    if dtype.subdtype is not None:
        return _needs_endian(dtype.subdtype[0])
    return dtype.itemsize > 1 and dtype.kind not in "SVbO"


def _with_order(dtype: np.dtype, endian: str | None) -> np.dtype:
    if endian is None:
        return dtype
    return dtype.newbyteorder("<" if endian == "little" else ">")


def as_bytes_view(arr: np.ndarray) -> memoryview:
    """A zero-copy byte view of a C-contiguous array (copying only if it is not contiguous)."""
    arr = np.ascontiguousarray(arr)
    return memoryview(arr.reshape(-1).view(np.uint8)) if arr.dtype.kind != "O" else memoryview(arr.tobytes())


class BytesCodec(ArrayBytesCodec):
    """The v3 ``bytes`` codec: C-order elements in a fixed byte order."""

    name = "bytes"

    def __init__(self, endian: str | None = "little") -> None:
        if endian not in ("little", "big", None):
            raise MetadataError(f"codec 'bytes': endian must be 'little' or 'big', got {endian!r}")
        self.endian = endian

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> BytesCodec:
        check_options("bytes", cfg, ("endian",))
        return cls(cfg.get("endian"))

    def configuration(self) -> dict[str, Any] | None:
        return {"endian": self.endian} if self.endian is not None else None

    def evolve(self, spec: ChunkSpec) -> BytesCodec:
        # multi-byte types need an endianness; a stated one on 1-byte types is kept as written
        if self.endian is None and _needs_endian(spec.dtype.numpy):
            return BytesCodec("little")
        return self

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        if chunk.dtype.kind == "O":
            raise MetadataError("codec 'bytes' cannot encode variable-length data; use vlen-utf8/vlen-bytes")
        target = _with_order(chunk.dtype, self.endian if _needs_endian(chunk.dtype) else None)
        if target != chunk.dtype:
            chunk = chunk.astype(target)
        return as_bytes_view(chunk)

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        nd = spec.dtype.numpy
        stored = _with_order(nd, self.endian if _needs_endian(nd) else None)
        n = int(np.prod(spec.shape, dtype=np.int64))
        buf = ensure_contiguous_ndarray(data).view(np.uint8) if not isinstance(data, bytes) else data
        if len(memoryview(buf)) != n * nd.itemsize:
            raise ValueError(f"expected {n * nd.itemsize} bytes for a {spec.shape} {nd} chunk, got {len(memoryview(buf))}")
        arr = np.frombuffer(buf, dtype=stored).reshape(spec.shape)
        if stored != nd:
            arr = arr.astype(nd)
        return arr


class _VlenCodec(ArrayBytesCodec):
    """Base of the vlen codecs: u32le count, then (u32le length, bytes) per element."""

    _impl: Any

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "configuration": {}}

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        return self._impl.encode(np.ascontiguousarray(chunk, dtype=object))

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        check_vlen_count(data, math.prod(spec.shape))
        out = self._impl.decode(data)
        return np.asarray(out, dtype=object).reshape(spec.shape)


def check_vlen_count(data: Buffer, n: int) -> None:
    """A vlen chunk starts with its element count: it must be the chunk's, before numcodecs
    allocates an object array of whatever size the header claims."""
    mv = (
        memoryview(data).cast("B")
        if not isinstance(data, np.ndarray)
        else memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
    )
    if len(mv) < 4:
        raise ValueError(f"variable-length chunk of {len(mv)} bytes has no element count")
    count = int.from_bytes(mv[:4], "little")
    if count != n:
        raise ValueError(f"variable-length chunk claims {count} elements, the chunk holds {n}")


class VlenUtf8Codec(_VlenCodec):
    """``vlen-utf8``: variable-length UTF-8 strings."""

    name = "vlen-utf8"
    _impl = VLenUTF8()


class VlenBytesCodec(_VlenCodec):
    """``vlen-bytes``: variable-length byte strings."""

    name = "vlen-bytes"
    _impl = VLenBytes()


class V2ArrayBytesCodec(ArrayBytesCodec):
    """The v2 chunk layout: numcodecs filters (in order) over the raw element bytes.

    v2 has no ``bytes`` codec: elements are stored in the dtype's own byte order,
    after the filters listed in ``.zarray``. ``transpose`` for ``order="F"`` runs
    before this codec, so filters always see C-contiguous data, exactly as they
    see the memory layout in zarr-python.
    """

    name = "v2"

    def __init__(self, filters: list[Any]) -> None:
        self.filters = list(filters)

    def to_json(self) -> dict[str, Any]:  # pragma: no cover - not a v3 codec
        return {"name": "v2", "configuration": {"filters": [f.get_config() for f in self.filters]}}

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        data: Any = np.ascontiguousarray(chunk)
        for f in self.filters:
            data = f.encode(data)
        if isinstance(data, np.ndarray):
            if data.dtype.kind == "O":
                raise MetadataError("v2 object arrays need a vlen filter (e.g. vlen-utf8)")
            return as_bytes_view(data)
        return data

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        nd = spec.dtype.numpy
        out: Any = data
        for f in reversed(self.filters):
            if f.codec_id in ("vlen-utf8", "vlen-bytes"):
                check_vlen_count(out, math.prod(spec.shape))
            out = f.decode(out)
        if nd.kind == "O":
            return np.asarray(out, dtype=object).reshape(spec.shape)
        arr = ensure_contiguous_ndarray(out) if not isinstance(out, bytes) else np.frombuffer(out, dtype=np.uint8)
        arr = arr.view(nd) if arr.dtype != nd else arr
        n = int(np.prod(spec.shape, dtype=np.int64))
        if arr.size != n:
            raise ValueError(f"expected {n} elements of {nd} for a {spec.shape} chunk, got {arr.size}")
        return arr.reshape(spec.shape)
