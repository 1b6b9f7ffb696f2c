"""Bytes->bytes codecs: the v3 ``gzip``, ``zstd``, ``blosc`` and ``crc32c`` codecs.

Compression itself is numcodecs' (whose decoders release the GIL); these classes
only translate between the v3 JSON configuration and numcodecs objects.
"""

from __future__ import annotations

from typing import Any

import crc32c as _crc32c
import numcodecs
import numpy as np

from ..errors import ChecksumError, MetadataError
from . import bounded, libzstd
from .base import Buffer, BytesBytesCodec, ChunkSpec, check_options
from .bounded import Expect

try:
    import zstandard
except ImportError:  # pragma: no cover - numcodecs' zstd is the fallback
    zstandard = None

_BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}
_BLOSC_CNAMES = ("lz4", "lz4hc", "blosclz", "zstd", "snappy", "zlib")


def _bytes_view(data: Buffer) -> memoryview:
    if isinstance(data, np.ndarray):
        return memoryview(np.ascontiguousarray(data).view(np.uint8).reshape(-1))
    return memoryview(data).cast("B")


def _int(cfg: dict[str, Any], key: str, codec: str, lo: int, hi: int, default: int | None = None) -> int:
    v = cfg.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise MetadataError(f"codec {codec!r}: {key} must be an integer in [{lo}, {hi}], got {v!r}")
    return v


class GzipCodec(BytesBytesCodec):
    """v3 ``gzip``: an RFC 1952 gzip stream."""

    name = "gzip"

    def __init__(self, level: int = 5) -> None:
        self.level = _int({"level": level}, "level", "gzip", 0, 9)
        self._impl = numcodecs.GZip(level=self.level)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> GzipCodec:
        check_options("gzip", cfg, ("level",))
        return cls(_int(cfg, "level", "gzip", 0, 9, 5))

    def configuration(self) -> dict[str, Any]:
        return {"level": self.level}

    def encode(self, data: Buffer) -> Buffer:
        return self._impl.encode(data)

    def decode(self, data: Buffer) -> Buffer:
        return self._impl.decode(data)

    def decode_bounded(self, data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
        return bounded.gzip(data, expect, out)


class ZstdCodec(BytesBytesCodec):
    """v3 ``zstd`` (zarr-extensions): ``level`` and optional ``checksum``."""

    name = "zstd"

    def __init__(self, level: int = 0, checksum: bool = False) -> None:
        self.level = _int({"level": level}, "level", "zstd", -131072, 22)
        if not isinstance(checksum, bool):
            raise MetadataError(f"codec 'zstd': checksum must be a boolean, got {checksum!r}")
        self.checksum = checksum
        self._impl = numcodecs.Zstd(level=self.level, checksum=checksum)

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ZstdCodec:
        check_options("zstd", cfg, ("level", "checksum"))
        return cls(_int(cfg, "level", "zstd", -131072, 22, 0), cfg.get("checksum", False))

    def configuration(self) -> dict[str, Any]:
        return {"level": self.level, "checksum": self.checksum}

    def encode(self, data: Buffer) -> Buffer:
        if zstandard is None and not libzstd.BOUND:  # pragma: no cover - zstandard is a dependency
            return self._impl.encode(data)
        return libzstd.compress(_bytes_view(data), self.level, self.checksum)

    def decode(self, data: Buffer) -> Buffer:
        return bounded.zstd(data, Expect(None, 2**62))

    def decode_bounded(self, data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
        return bounded.zstd(data, expect, out)


class BloscCodec(BytesBytesCodec):
    """v3 ``blosc``: ``cname``, ``clevel``, ``shuffle``, ``typesize``, ``blocksize``."""

    name = "blosc"

    def __init__(
        self,
        cname: str = "zstd",
        clevel: int = 5,
        shuffle: str | None = "shuffle",
        typesize: int | None = None,
        blocksize: int = 0,
    ) -> None:
        if cname not in _BLOSC_CNAMES:
            raise MetadataError(f"codec 'blosc': unknown cname {cname!r} (expected one of {_BLOSC_CNAMES})")
        if shuffle is not None and shuffle not in _BLOSC_SHUFFLE:
            raise MetadataError(f"codec 'blosc': shuffle must be one of {list(_BLOSC_SHUFFLE)}, got {shuffle!r}")
        self.cname, self.shuffle, self.typesize = cname, shuffle, typesize
        self.clevel = _int({"clevel": clevel}, "clevel", "blosc", 0, 9)
        self.blocksize = _int({"blocksize": blocksize}, "blocksize", "blosc", 0, 2**31)
        if typesize is not None:
            _int({"typesize": typesize}, "typesize", "blosc", 1, 2**31)
        # shuffle=None (left out of a configuration): chosen from the data type by evolve(), as
        # zarr-python does: byte shuffle for multi-byte items, bit shuffle for single bytes
        self._impl = numcodecs.Blosc(
            cname=cname,
            clevel=self.clevel,
            shuffle=_BLOSC_SHUFFLE[shuffle or "shuffle"],
            blocksize=self.blocksize,
            typesize=typesize,
        )

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> BloscCodec:
        check_options("blosc", cfg, ("cname", "clevel", "shuffle", "typesize", "blocksize"))
        return cls(
            cfg.get("cname", "zstd"),
            cfg.get("clevel", 5),
            cfg.get("shuffle"),
            cfg.get("typesize"),
            cfg.get("blocksize", 0),
        )

    def configuration(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"cname": self.cname, "clevel": self.clevel}
        if self.shuffle is not None:
            cfg["shuffle"] = self.shuffle
        if self.typesize is not None:
            cfg["typesize"] = self.typesize
        cfg["blocksize"] = self.blocksize
        return cfg

    def evolve(self, spec: ChunkSpec) -> BloscCodec:
        if self.typesize is None or self.shuffle is None:
            item = spec.dtype.numpy.itemsize if spec.dtype.numpy.kind != "O" else 1
            shuffle = self.shuffle or ("shuffle" if item > 1 else "bitshuffle")
            return BloscCodec(self.cname, self.clevel, shuffle, self.typesize or item, self.blocksize)
        return self

    def encode(self, data: Buffer) -> Buffer:
        return self._impl.encode(data)

    def decode(self, data: Buffer) -> Buffer:
        return self.decode_bounded(data, Expect(None, 2**62))

    def decode_bounded(self, data: Buffer, expect: Expect, out: np.ndarray | None = None) -> Buffer:
        return bounded.blosc(data, expect, out, impl=self._impl)


class Crc32cCodec(BytesBytesCodec):
    """v3 ``crc32c``: appends the CRC32C of the data as a little-endian u32, checked on decode."""

    name = "crc32c"

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Crc32cCodec:
        check_options("crc32c", cfg, ())
        return cls()

    def configuration(self) -> dict[str, Any] | None:
        return None

    def encode(self, data: Buffer) -> Buffer:
        mv = _bytes_view(data)
        return bytes(mv) + _crc32c.crc32c(mv).to_bytes(4, "little")

    def encoded_expect(self, decoded: Expect) -> Expect:
        return bounded.encoded_expect("crc32c", decoded)

    def decode(self, data: Buffer) -> Buffer:
        mv = _bytes_view(data)
        if len(mv) < 4:
            raise ChecksumError(f"crc32c: {len(mv)} bytes is too short to hold a checksum")
        body, tail = mv[:-4], bytes(mv[-4:])
        if _crc32c.crc32c(body).to_bytes(4, "little") != tail:
            raise ChecksumError("crc32c checksum mismatch")
        return body
