"""The arrays and hierarchies the fuzz cases start from: one per codec configuration.

Shared by the test process (which only needs names, shapes and kinds to draw cases) and the
worker process (which builds the stores with exzarr and keeps them for the whole batch).
Builders are deterministic: the same fixture name always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

BYTES_LE = {"name": "bytes", "configuration": {"endian": "little"}}
BYTES_BE = {"name": "bytes", "configuration": {"endian": "big"}}
CRC = {"name": "crc32c"}
ZSTD = {"name": "zstd", "configuration": {"level": 1, "checksum": False}}
GZIP = {"name": "gzip", "configuration": {"level": 1}}


def _blosc3(cname: str, shuffle: str) -> dict[str, Any]:
    return {"name": "blosc", "configuration": {"cname": cname, "clevel": 5, "shuffle": shuffle, "blocksize": 0}}


def _shard(inner: list, chunk_shape: list[int], *, index_codecs: list | None = None, location: str = "end") -> dict[str, Any]:
    return {
        "name": "sharding_indexed",
        "configuration": {
            "chunk_shape": chunk_shape,
            "codecs": inner,
            "index_codecs": index_codecs if index_codecs is not None else [BYTES_LE, CRC],
            "index_location": location,
        },
    }


@dataclass(frozen=True, eq=False)
class Fixture:
    """One array to corrupt: ``create`` keyword arguments plus how its data is generated."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    create: dict[str, Any] = field(default_factory=dict)
    zarr_format: int = 3
    #: inner chunk shape when the array is sharded (``chunks`` are then the shard shape on disk)
    inner: tuple[int, ...] | None = None
    #: index location and whether the shard index carries a crc32c
    index_location: str = "end"
    index_crc: bool = True
    #: the chunk (v3: shard) shape as stored
    chunks: tuple[int, ...] = ()

    @property
    def kind(self) -> str:
        if self.dtype in ("str", "bytes"):
            return "object"
        return "numeric"

    def data(self) -> np.ndarray:
        rng = np.random.default_rng(_seed(self.name))
        n = int(np.prod(self.shape)) if self.shape else 1
        if self.dtype == "str":
            words = ["", "a", "zarr", "\u00e9t\u00e9", "\u2603\u2603", "long" * 7, "x\x00y"]
            flat = np.array([words[i % len(words)] + str(i) for i in rng.permutation(n)], dtype=object)
        elif self.dtype == "bytes":
            flat = np.array(
                [bytes(rng.integers(0, 256, int(rng.integers(0, 9)), dtype=np.uint8)) for _ in range(n)], dtype=object
            )
        else:
            dt = np.dtype(self.dtype)
            if dt.kind == "f":
                flat = (rng.standard_normal(n) * 100).astype(dt)
                flat[:: max(1, n // 5)] = np.round(flat[:: max(1, n // 5)])  # some compressible runs
            elif dt.kind == "c":
                flat = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(dt)
            elif dt.kind == "b":
                flat = rng.integers(0, 2, n).astype(bool)
            else:
                info = np.iinfo(dt)
                flat = rng.integers(max(info.min, -1000), min(info.max, 1000), n, endpoint=True).astype(dt)
                flat[: n // 4] = flat[0]  # a compressible run
        if not self.shape:
            return flat.reshape(())
        return flat.reshape(self.shape)


def _seed(name: str) -> int:
    return sum((i + 1) * ord(c) for i, c in enumerate(name)) % 2**32


def _v2(name: str, compressor: Any, dtype: str = "f8", shape=(20, 13), chunks=(8, 5), **kw: Any) -> Fixture:
    return Fixture(name, shape, dtype, dict(compressor=compressor, chunks=chunks, **kw), zarr_format=2, chunks=chunks)


def _v3(name: str, codecs: list, dtype: str = "f8", shape=(20, 13), chunks=(8, 5), **kw: Any) -> Fixture:
    return Fixture(name, shape, dtype, dict(codecs=codecs, chunks=chunks), zarr_format=3, chunks=chunks, **kw)


def _v3s(
    name: str,
    inner_codecs: list,
    *,
    after: list | None = None,
    location: str = "end",
    crc: bool = True,
    dtype: str = "f8",
    shape=(20, 12),
    shard=(8, 6),
    inner=(4, 3),
) -> Fixture:
    sh = _shard(inner_codecs, list(inner), index_codecs=[BYTES_LE, CRC] if crc else [BYTES_LE], location=location)
    return Fixture(
        name,
        shape,
        dtype,
        dict(codecs=[sh, *(after or [])], chunks=shard),
        zarr_format=3,
        chunks=shard,
        inner=inner,
        index_location=location,
        index_crc=crc,
    )


CHUNK_FIXTURES: list[Fixture] = [
    # ---- v2 compressors
    _v2("v2-none-f8", None),
    _v2("v2-none-bool", None, dtype="bool"),
    _v2("v2-zstd-i4", {"id": "zstd", "level": 1}, dtype="i4"),
    _v2("v2-zstd-checksum-f8", {"id": "zstd", "level": 3, "checksum": True}),
    _v2("v2-blosc-lz4-shuffle-f8", {"id": "blosc", "cname": "lz4", "clevel": 5, "shuffle": 1}),
    _v2("v2-blosc-zstd-bitshuffle-i2", {"id": "blosc", "cname": "zstd", "clevel": 3, "shuffle": 2}, dtype="i2"),
    _v2("v2-blosc-blosclz-noshuffle-u1", {"id": "blosc", "cname": "blosclz", "clevel": 9, "shuffle": 0}, dtype="u1"),
    _v2("v2-blosc-zlib-shuffle-f4", {"id": "blosc", "cname": "zlib", "clevel": 1, "shuffle": 1}, dtype="f4"),
    _v2("v2-blosc-lz4hc-blocksize-f8", {"id": "blosc", "cname": "lz4hc", "clevel": 5, "shuffle": 1, "blocksize": 64}),
    _v2("v2-lz4-f8", {"id": "lz4", "acceleration": 1}),
    _v2("v2-zlib-i8", {"id": "zlib", "level": 1}, dtype="i8"),
    _v2("v2-gzip-f4", {"id": "gzip", "level": 1}, dtype="f4"),
    _v2("v2-bz2-u2", {"id": "bz2", "level": 1}, dtype="u2"),
    _v2("v2-lzma-f8", {"id": "lzma", "preset": 1}),
    _v2("v2-zlib-c16-order-F", {"id": "zlib", "level": 1}, dtype="c16", order="F"),
    _v2("v2-zstd-big-endian", {"id": "zstd", "level": 1}, dtype=">i4"),
    _v2("v2-vlen-utf8-zstd", {"id": "zstd", "level": 1}, dtype="str", shape=(9, 7), chunks=(4, 3)),
    _v2("v2-vlen-bytes-none", None, dtype="bytes", shape=(9, 7), chunks=(4, 3)),
    _v2("v2-0d-zlib", {"id": "zlib", "level": 1}, shape=(), chunks=()),
    _v2("v2-1d-lz4-i4", {"id": "lz4", "acceleration": 1}, dtype="i4", shape=(37,), chunks=(10,)),
    # ---- v3 codecs
    _v3("v3-bytes-f8", [BYTES_LE]),
    _v3("v3-bytes-big-i4", [BYTES_BE], dtype="i4"),
    _v3("v3-zstd-f8", [BYTES_LE, ZSTD]),
    _v3("v3-zstd-checksum-i2", [BYTES_LE, {"name": "zstd", "configuration": {"level": 2, "checksum": True}}], dtype="i2"),
    _v3("v3-gzip-f4", [BYTES_LE, GZIP], dtype="f4"),
    _v3("v3-blosc-lz4-shuffle-f8", [BYTES_LE, _blosc3("lz4", "shuffle")]),
    _v3("v3-blosc-zstd-bitshuffle-u2", [BYTES_LE, _blosc3("zstd", "bitshuffle")], dtype="u2"),
    _v3("v3-blosc-blosclz-noshuffle-i8", [BYTES_LE, _blosc3("blosclz", "noshuffle")], dtype="i8"),
    _v3("v3-crc32c-f8", [BYTES_LE, CRC]),
    _v3("v3-zstd-crc32c-i4", [BYTES_LE, ZSTD, CRC], dtype="i4"),
    _v3("v3-transpose-zstd-f8", [{"name": "transpose", "configuration": {"order": [1, 0]}}, BYTES_LE, ZSTD]),
    _v3("v3-numcodecs-lz4-f8", [BYTES_LE, {"name": "numcodecs.lz4", "configuration": {"acceleration": 1}}]),
    _v3("v3-numcodecs-bz2-i2", [BYTES_LE, {"name": "numcodecs.bz2", "configuration": {"level": 1}}], dtype="i2"),
    _v3("v3-vlen-utf8-zstd", [{"name": "vlen-utf8"}, ZSTD], dtype="str", shape=(9, 7), chunks=(4, 3)),
    _v3("v3-vlen-bytes", [{"name": "vlen-bytes"}], dtype="bytes", shape=(9, 7), chunks=(4, 3)),
    _v3("v3-0d-zstd-crc32c", [BYTES_LE, ZSTD, CRC], shape=(), chunks=()),
    _v3("v3-0d-bytes-i8", [BYTES_LE], dtype="i8", shape=(), chunks=()),
    # ---- v3 sharding
    _v3s("v3-shard-end-bytes", [BYTES_LE]),
    _v3s("v3-shard-start-bytes", [BYTES_LE], location="start"),
    _v3s("v3-shard-end-zstd-i4", [BYTES_LE, ZSTD], dtype="i4"),
    _v3s("v3-shard-start-gzip-f4", [BYTES_LE, GZIP], location="start", dtype="f4"),
    _v3s("v3-shard-end-blosc", [BYTES_LE, _blosc3("lz4", "shuffle")]),
    _v3s("v3-shard-end-crc-inner", [BYTES_LE, CRC], dtype="u2"),
    _v3s("v3-shard-end-nocrc-index", [BYTES_LE], crc=False),
    _v3s("v3-shard-start-nocrc-zstd", [BYTES_LE, ZSTD], location="start", crc=False, dtype="i8"),
    _v3s("v3-shard-then-zstd", [BYTES_LE], after=[ZSTD]),
    _v3s("v3-shard-start-then-gzip-nocrc", [BYTES_LE], after=[GZIP], location="start", crc=False, dtype="i2"),
    _v3s("v3-shard-vlen-utf8", [{"name": "vlen-utf8"}], dtype="str", shape=(8, 6), shard=(4, 6), inner=(2, 3)),
    _v3s("v3-shard-1d-3x", [BYTES_LE, ZSTD], dtype="i4", shape=(50,), shard=(24,), inner=(8,)),
]

FIXTURES = {f.name: f for f in CHUNK_FIXTURES}


def build_chunk_fixture(fx: Fixture) -> tuple[dict[str, bytes], np.ndarray]:
    """The store contents (key -> bytes) of ``fx`` written by exzarr, and the data written."""
    import exzarr

    store = exzarr.MemoryStore()
    kw = dict(fx.create)
    dtype = {"str": str, "bytes": bytes}.get(fx.dtype, fx.dtype)
    fill = "" if fx.dtype == "str" else b"" if fx.dtype == "bytes" else 0
    a = exzarr.create(store, shape=fx.shape, dtype=dtype, zarr_format=fx.zarr_format, fill_value=fill, **kw)
    data = fx.data()
    a[...] = data
    return dict(store._data), data


# ----------------------------------------------------------------------------- metadata fixtures

META_FIXTURES = ["v2-array", "v3-array", "v3-sharded", "v2-group", "v3-group", "v2-consolidated", "v3-consolidated", "v3-0d"]


def build_meta_fixture(name: str) -> dict[str, bytes]:
    """A small hierarchy whose metadata documents are mutated (chunks are stored too)."""
    import exzarr

    store = exzarr.MemoryStore()
    data = np.arange(60, dtype="f8").reshape(6, 10)
    if name == "v2-array":
        a = exzarr.create(
            store,
            shape=(6, 10),
            chunks=(4, 4),
            dtype="f8",
            zarr_format=2,
            compressor="blosc",
            attributes={"unit": "m", "nested": {"a": [1, 2]}},
        )
        a[...] = data
    elif name == "v3-array":
        a = exzarr.create(
            store,
            shape=(6, 10),
            chunks=(4, 4),
            dtype="i4",
            zarr_format=3,
            compressor="zstd",
            attributes={"unit": "m"},
            dimension_names=["y", "x"],
        )
        a[...] = data.astype("i4")
    elif name == "v3-sharded":
        a = exzarr.create(store, shape=(6, 10), chunks=(2, 5), shards=(4, 10), dtype="f4", zarr_format=3)
        a[...] = data.astype("f4")
    elif name == "v3-0d":
        a = exzarr.create(store, shape=(), dtype="f8", zarr_format=3, fill_value=1.5)
        a[...] = 3.25
    elif name in ("v2-group", "v3-group", "v2-consolidated", "v3-consolidated"):
        fmt = 2 if name.startswith("v2") else 3
        g = exzarr.create_group(store, zarr_format=fmt, attributes={"title": "t"})
        a = g.create_array("a", shape=(6, 10), chunks=(4, 4), dtype="f8", compressor="zlib" if fmt == 2 else "gzip")
        a[...] = data
        sub = g.create_group("sub", attributes={"k": 1})
        b = sub.create_array("b", shape=(5,), chunks=(2,), dtype="u1", compressor="lz4")
        b[...] = np.arange(5, dtype="u1")
        s = sub.create_array("s", shape=(4,), chunks=(3,), dtype=str)
        s[...] = np.array(["x", "yy", "\u00e9", ""], dtype=object)
        if "consolidated" in name:
            exzarr.consolidate_metadata(store)
    else:
        raise KeyError(name)
    return dict(store._data)


def metadata_keys(contents: dict[str, bytes]) -> list[str]:
    return sorted(k for k in contents if k.rsplit("/", 1)[-1] in ("zarr.json", ".zarray", ".zgroup", ".zattrs", ".zmetadata"))
