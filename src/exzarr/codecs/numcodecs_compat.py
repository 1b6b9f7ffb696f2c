"""numcodecs codecs in the v3 chain under the ``numcodecs.<id>`` names zarr-python writes.

``{"name": "numcodecs.delta", "configuration": {"dtype": "<i4"}}`` is the numcodecs
``Delta`` codec; the configuration is numcodecs' own ``get_config()`` minus ``id``.
Array-to-array filters flatten the chunk as numcodecs does, so the bytes match
zarr-python's exactly.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import numcodecs
import numpy as np
from numcodecs.abc import Codec as NCodec
from numcodecs.compat import ensure_ndarray

from ..dtypes import DataType
from ..errors import MetadataError, UnknownCodecError
from . import bounded
from .base import ArrayArrayCodec, ArrayBytesCodec, Buffer, BytesBytesCodec, ChunkSpec, Codec, check_options
from .bounded import Expect

ARRAY_ARRAY_IDS = frozenset({"delta", "fixedscaleoffset", "quantize", "bitround", "astype", "packbits", "categorize"})
ARRAY_BYTES_IDS = frozenset({"pcodec", "zfpy"})
PREFIX = "numcodecs."


def numcodec_from_config(cfg: dict[str, Any], *, field: str = "codec") -> NCodec:
    """Instantiate a numcodecs codec from its JSON config, with a clear error when the codec is
    unknown or an option is not one the codec takes (numcodecs would raise a bare ``TypeError``)."""
    if not isinstance(cfg, dict) or not isinstance(cfg.get("id"), str):
        raise UnknownCodecError(f"{field}: codec config must be an object with an 'id', got {cfg!r}")
    cls = numcodecs.registry.codec_registry.get(cfg["id"])
    if cls is not None:
        params = inspect.signature(cls.__init__).parameters
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            try:
                check_options(cfg["id"], {k: v for k, v in cfg.items() if k != "id"}, [p for p in params if p != "self"])
            except MetadataError as exc:
                raise MetadataError(f"{field}: {exc}") from None
    try:
        return numcodecs.get_codec(dict(cfg))
    except ValueError as exc:
        raise UnknownCodecError(f"{field}: unknown numcodecs codec {cfg.get('id')!r} ({exc})") from None
    except TypeError as exc:
        raise MetadataError(f"{field}: invalid configuration for codec {cfg.get('id')!r}: {exc}") from None


class _Numcodecs(Codec):
    def __init__(self, codec: NCodec) -> None:
        self.codec = codec
        self.codec_id = codec.codec_id
        self.name = PREFIX + codec.codec_id  # type: ignore[misc]

    def to_json(self) -> dict[str, Any]:
        cfg = {k: v for k, v in self.codec.get_config().items() if k != "id"}
        return {"name": self.name, "configuration": cfg}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.codec!r})"


class NumcodecsArrayArrayCodec(_Numcodecs, ArrayArrayCodec):
    """A numcodecs filter (delta, fixedscaleoffset, quantize, bitround, astype, packbits, categorize)."""

    def resolve(self, spec: ChunkSpec) -> ChunkSpec:
        c, cid = self.codec, self.codec_id
        if cid == "packbits":
            n = math.prod(spec.shape)
            return spec.with_(shape=(1 + math.ceil(n / 8),), dtype=DataType(np.dtype("u1")))
        if cid == "astype":
            return spec.with_(dtype=DataType(np.dtype(c.encode_dtype)))
        if cid in ("fixedscaleoffset", "quantize", "categorize"):
            astype = getattr(c, "astype", None)
            if astype is not None:
                return spec.with_(dtype=DataType(np.dtype(astype)))
        return spec

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        out = ensure_ndarray(self.codec.encode(np.ascontiguousarray(chunk)))
        target = self.resolve(spec).shape
        return out.reshape(target) if out.size == math.prod(target) else out

    def decode(self, chunk: np.ndarray, spec: ChunkSpec) -> np.ndarray:
        out = ensure_ndarray(self.codec.decode(np.ascontiguousarray(chunk)))
        nd = spec.dtype.numpy
        if out.dtype != nd and out.dtype.itemsize == nd.itemsize and nd.kind != "O":
            out = out.view(nd)
        return out.reshape(spec.shape)


class NumcodecsBytesBytesCodec(_Numcodecs, BytesBytesCodec):
    """A numcodecs compressor or checksum (zlib, lz4, bz2, lzma, shuffle, crc32, ...).

    Decoding goes through the bounded decoders of :mod:`exzarr.codecs.bounded` for the codecs
    that decompress (their framing checked, their output capped); others decode as numcodecs does."""

    def encode(self, data: Buffer) -> Buffer:
        return self.codec.encode(data)

    def decode(self, data: Buffer) -> Buffer:
        fn = bounded.DECODERS.get(self.codec_id)
        return self.codec.decode(data) if fn is None else fn(data, Expect(None, 2**62), impl=self.codec)

    def decode_bounded(self, data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
        fn = bounded.DECODERS.get(self.codec_id)
        if fn is None:  # checksums, shuffle: the output is never larger than the input
            return BytesBytesCodec.decode_bounded(self, data, expect, out)
        return fn(data, expect, out, impl=self.codec)

    def encoded_expect(self, decoded: Expect) -> Expect:
        return bounded.encoded_expect(self.codec_id, decoded)


class NumcodecsArrayBytesCodec(_Numcodecs, ArrayBytesCodec):
    """A numcodecs codec that serialises arrays itself (pcodec, zfpy)."""

    def encode(self, chunk: np.ndarray, spec: ChunkSpec) -> Buffer:
        return self.codec.encode(np.ascontiguousarray(chunk))

    def decode(self, data: Buffer, spec: ChunkSpec) -> np.ndarray:
        out = ensure_ndarray(self.codec.decode(data))
        return out.view(spec.dtype.numpy).reshape(spec.shape)


def wrap_numcodec(codec: NCodec) -> Codec:
    """Wrap a numcodecs codec object as the right v3 codec kind."""
    cid = codec.codec_id
    if cid in ARRAY_ARRAY_IDS:
        return NumcodecsArrayArrayCodec(codec)
    if cid in ARRAY_BYTES_IDS:
        return NumcodecsArrayBytesCodec(codec)
    return NumcodecsBytesBytesCodec(codec)
