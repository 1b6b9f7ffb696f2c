"""The chunk engine on its own: built from one typed record, used against a MemoryStore with no
Array around it; the layout decided once; the shared vocabulary of long operations."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import exzarr
from exzarr.cache import ChunkCache
from exzarr.engine import ChunkEngine, ChunkLayout, EngineSpec, LayoutKind, LockPolicy
from exzarr.errors import CallbackError, ReadOnlyError
from exzarr.indexing import basic_selection
from exzarr.metadata import build_array_metadata
from exzarr.storage import MemoryStore


def engine(store=None, **kw):
    meta = build_array_metadata(shape=(10, 6), chunks=(4, 3), dtype="i4", fill_value=-1, **kw.pop("meta", {}))
    return ChunkEngine(EngineSpec.from_metadata(store if store is not None else MemoryStore(), "x/a", meta, **kw)), meta


def test_engine_reads_and_writes_a_memory_store_alone():
    store = MemoryStore()
    eng, meta = engine(store)
    sel = basic_selection((slice(2, 9), slice(1, 5)), meta.shape, meta.chunks)
    eng.write(sel, np.arange(28).reshape(7, 4))
    out = eng.read(basic_selection(..., meta.shape, meta.chunks))
    ref = np.full((10, 6), -1)
    ref[2:9, 1:5] = np.arange(28).reshape(7, 4)
    assert np.array_equal(out, ref)
    assert sorted(store.list()) == sorted(f"x/a/c/{i}/{j}" for i in range(3) for j in range(2))
    assert eng.chunk_key((2, 1)) == "x/a/c/2/1" and eng.chunk_bounds((2, 1)) == ((8, 3), (10, 6))
    chunk, nbytes = eng.read_unit((2, 1))
    assert chunk.shape == (2, 3) and nbytes > 0 and eng.read_chunk((2, 1)).shape == (4, 3)


def test_engine_record_and_policies():
    ro, meta = engine(read_only=True)
    with pytest.raises(ReadOnlyError, match="'/x/a'"):
        ro.write(basic_selection(0, meta.shape, meta.chunks), 1)
    cached, _ = engine(cache=ChunkCache(1 << 16), write_empty=True, locks=LockPolicy(timeout=5.0))
    cached.write(basic_selection(..., meta.shape, meta.chunks), -1)  # all fill, stored anyway
    assert len(list(cached.stored_objects())) == 6
    cached.read(basic_selection(..., meta.shape, meta.chunks))
    assert cached.spec.cache.stats().entries == 6
    copy = pickle.loads(pickle.dumps(cached))
    assert copy.spec.write_empty is True and copy.spec.locks.timeout == 5.0 and copy.spec.cache.stats().entries == 0
    grown = cached.with_metadata(meta.with_(shape=(20, 6)))
    assert grown.layout.grid == (5, 2) and grown.spec.cache is cached.spec.cache


@pytest.mark.parametrize(
    ("kw", "kind", "chunk", "obj"),
    [
        ({}, LayoutKind.PLAIN, (4, 3), (4, 3)),
        ({"shards": (8, 6)}, LayoutKind.SHARDED, (4, 3), (8, 6)),
        (
            {"codecs": [{"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 3]}}, {"name": "gzip"}]},
            LayoutKind.SHARDED_WHOLE,
            (4, 3),
            (4, 3),
        ),
    ],
)
def test_layout_is_decided_once(kw, kind, chunk, obj):
    meta = build_array_metadata(shape=(10, 6), chunks=(4, 3), dtype="i4", **kw)
    layout = ChunkLayout.of(meta)
    assert (layout.kind, layout.chunk_shape, layout.object_shape) == (kind, chunk, obj)
    assert layout.sharded == (kind == LayoutKind.SHARDED)
    assert layout.cache_key("c/0/0", (1, 1)) == (("c/0/0", (1, 1)) if layout.sharded else "c/0/0")
    a = exzarr.create(shape=(10, 6), chunks=(4, 3), dtype="i4", **kw)
    assert a.chunks == chunk and a.shards == (obj if layout.sharded else None)


def test_concurrency_and_progress_vocabulary():
    a = exzarr.create(shape=(10,), chunks=(2,), dtype="i4")
    a[...] = np.arange(10)
    seen = []
    got = list(a.chunk_stream(max_concurrency=2, progress=lambda d, t: seen.append((d, t))))
    assert len(got) == 5 and seen == [(i, 5) for i in range(1, 6)]
    assert [i for i, _ in a.chunk_stream(parallel=3)] == [(i,) for i in range(5)]  # the alias
    with pytest.raises(TypeError, match="not both"):
        a.chunk_stream(max_concurrency=2, parallel=2)
    with pytest.raises(TypeError, match="not both"):
        a.chunk_stream(progress=True, progress_callback=print)
    with pytest.raises(TypeError, match="progress"):
        a.chunk_stream(progress="yes")
    with pytest.raises(CallbackError, match="progress raised"):
        list(a.chunk_stream(progress=lambda d, t: 1 / 0))
    steps = []
    a.write_stream([((i,), np.full(2, i)) for i in range(5)], max_concurrency=2, progress=lambda d, t: steps.append((d, t)))
    assert steps[-1] == (5, 5)
    steps.clear()
    a.write_stream(iter([((0,), np.zeros(2))]), parallel=1, progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, None)]  # an iterator has no length
    steps.clear()
    a.write_chunks([((1,), [7, 7])], progress=lambda d, t: steps.append((d, t)))
    assert steps == [(1, 1)] and a[2] == 7
    steps.clear()
    list(a.stream_slices(progress=lambda d, t: steps.append((d, t))))
    assert steps[-1] == (10, 10)
    steps.clear()
    list(a.parallel_chunk_map(lambda it: 1, parallel=2, include_missing=True, progress=lambda d, t: steps.append((d, t))))
    assert steps[-1] == (5, 5)
    steps.clear()
    stored = len(list(a.stored_chunks()))  # chunk 0 holds only the fill value: not stored
    exzarr.copy(a, exzarr.MemoryStore(), progress=lambda d, t: steps.append((d, t)))
    assert stored == 4 and steps[-1] == (4, 4)


def test_progress_bars(capsys):
    a = exzarr.create(shape=(6,), chunks=(2,), dtype="i4")
    a[...] = 1
    list(a.chunk_stream(progress=True))
    a.write_stream([((0,), np.ones(2))], progress=True)
    exzarr.copy(a, exzarr.MemoryStore(), progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "1/1" in err
