"""The decoded-chunk LRU cache: hits skip the store, writes invalidate, the byte budget holds."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import exzarr
from exzarr.cache import ChunkCache

sys.path.insert(0, str(Path(__file__).parent / "engine"))
from helpers import CountingStore


@pytest.mark.parametrize("shards", [None, (20, 20)])
def test_overlapping_reads_hit_and_writes_invalidate(shards):
    store = CountingStore()
    x = np.arange(40 * 40, dtype="f8").reshape(40, 40)
    exzarr.create(store, shape=x.shape, chunks=(10, 10), shards=shards)[...] = x
    a = exzarr.open(store, mode="r+", cache_bytes=1 << 20)
    store.reset()
    assert np.array_equal(a[5:25, 5:25], x[5:25, 5:25])
    first = len(store.gets)
    assert first > 0
    store.reset()
    assert np.array_equal(a[8:22, 3:19], x[8:22, 3:19])  # inside what was read: all hits
    assert len(store.gets) == 0
    st = a.cache_stats()
    assert st.hits >= 4 and st.misses >= 4 and 0 < st.hit_rate < 1
    a[12, 12] = -1.0  # write through the same array: the cached chunk is dropped
    x[12, 12] = -1.0
    assert np.array_equal(a[5:25, 5:25], x[5:25, 5:25])
    a.resize((30, 30))
    assert a.cache_stats().entries == 0 and np.array_equal(a[...], x[:30, :30])


def test_byte_budget_and_lru_order():
    c = ChunkCache(3 * 800)
    for k in "abc":
        c.put(k, np.zeros(100))
    c.get("a")  # a is now the most recent
    c.put("d", np.zeros(100))  # evicts b, the least recent
    assert c.get("b") is None and c.get("a") is not None and c.stats().evictions == 1
    c.put("huge", np.zeros(10_000))  # larger than the budget: not kept
    assert c.get("huge") is None and c.stats().nbytes <= 2400
    cached = c.get("a")
    with pytest.raises(ValueError):
        cached[0] = 1.0  # entries are read-only, shared by readers
    with pytest.raises(ValueError, match="cache_bytes"):
        ChunkCache(-1)


def test_cache_pickles_empty_and_is_per_array():
    a = exzarr.create(shape=(10,), chunks=(5,), cache_bytes=1000)
    a[...] = 1.0
    a[...]
    b = pickle.loads(pickle.dumps(a))
    assert b.cache_stats().entries == 0 and b.cache_stats().capacity == 1000
    assert exzarr.create(shape=(2,), chunks=(2,)).cache_stats() is None
