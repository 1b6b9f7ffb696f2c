"""Every fast path has a slow twin: the engine with ``fast=False`` decodes whole stored objects and
copies (no decode-into, no leading-rows decode, no cache, no inner-chunk byte ranges, whole-object
re-encoding on writes). Both must agree with each other and with NumPy on random arrays, layouts,
codecs, dtypes and selections, 0-d and F order included."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exzarr
from exzarr.engine.core import ChunkEngine, EngineSpec
from exzarr.indexing import basic_selection, coordinate_selection
from exzarr.testing.strategies import basic_index, numpy_ix, orthogonal_index, shapes_and_chunks

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

LAYOUTS = ["v3", "v2", "v2-F", "v3-F", "sharded", "sharded-whole", "transposed-sharded"]
COMPRESSORS = [None, "zstd", ("zstd", {"level": 1, "checksum": True}), "blosc", "gzip"]
DTYPES = ["f8", "<i2", "u1", ">i4", "c8", "str"]


def create_kwargs(layout, shape, chunks, compressor, dtype, factor):
    kw = {"shape": shape, "chunks": chunks, "dtype": dtype, "fill_value": 3}
    nd = len(shape)
    if dtype == "str":  # variable-length strings: object arrays, vlen codecs
        kw.update(dtype=str, fill_value="3")
    if layout.startswith("v2"):
        return {**kw, "zarr_format": 2, "order": "F" if layout.endswith("F") else "C", "compressor": compressor}
    if dtype != "str":
        kw["dtype"] = np.dtype(dtype).newbyteorder("=").str
    if layout == "v3-F":
        return {**kw, "order": "F", "compressor": compressor}
    if layout == "v3":
        return {**kw, "compressor": compressor}
    shard = tuple(c * f for c, f in zip(chunks, factor, strict=True))
    if layout == "sharded":
        return {**kw, "shards": shard, "compressor": compressor}
    inner = exzarr.create(shape=shape, chunks=chunks, dtype=kw["dtype"], compressor=compressor).metadata.codecs
    sharding = {
        "name": "sharding_indexed",
        "configuration": {"chunk_shape": list(chunks), "codecs": [c.to_json() for c in inner]},
    }
    if layout == "sharded-whole":
        codecs = [sharding, {"name": "zstd", "configuration": {"level": 1}}]
    else:
        order = list(range(nd))[::-1]
        sharding["configuration"]["chunk_shape"] = [chunks[i] for i in order]
        codecs = [{"name": "transpose", "configuration": {"order": order}}, sharding]
    return {**kw, "chunks": shard, "codecs": codecs, "compressor": None}


@st.composite
def arrays(draw):
    shape, chunks = draw(shapes_and_chunks(max_ndim=3, max_side=10, min_ndim=0))
    layout = draw(st.sampled_from(LAYOUTS))
    if not shape:
        layout = draw(st.sampled_from(["v3", "v2"]))  # no grid to shard or transpose
    factor = tuple(draw(st.integers(1, 3)) for _ in shape)
    kw = create_kwargs(layout, shape, chunks, draw(st.sampled_from(COMPRESSORS)), draw(st.sampled_from(DTYPES)), factor)
    cache = draw(st.sampled_from([None, 1 << 20]))
    return kw, cache


def values(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    ints = rng.integers(-50, 200, size=shape)
    if dtype.kind == "O":
        return np.array([str(i) for i in ints.reshape(-1)], dtype=object).reshape(shape)
    return ints.astype(dtype)


def fill_of(a):
    return "3" if a.dtype.kind == "O" else 3


def plain_twin(a):
    return ChunkEngine(EngineSpec.from_metadata(a.store, a.path, a.metadata, fast=False))


def read_all(engine, shape, chunks):
    return engine.read(basic_selection(..., shape, chunks))


@SETTINGS
@given(spec=arrays(), data=st.data())
def test_fast_reads_equal_the_plain_twin_and_numpy(spec, data):
    kw, cache = spec
    a = exzarr.create(exzarr.MemoryStore(), cache_bytes=cache, **kw)
    shape, grid = a.shape, a.metadata.chunks
    ref = np.full(shape, fill_of(a), dtype=a.dtype)
    if data.draw(st.booleans()):  # fully written, or only some regions (missing chunks read as fill)
        ref[...] = values(shape, a.dtype, 0)
        a[...] = ref
    else:
        for _ in range(data.draw(st.integers(0, 3))):
            sel = data.draw(basic_index(shape))
            v = values(np.shape(ref[sel]), a.dtype, 1)
            ref[sel] = v
            a[sel] = v
    twin = plain_twin(a)
    assert np.array_equal(read_all(twin, shape, grid), ref)
    for _ in range(3):
        sel = data.draw(basic_index(shape))
        fast, plain = a[sel], twin.read(basic_selection(sel, shape, grid))
        assert np.shape(fast) == np.shape(ref[sel]) == plain.shape
        assert np.array_equal(fast, ref[sel]) and np.array_equal(plain, ref[sel])
        assert np.array_equal(a.get_basic_selection(sel, max_concurrency=1), ref[sel])
    if shape:
        osel = data.draw(orthogonal_index(shape))
        exp = ref[numpy_ix(osel, shape)]
        assert np.array_equal(a.oindex[osel], exp)
        assert np.array_equal(twin.read(basic_selection(osel, shape, grid, allow_arrays=True)), exp)
        if all(shape):
            pts = tuple(np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=3, max_size=3))) for n in shape)
            assert np.array_equal(a.vindex[pts], ref[pts])
            assert np.array_equal(twin.read(coordinate_selection(pts, shape, grid)), ref[pts])
    for idx in list(a.stored_chunks())[:4]:
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, a.chunks, shape, strict=True))
        chunk = a.read_chunk(idx)
        assert chunk.shape == a.chunks
        assert np.array_equal(chunk[tuple(slice(0, r.stop - r.start) for r in region)], ref[region])
    assert np.array_equal(a[...], ref)  # the cache (when on) now holds chunks: read again through it
    assert np.array_equal(a[...], ref)


@SETTINGS
@given(spec=arrays(), data=st.data())
def test_fast_writes_equal_the_plain_twin_and_numpy(spec, data):
    kw, cache = spec
    fast = exzarr.create(exzarr.MemoryStore(), cache_bytes=cache, **kw)
    plain_store = exzarr.MemoryStore()
    exzarr.create(plain_store, **kw)
    twin = ChunkEngine(EngineSpec.from_metadata(plain_store, "", fast.metadata, fast=False))
    shape, grid = fast.shape, fast.metadata.chunks
    ref = np.full(shape, fill_of(fast), dtype=fast.dtype)
    for k in range(data.draw(st.integers(1, 4))):
        sel = data.draw(basic_index(shape)) if data.draw(st.booleans()) or not shape else (...,)
        v = fill_of(fast) if data.draw(st.integers(0, 4)) == 0 else values(np.shape(ref[sel]), fast.dtype, k)
        ref[sel] = v
        fast[sel] = v
        twin.write(basic_selection(sel, shape, grid), v)
        assert np.array_equal(read_all(plain_twin(fast), shape, grid), ref)  # the fast writer's bytes, read plainly
        assert np.array_equal(read_all(twin, shape, grid), ref)
        assert np.array_equal(fast[...], ref)
    assert sorted(fast.stored_chunks()) == sorted(exzarr.open_array(plain_store).stored_chunks())
