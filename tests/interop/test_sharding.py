"""sharding_indexed: exzarr <-> zarr-python and tensorstore, partial reads by byte count, bad shards."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from peers import assert_same, ts_read, ts_write

import exzarr
from exzarr.errors import ChecksumError, ChunkDecodeError, MetadataError
from exzarr.storage import LocalStore

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))
from helpers import CountingStore

SHAPE = (40, 30)
BYTES = {"name": "bytes", "configuration": {"endian": "little"}}


def shard(chunk_shape, codecs=None, index_codecs=None, location="end"):
    cfg = {"chunk_shape": list(chunk_shape), "codecs": codecs or [BYTES, {"name": "zstd", "configuration": {"level": 1}}],
           "index_codecs": index_codecs or [BYTES, {"name": "crc32c"}], "index_location": location}  # fmt: skip
    return {"name": "sharding_indexed", "configuration": cfg}


CASES = {
    "end-crc32c": [shard((5, 5))],
    "start-crc32c": [shard((5, 5), location="start")],
    "end-no-crc": [shard((5, 5), index_codecs=[BYTES])],
    "inner-gzip-crc32c": [shard((4, 6), codecs=[BYTES, {"name": "gzip", "configuration": {"level": 3}}, {"name": "crc32c"}])],
    "inner-transpose": [shard((5, 5), codecs=[{"name": "transpose", "configuration": {"order": [1, 0]}}, BYTES])],
    "transpose-before-sharding": [{"name": "transpose", "configuration": {"order": [1, 0]}}, shard((5, 10))],
    "nested": [shard((10, 10), codecs=[shard((5, 5))])],
}
GRID = {
    "transpose-before-sharding": (20, 10),
    "inner-gzip-crc32c": (8, 12),
    "nested": (10, 20),
}  # shard shapes (tensorstore needs inner | shard)


def expected_with_gaps():
    x = np.arange(np.prod(SHAPE), dtype="f8").reshape(SHAPE) + 0.5
    exp = np.full(SHAPE, -1.0)
    exp[3:37, 0:22] = x[3:37, 0:22]  # leaves whole inner chunks and whole shards empty
    return x, exp


@pytest.mark.parametrize("name", list(CASES))
def test_exzarr_writes_peers_read(tmp_path, name):
    x, exp = expected_with_gaps()
    a = exzarr.create(
        tmp_path / "a",
        shape=SHAPE,
        chunks=GRID.get(name, (10, 15)),
        dtype="f8",
        fill_value=-1.0,
        codecs=CASES[name],
        compressor=None,
    )
    a[3:37, 0:22] = x[3:37, 0:22]
    assert_same(a[...], exp)
    assert_same(exzarr.open(tmp_path / "a")[5:33:3, ::-2], exp[5:33:3, ::-2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import zarr

        assert_same(np.asarray(zarr.open_array(str(tmp_path / "a"), mode="r")[...]), exp)
    assert_same(ts_read(tmp_path / "a", 3), exp)


@pytest.mark.parametrize("name", list(CASES))
def test_tensorstore_writes_exzarr_reads(tmp_path, name):
    x, exp = expected_with_gaps()
    meta = {
        "shape": list(SHAPE), "data_type": "float64", "fill_value": -1.0, "codecs": CASES[name],
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(GRID.get(name, (10, 15)))}},
    }  # fmt: skip
    ts_write(tmp_path / "a", exp, 3, meta)
    a = exzarr.open(tmp_path / "a")
    assert_same(a[...], exp)
    assert_same(a[7:31, 3:29:5], exp[7:31, 3:29:5])
    assert_same(a.vindex[[0, 39, 20], [0, 29, 21]], exp[[0, 39, 20], [0, 29, 21]])


@pytest.mark.parametrize("location", ["start", "end"])
@pytest.mark.parametrize("fmt_chunks", [((10, 15), (5, 5)), ((8, 30), (4, 10))])
def test_zarr_python_writes_exzarr_reads(tmp_path, location, fmt_chunks):
    import zarr
    from zarr.codecs import ShardingCodecIndexLocation

    shards, chunks = fmt_chunks
    x, exp = expected_with_gaps()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = zarr.create_array(str(tmp_path / "a"), shape=SHAPE, chunks=chunks, shards=shards, dtype="f8", fill_value=-1.0)
        z[3:37, 0:22] = x[3:37, 0:22]
    doc = json.loads((tmp_path / "a" / "zarr.json").read_text())
    if location == "start":  # rewrite the same data with the index at the start
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from zarr.codecs import ShardingCodec

            z = zarr.create_array(
                str(tmp_path / "a"), shape=SHAPE, dtype="f8", fill_value=-1.0, overwrite=True, chunks=shards, compressors=None,
                serializer=ShardingCodec(chunk_shape=chunks, index_location=ShardingCodecIndexLocation.start),
            )  # fmt: skip
            z[3:37, 0:22] = x[3:37, 0:22]
        doc = json.loads((tmp_path / "a" / "zarr.json").read_text())
    assert doc["codecs"][0]["configuration"]["index_location"] == location
    a = exzarr.open(tmp_path / "a")
    assert a.chunks == chunks and a.shards == shards
    assert a.codecs[0].name == "sharding_indexed" and len(a.codecs) == 1  # inner chunks are read individually
    assert_same(a[...], exp)
    assert sorted(a.stored_chunks()) == sorted({(i // chunks[0], j // chunks[1]) for i in range(3, 37) for j in range(0, 22)})


def test_partial_read_fetches_only_what_it_needs(tmp_path):
    base = LocalStore(tmp_path / "big")
    x = np.random.default_rng(0).standard_normal((1280, 1024))
    a = exzarr.create(base, shape=x.shape, chunks=(64, 64), shards=(1280, 1024), dtype="f8", compressor=None)
    a[...] = x
    shard_bytes = base.getsize("c/0/0")
    assert shard_bytes > 10_000_000
    store = CountingStore(inner=base)
    sizes = []
    real_get = store.inner.get

    def sized_get(key, byte_range=None):
        v = real_get(key, byte_range)
        sizes.append(len(v) if v is not None else 0)
        return v

    store.inner.get = sized_get
    b = exzarr.open(store)
    sizes.clear()  # count chunk I/O only, not the metadata read
    assert np.array_equal(b[64:128, 128:192], x[64:128, 128:192])
    assert len(sizes) == 2 and sum(sizes) < 256 * 1024, sizes  # the index, then one inner chunk
    assert sum(sizes) < 40_000
    sizes.clear()
    assert np.array_equal(b[0:64, 0:256], x[0:64, 0:256])
    assert len(sizes) == 2  # four adjacent inner chunks: one merged range request


def test_writes_keep_others_and_drop_empty(tmp_path):
    a = exzarr.create(tmp_path / "w", shape=(20, 20), chunks=(5, 5), shards=(10, 10), dtype="i4", fill_value=0)
    a[...] = 1
    a[0:5, 0:5] = 0  # one inner chunk becomes empty: left out of its shard
    sh = a.codecs[0]
    index = sh.decode_index(sh.index_bytes_of(LocalStore(tmp_path / "w").get("c/0/0")))
    assert index[0, 0].tolist() == [2**64 - 1, 2**64 - 1] and index[1, 1, 1] > 0
    assert (a[0:5, 0:5] == 0).all() and (a[5:10, 0:10] == 1).all()
    a[10:20, 10:20] = 0  # a whole shard becomes empty: deleted
    assert not (tmp_path / "w" / "c" / "1" / "1").exists()
    a[12, 3] = 7
    assert a[12, 3] == 7 and a[12, 4] == 1 and a.nchunks_initialized == 16 - 1 - 4


def test_bad_shards_name_the_key(tmp_path):
    a = exzarr.create(tmp_path / "b", shape=(10, 10), chunks=(5, 5), shards=(10, 10), dtype="f8", compressor=None)
    a[...] = 1.0
    p = tmp_path / "b" / "c" / "0" / "0"
    good = p.read_bytes()
    p.write_bytes(good[:-3])  # truncated: the index is cut
    with pytest.raises(ChunkDecodeError, match="'c/0/0'"):
        a[...]
    bad = bytearray(good)
    bad[-6] ^= 0xFF  # index bytes changed: crc32c fails
    p.write_bytes(bytes(bad))
    with pytest.raises(ChunkDecodeError, match="'c/0/0'") as info:
        a[...]
    assert isinstance(info.value.__cause__, ChecksumError)
    sh = a.codecs[0]
    index = np.array([[[10**6, 200]] * 2] * 2, dtype="<u8")  # offsets far outside the shard
    raw = sh.index_pipeline.encode(index)
    p.write_bytes(good[: -len(raw)] + bytes(raw))
    with pytest.raises(ChunkDecodeError, match="'c/0/0'.*outside"):
        a[...]
    index = np.array([[[0, 800]] * 2] * 2, dtype="<u8")  # larger than a 5x5 float64 inner chunk can be
    raw = sh.index_pipeline.encode(index)
    p.write_bytes(good[: -len(raw)] + bytes(raw))
    with pytest.raises(ChunkDecodeError, match="'c/0/0'.*claims 800 bytes"):
        a[...]


def test_shard_argument_validation():
    with pytest.raises(MetadataError, match="multiple"):
        exzarr.create(shape=(10,), chunks=(3,), shards=(10,))
    with pytest.raises(MetadataError, match="zarr_format=3"):
        exzarr.create(shape=(10,), chunks=(5,), shards=(10,), zarr_format=2)


def test_streaming_iterates_inner_chunks(tmp_path):
    x = np.arange(20 * 30, dtype="i4").reshape(20, 30)
    a = exzarr.create(tmp_path / "s", shape=x.shape, chunks=(4, 6), shards=(8, 12), dtype="i4", fill_value=-1)
    a[0:8, 0:12] = x[0:8, 0:12]
    a[16:20, 24:30] = x[16:20, 24:30]
    got = dict(a.chunk_stream(parallel=3))
    assert sorted(got) == [(0, 0), (0, 1), (1, 0), (1, 1), (4, 4)]
    assert np.array_equal(got[(4, 4)], x[16:20, 24:30]) and got[(1, 1)].shape == (4, 6)
    recs = list(a.chunk_stream(with_info=True, filter=lambda i: i == (0, 1)))
    assert recs[0].index == (0, 1) and 0 < recs[0].nbytes < 4 * 6 * 4 + 64  # the stored (compressed) size
    assert len(list(a.chunk_stream(include_missing=True))) == a.nchunks == 5 * 5
    sums = list(a.parallel_chunk_map(lambda it: int(it[1].sum()), max_concurrency=2))
    assert sums == [int(x[i * 4 : i * 4 + 4, j * 6 : j * 6 + 6].sum()) for i, j in [(0, 0), (0, 1), (1, 0), (1, 1), (4, 4)]]
    rows = list(a.stream_slices(axis=0, start=0, stop=8))
    assert all(np.array_equal(r, np.where(np.arange(30) < 12, x[i], -1)) for i, r in rows)
    assert np.array_equal(a.read_chunk((4, 4)), x[16:20, 24:30])
    a.write_stream([((2, 2), np.full((4, 6), 5, "i4"))])
    assert (a[8:12, 12:18] == 5).all() and (2, 2) in set(a.stored_chunks())


def test_partial_shard_write_reencodes_only_touched_chunks(tmp_path):
    x = np.random.default_rng(1).standard_normal((64, 64))
    a = exzarr.create(tmp_path / "p", shape=x.shape, chunks=(4, 4), shards=(64, 64), dtype="f8")
    a[...] = x
    sh = a.codecs[0]
    before = LocalStore(tmp_path / "p").get("c/0/0")
    old_index = sh.decode_index(sh.index_bytes_of(before))
    calls = []
    real = sh.inner_pipeline.encode
    sh.inner_pipeline.encode = lambda arr: calls.append(arr.shape) or real(arr)
    a[5, 6] = 99.0  # one element: inner chunk (1, 1)
    x[5, 6] = 99.0
    assert calls == [(4, 4)]
    after = LocalStore(tmp_path / "p").get("c/0/0")
    new_index = sh.decode_index(sh.index_bytes_of(after))
    for i in range(16):
        for j in range(16):
            if (i, j) == (1, 1):
                continue
            o0, n0 = old_index[i, j]
            o1, n1 = new_index[i, j]
            assert before[o0 : o0 + n0] == after[o1 : o1 + n1]  # untouched chunks: the same stored bytes
    assert np.array_equal(exzarr.open(tmp_path / "p")[...], x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import zarr

        assert np.array_equal(np.asarray(zarr.open_array(str(tmp_path / "p"), mode="r")[...]), x)
    assert_same(ts_read(tmp_path / "p", 3), x)


def test_emptied_shard_in_a_zip_store(tmp_path):
    with exzarr.create(str(tmp_path / "z.zip"), shape=(8, 8), chunks=(4, 4), shards=(8, 8), dtype="i2") as a:
        a[...] = 3
        a[0:4, 0:4] = 0  # partial: one inner chunk emptied
        a[...] = 0  # every chunk empty; a zip cannot delete, so an index-only shard remains
    r = exzarr.open(str(tmp_path / "z.zip"))
    assert (r[...] == 0).all() and list(r.stored_chunks()) == []
