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


WHOLE_SHARD_CODECS = [  # sharding followed by a compressor: the shard is one compressed blob
    {"name": "sharding_indexed", "configuration": {"chunk_shape": [2, 2]}},
    {"name": "zstd", "configuration": {"level": 1}},
]


@pytest.mark.parametrize(
    "kw",
    [
        {"codecs": WHOLE_SHARD_CODECS, "chunks": (4, 4)},  # sharded, compressed as a whole
        {"chunks": (2, 2), "shards": (4, 4)},  # sharded, inner chunks read by range
        {"chunks": (4, 4)},  # plain
        {"codecs": [{"name": "transpose", "configuration": {"order": [1, 0]}}, WHOLE_SHARD_CODECS[0]], "chunks": (4, 4)},
    ],
)
def test_writes_through_the_array_are_seen_by_the_next_read(kw):
    a = exzarr.create(shape=(8, 8), dtype="i4", cache_bytes=1 << 20, **kw)
    ref = np.zeros((8, 8), "i4")
    a[...] = 1
    ref[...] = 1
    assert np.array_equal(a[...], ref)  # fills the cache
    for sel, v in [((0, 0), 5), ((slice(1, 3), slice(2, 7)), 9), ((7, 7), 0), ((slice(None), 3), 2)]:
        a[sel] = v
        ref[sel] = v
        assert np.array_equal(a[...], ref) and np.array_equal(a[0:3, 1:4], ref[0:3, 1:4])
        assert a[sel].tolist() == ref[sel].tolist()
    assert a.cache_stats().hits > 0


def test_whole_compressed_shards_are_one_chunk_to_users():
    a = exzarr.create(shape=(8, 8), chunks=(4, 4), dtype="i4", codecs=WHOLE_SHARD_CODECS)
    assert a.chunks == (4, 4) and a.shards is None and a.nchunks_per_dim == (2, 2)  # as zarr-python reports it
    a[...] = np.arange(64).reshape(8, 8)
    assert sorted(a.stored_chunks()) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert np.array_equal(a.read_chunk((1, 0)), np.arange(64).reshape(8, 8)[4:, :4])


def test_a_read_racing_a_write_never_caches_the_old_bytes():
    """A reader that fetched a chunk's bytes before a write replaced them must not put the decoded
    old chunk into the cache after the write invalidated it (it would be served for ever)."""
    import threading

    from exzarr.storage import MemoryStore

    fetched, release = threading.Event(), threading.Event()

    class SlowStore(MemoryStore):
        hold = False

        def get(self, key, byte_range=None):
            v = super().get(key, byte_range)
            if self.hold and key == "c/0":
                fetched.set()
                release.wait(5)
            return v

    store = SlowStore()
    a = exzarr.create(store, shape=(4,), chunks=(4,), dtype="i4", cache_bytes=1 << 20)
    a[...] = 1
    store.hold = True
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", a[...]))
    t.start()
    assert fetched.wait(5)
    store.hold = False
    a[...] = 2  # replaces the bytes the reader already holds
    release.set()
    t.join(5)
    assert out["r"].tolist() == [1] * 4  # that read saw the old value (it started first)...
    assert a[...].tolist() == [2] * 4  # ...but the old chunk was not cached: the next read is right
