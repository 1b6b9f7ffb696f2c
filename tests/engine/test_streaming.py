"""chunk_stream, parallel_chunk_map, stream_slices, write_stream and write_chunks."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from helpers import CountingStore

import exzarr
from exzarr.engine.streaming import ChunkRecord, WriteSummary
from exzarr.errors import BoundsError, CallbackError, ChunkDecodeError, ShapeMismatchError
from exzarr.storage import LatencyStore, MemoryStore


@pytest.fixture
def arr():
    a = exzarr.create(CountingStore(), shape=(10, 7), chunks=(4, 3), dtype="i4", fill_value=-1)
    x = np.arange(70, dtype="i4").reshape(10, 7)
    a[0:8, :] = x[0:8]  # chunk row 2 (rows 8-9) never written
    return a, x


def chunk_of(x, idx, chunks=(4, 3)):
    return x[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks, strict=True))]


@pytest.mark.parametrize("parallel", [1, 2, 8])
def test_chunk_stream_stored_only_in_order(arr, parallel):
    a, x = arr
    got = list(a.chunk_stream(parallel=parallel))
    assert [i for i, _ in got] == [(r, c) for r in range(2) for c in range(3)]
    for idx, data in got:
        assert np.array_equal(data, chunk_of(x, idx))
    assert got[2][1].shape == (4, 1)  # edge chunk trimmed to the bounds


def test_chunk_stream_unordered_include_missing(arr):
    a, x = arr
    got = dict(a.chunk_stream(parallel=4, ordered=False, include_missing=True))
    assert sorted(got) == [(r, c) for r in range(3) for c in range(3)]
    assert (got[(2, 0)] == -1).all() and got[(2, 2)].shape == (2, 1)


def test_chunk_stream_filter_progress_info(arr):
    a, x = arr
    calls = []
    recs = list(
        a.chunk_stream(
            parallel=3, filter=lambda i: i[1] == 1, progress_callback=lambda d, t: calls.append((d, t)), with_info=True
        )
    )
    assert calls == [(1, 2), (2, 2)]
    assert all(isinstance(r, ChunkRecord) for r in recs)
    assert [(r.index, r.start, r.stop) for r in recs] == [((0, 1), (0, 3), (4, 6)), ((1, 1), (4, 3), (8, 6))]
    assert all(r.nbytes > 0 for r in recs) and np.array_equal(recs[1].data, x[4:8, 3:6])


def test_chunk_stream_errors(arr):
    a, x = arr
    a.store.inner.set("c/1/1", b"garbage")
    with pytest.raises(ChunkDecodeError, match="c/1/1"):
        list(a.chunk_stream(parallel=2))
    assert [i for i, _ in a.chunk_stream(on_error="skip")] == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 2)]
    seen = []
    list(a.chunk_stream(on_error=lambda idx, exc: seen.append((idx, type(exc).__name__))))
    assert seen == [((1, 1), "ChunkDecodeError")]
    with pytest.raises(ValueError, match="on_error"):
        a.chunk_stream(on_error="ignore")
    with pytest.raises(TypeError, match="filter"):
        a.chunk_stream(filter=3)
    with pytest.raises(CallbackError, match="progress_callback"):
        list(a.chunk_stream(progress_callback=lambda d, t: 1 / 0))
    with pytest.raises(CallbackError, match="filter"):
        a.chunk_stream(filter=lambda i: i.missing_attr)
    with pytest.raises(ValueError, match="timeout"):
        a.chunk_stream(timeout=-1)


def test_chunk_stream_timeout_names_chunk():
    a = exzarr.create(LatencyStore(MemoryStore(), latency=0.5), shape=(4,), chunks=(2,))
    a[...] = 1
    with pytest.raises(TimeoutError, match=r"chunk \(0,\).*'c/0'"):
        list(a.chunk_stream(parallel=2, timeout=0.05))


def test_chunk_stream_reads_ahead_boundedly():
    store = CountingStore()
    a = exzarr.create(store, shape=(5000,), chunks=(1,), dtype="u1")
    a[...] = 1
    store.reset()
    it = a.chunk_stream(parallel=4, include_missing=True)
    first = list(itertools.islice(it, 10))
    time.sleep(0.05)
    assert len(first) == 10 and len(store.gets) <= 10 + 4  # never far ahead of the consumer
    it.close()


def test_parallel_chunk_map(arr):
    a, x = arr
    sums = list(a.parallel_chunk_map(lambda item: (item[0], int(item[1].sum())), max_concurrency=3))
    assert sums == [(i, int(d.sum())) for i, d in a.chunk_stream()]
    unordered = sorted(a.parallel_chunk_map(lambda item: item[0], ordered=False, include_missing=True))
    assert unordered == [(r, c) for r in range(3) for c in range(3)]
    progress = []
    list(a.parallel_chunk_map(lambda it: 0, filter=lambda i: i[0] == 0, progress_callback=lambda d, t: progress.append((d, t))))
    assert progress == [(1, 3), (2, 3), (3, 3)]


def test_parallel_chunk_map_errors_and_timeouts(arr):
    a, x = arr

    def boom(item):
        if item[0] == (1, 0):
            raise ZeroDivisionError("bad chunk")
        return item[0]

    with pytest.raises(ZeroDivisionError) as info:
        list(a.parallel_chunk_map(boom, max_concurrency=2))
    assert any("(1, 0)" in n and "c/1/0" in n for n in info.value.__notes__)
    out = list(a.parallel_chunk_map(boom, return_exceptions=True))
    assert isinstance(out[3], ZeroDivisionError) and out[0] == (0, 0) and len(out) == 6

    def slow(item):
        if item[0] == (0, 1):
            time.sleep(1.0)
        return item[0]

    with pytest.raises(TimeoutError, match=r"chunk \(0, 1\)"):
        list(a.parallel_chunk_map(slow, timeout=0.1, max_concurrency=2))
    res = list(a.parallel_chunk_map(slow, timeout=0.1, return_exceptions=True, max_concurrency=2))
    assert isinstance(res[1], TimeoutError) and res[0] == (0, 0) and res[2] == (0, 2)
    with pytest.raises(TypeError, match="fn"):
        a.parallel_chunk_map(42)


def test_parallel_chunk_map_progress_bar(arr, capsys):
    a, _ = arr
    assert len(list(a.parallel_chunk_map(lambda it: 1, progress=True))) == 6
    assert "6/6" in capsys.readouterr().err


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_stream_slices_reads_each_chunk_once(axis):
    store = CountingStore()
    x = np.arange(10 * 7 * 3, dtype="i2").reshape(10, 7, 3)
    a = exzarr.create(store, shape=x.shape, chunks=(4, 3, 2), dtype="i2")
    a[...] = x
    store.reset()
    got = list(a.stream_slices(axis=axis))
    n = x.shape[axis]
    assert [i for i, _ in got] == list(range(n))
    for i, s in got:
        assert np.array_equal(s, np.take(x, i, axis=axis))
    assert sorted(store.gets) == sorted(set(store.gets)) and len(store.gets) == a.nchunks
    stepped = list(a.stream_slices(axis=0, start=1, stop=9, step=3))
    assert [i for i, _ in stepped] == [1, 4, 7] and np.array_equal(stepped[1][1], x[4])
    back = list(a.stream_slices(axis=0, step=-4))
    assert [i for i, _ in back] == [9, 5, 1]
    with pytest.raises(BoundsError):
        a.stream_slices(axis=3)


def test_write_stream_and_checkpoints():
    a = exzarr.create(shape=(10, 6), chunks=(4, 3), dtype="f4", fill_value=0)
    items = [((i, j), np.full((4, 3), 10 * i + j, "f4")[: min(4, 10 - 4 * i)]) for i in range(3) for j in range(2)]
    checkpoints = []
    summary = a.write_stream(iter(items), parallel=2, batch_size=4, checkpoint=lambda s: checkpoints.append(len(s.written)))
    assert isinstance(summary, WriteSummary)
    assert summary.written == [i for i, _ in items] and summary.failed == [] and summary.last_index == (2, 1)
    assert checkpoints == [4, 6]
    assert a[9, 5] == 21 and a[0, 0] == 0 and a[5, 4] == 11
    dicts = a.write_stream([{"index": (0, 0), "data": np.ones((4, 3))}])
    assert dicts.written == [(0, 0)] and a[0, 0] == 1


def test_write_stream_errors():
    a = exzarr.create(shape=(8,), chunks=(4,), dtype="i4")
    bad = [((0,), np.ones(4)), ((1,), np.ones(3)), ((5,), np.ones(4))]
    with pytest.raises(ShapeMismatchError, match=r"chunk \(1,\)"):
        a.write_stream(bad)
    s = a.write_stream(bad, on_error="skip")
    assert s.written == [(0,)] and s.failed_indices == [(1,), (5,)]
    assert isinstance(s.failed[1][1], BoundsError)
    seen = []
    a.write_stream(bad, on_error=lambda i, e: seen.append(i))
    assert seen == [(1,), (5,)]
    with pytest.raises(CallbackError, match="checkpoint"):
        a.write_stream([((0,), np.ones(4))], checkpoint=lambda s: s.nope)


def test_write_chunks_primitive():
    a = exzarr.create(shape=(6, 6), chunks=(3, 3), dtype="u2")
    written = a.write_chunks([((i, j), np.full((3, 3), i * 2 + j)) for i in range(2) for j in range(2)], max_concurrency=4)
    assert written == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert a[4, 1] == 2 and a[1, 4] == 1 and a.nchunks_initialized == 3  # (0, 0) is all fill: not stored
    assert a.read_chunk((1, 1)).tolist() == [[3] * 3] * 3
